"""The alerts file refuses mistakes by name; links are signed, expiring and single use;
messages fit one SMS in every language; rota shifts follow the district's clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
import yaml

from hub.alerts.config import AlertsConfig, Shift, Weekday, load_alerts_config
from hub.alerts.lifecycle import TokenError, TokenProblem
from hub.alerts.messages import MessageFacts, fits_one_sms, render
from hub.alerts.severity import SEVERITY_BY_KIND
from hub.alerts.tokens import TokenSigner
from hub.config import HubSettings
from mehr.configfile import ConfigError
from tests.hub.alerts.conftest import SECRET, T0, Rig, config_dict

EXAMPLE = Path(__file__).resolve().parents[3] / "hub" / "alerts" / "examples" / "district.yaml"


def test_example_district_config_loads() -> None:
    config = load_alerts_config(EXAMPLE)
    assert {m.name for m in config.mahallas} == {"Navbahor", "Bog'ishamol"}
    assert {h.home for h in config.homes} == {"home-1", "home-2", "home-3"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["mahallas"][0]["rota"].append({"person": "ghost", "start": "08:00",
                                                    "end": "09:00"}), "unknown person 'ghost'"),
        (lambda c: c.update(surprise=1), "surprise: Extra inputs are not permitted"),
        (lambda c: c["policies"].pop("low"), "policies: missing low"),
        (lambda c: c.update(modes={"suppress_kinds": ["help_button"]}), "always alert"),
        (lambda c: c.update(ask_first={"kinds": ["fall"]}), "never ask first for fall"),
        (lambda c: c["people"][0]["methods"].__setitem__(0, {"url": "nourl"}), "apprise URL"),
    ],
)
def test_config_mistakes_are_refused_with_file_and_field(
    tmp_path: Path, change: object, expected: str
) -> None:
    data = config_dict()
    change(data)  # type: ignore[operator]
    path = tmp_path / "alerts.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_alerts_config(path)
    assert str(err.value).startswith(str(path))
    assert expected in str(err.value)


def test_overnight_shift_covers_the_small_hours_of_the_next_day() -> None:
    shift = Shift(person="x", days=[Weekday.MON], start=time(20), end=time(8))
    monday_2300 = datetime(2026, 11, 23, 23, 0)
    tuesday_0300 = datetime(2026, 11, 24, 3, 0)
    tuesday_2300 = datetime(2026, 11, 24, 23, 0)
    assert shift.covers(monday_2300) and shift.covers(tuesday_0300)
    assert not shift.covers(tuesday_2300)


def test_night_worker_is_on_call_at_three_in_the_morning_tashkent(tmp_path: Path) -> None:
    from tests.hub.alerts.conftest import make_rig

    rig = make_rig(tmp_path)
    rig.clock.set(datetime(2026, 11, 23, 22, 0, tzinfo=UTC))  # 03:00 in Tashkent
    rig.raise_alert("home-2", "fall")
    rig.engine.run_due()
    assert "sw-night" in rig.sent_to() and "sw-day" not in rig.sent_to()
    rig.conn.close()


def test_token_is_signed_and_carries_its_expiry() -> None:
    signer = TokenSigner(SECRET)
    token, nonce = signer.issue(T0 + timedelta(hours=1))
    checked = signer.verify(token)
    assert checked is not None and checked.nonce == nonce
    assert checked.expires_at == T0 + timedelta(hours=1)
    assert len(token) <= 40
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert signer.verify(forged) is None
    assert TokenSigner(b"another-secret-also-thirty-two-bytes!!").verify(token) is None


def test_link_expires_and_works_only_once(rig: Rig) -> None:
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(0)
    body = next(b for url, _, b in rig.channel.sent if "sw-day" in url)
    token = body.split("/ack/")[1].split()[0]
    svc = rig.engine.service
    info = svc.token_info(token)
    assert (info.alert.id, info.person_id) == (alert_id, "sw-day")
    done = svc.acknowledge_with_token(token, "on my way")
    assert done.acknowledged and done.alert.acknowledged_by == "person:sw-day"
    with pytest.raises(TokenError) as err:
        svc.acknowledge_with_token(token)
    assert err.value.problem is TokenProblem.USED
    other = next(b for url, _, b in rig.channel.sent if "fam-first" in url)
    late_token = other.split("/ack/")[1].split()[0]
    rig.clock.advance(timedelta(days=2))
    with pytest.raises(TokenError) as err:
        svc.acknowledge_with_token(late_token)
    assert err.value.problem is TokenProblem.EXPIRED


def test_placeholder_signing_key_is_refused_outside_the_demo() -> None:
    with pytest.raises(ConfigError, match="signing key"):
        HubSettings(alerts_secret="changeme").alerts_secret_bytes()
    assert HubSettings(alerts_secret="changeme", demo_mode=True).alerts_secret_bytes()
    with pytest.raises(ConfigError, match="too easy to guess"):
        HubSettings(alerts_secret="k" * 40).alerts_secret_bytes()  # long, but one character
    strong = "Zr8Kq2vXm5LcT0wPy7NbJ4hFd1sGa9Ue3Rt6"
    assert HubSettings(alerts_secret=strong).alerts_secret_bytes() == strong.encode()


@pytest.mark.parametrize("kind", [*SEVERITY_BY_KIND, "activity_trend"])
@pytest.mark.parametrize("lang", ["uz", "ru", "en"])
def test_sms_fits_one_message_with_name_address_time_and_link(kind: str, lang: str) -> None:
    from hub.alerts.config import Language, MethodKind

    facts = MessageFacts(
        kind=kind,
        resident="Yo'ldosheva Mavluda opa",
        address="Navbahor mahallasi, 12-uy, masjid yonida",
        happened_at=T0,
        timezone="Asia/Tashkent",
        link="https://mehr.yunusobod.uz/ack/" + "x" * 34,
        kits=4 if kind == "area_outage" else None,
    )
    text = render(facts, Language(lang), MethodKind.SMS).body
    assert fits_one_sms(text), (len(text), text)
    assert facts.link is not None
    assert "10:00" in text and facts.link in text  # local time in Tashkent, and the link


def test_alerts_config_indexes_people() -> None:
    config = AlertsConfig.model_validate(config_dict())
    assert config.person("duty") is not None and config.person("nobody") is None


def test_redacted_urls_hide_tokens_and_passwords() -> None:
    from hub.alerts.channels import redact_url

    assert redact_url("tgram://123456:BOT-TOKEN/111") == "tgram://***"
    assert redact_url("mailtos://u:pw@mail.example.uz:587?to=a@b") == "mailtos://mail.example.uz:587"
