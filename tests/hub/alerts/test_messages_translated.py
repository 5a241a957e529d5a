"""Every message, explanation, bot phrase and handover report in Uzbek and Russian: no catalogue
key or raw id, no English word left in, no UTC time (issues #13 and #15)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from dashboards import WebSettings, create_app
from hub.alerts.config import Language, MethodKind
from hub.alerts.messages import MessageFacts, render
from hub.alerts.telegram_texts import Text, say
from hub.explain import explain_finding
from hub.handover import HandoverFacts, SensorLine, render_html
from mehr.catalogue import LANGUAGES, text
from mehr.vocabulary import SENSOR_KIND_LABELS, AlertKind
from tests.hub.alerts.conftest import SECRET, T0, Rig, config_dict
from tests.support.untranslated import problems, visible_text

LANGS = (Language.UZ, Language.RU)
# 20:25 UTC is 01:25 in Tashkent: the UTC clock time differs from the local one.
NIGHT = datetime(2025, 3, 10, 20, 25, tzinfo=UTC)
RULES = ("unusual_inactivity", "not_up", "long_bathroom", "not_back", "night_door", "no_kitchen")


def _facts(kind: AlertKind, **extra: object) -> MessageFacts:
    values: dict[str, object] = {
        "kind": kind.value,
        "resident": "Karimova Aziza",
        "address": "Navbahor mahallasi, 12-uy",
        "happened_at": NIGHT,
        "timezone": "Asia/Tashkent",
        "link": "https://mehr.test/ack/AbC-123",
        "room": "Kitchen",
        "explanation": {lang: text("explain_kit_offline", lang, at="01:25") for lang in LANGUAGES},
    }
    values.update(extra)
    return MessageFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("language", LANGS)
@pytest.mark.parametrize("channel", [MethodKind.SMS, MethodKind.EMAIL, MethodKind.TELEGRAM])
def test_every_alert_kind_reads_in_the_language_in_local_time(
    language: Language, channel: MethodKind
) -> None:
    for kind in AlertKind:
        for extra in ({}, {"repeat": True}, {"link": None}, {"buttons": True, "link": None}):
            message = render(_facts(kind, **extra), language, channel)
            for part in (message.subject, message.body):
                assert problems(part, language.value, utc_moments=[NIGHT]) == [], (kind, part)
            assert "01:25" in message.body, (kind, message.body)


def test_an_explanation_is_sent_in_the_readers_language_not_as_a_dictionary() -> None:
    facts = _facts(AlertKind.KIT_OFFLINE)
    ru = render(facts, Language.RU, MethodKind.EMAIL).body
    assert "Комплект не на связи с 01:25" in ru
    assert "{" not in ru and "Qurilma" not in ru


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_every_routine_explanation_reads_in_the_language(lang: str) -> None:
    for rule in RULES:
        for seated in (False, True):
            said = explain_finding(rule, 7_500, 3_600, "Kitchen", 3_600 + 25 * 60, seated=seated)
            assert set(said) == {"uz", "ru", "en"}
            assert problems(said[lang], lang) == [], (rule, said[lang])


def test_a_room_named_in_english_is_explained_in_russian() -> None:
    said = explain_finding("not_up", 7_500, 8 * 3_600, "Living room", 3_600)
    assert "Гостиная" in said["ru"] and "Mehmonxona" in said["uz"]


@pytest.mark.parametrize("language", LANGS)
def test_every_bot_phrase_reads_in_the_language(language: Language) -> None:
    for phrase in Text:
        said = say(phrase, language, name="Jasur Rahimov", time="01:25", id="123456")
        assert problems(said, language.value) == [], (phrase, said)


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_the_handover_report_reads_in_the_language(lang: str) -> None:
    sensors = [
        SensorLine(f"s{i}", kind, "Kitchen", NIGHT if i else None)
        for i, kind in enumerate(SENSOR_KIND_LABELS)
    ]
    facts = HandoverFacts(
        "home-a", "Karimova Aziza", "Navbahor", "Asia/Tashkent", "kit-a", "Otabek Qodirov",
        NIGHT - timedelta(minutes=20), NIGHT, False, ["s0"], sensors,
    )  # fmt: skip
    html = render_html(facts, lang)  # type: ignore[arg-type]
    # The handover names the kit as the installer labelled it: its id is on the box.
    assert problems(visible_text(html), lang, utc_moments=[NIGHT], allow_ids=["kit-a"]) == []


def _ack_rig(tmp_path: Path, languages: list[str]) -> tuple[Rig, WebSettings]:
    from tests.hub.alerts.conftest import make_rig

    cfg = config_dict()
    for person in cfg["people"]:
        person["languages"] = languages
        person["name"] = "Jasur Rahimov" if person["id"] == "sw-day" else "Nodira Tursunova"
    rig = make_rig(tmp_path, cfg=cfg)
    alerts_yaml = tmp_path / "alerts.yaml"
    alerts_yaml.write_text(yaml.safe_dump(cfg))
    settings = WebSettings.model_validate(
        {
            "db_path": rig.db_path,
            "secret_key": "Kq3v9ZrX1pLmT8wYc2NbF6hJd4sGa7Ue",
            "cookie_secure": False,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 8,
            "alerts_config": alerts_yaml,
            "alerts_secret": SECRET.decode(),
        }
    )
    return rig, settings


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_the_acknowledge_link_page_and_the_sent_messages_read_in_the_persons_language(
    tmp_path: Path, lang: str
) -> None:
    rig, settings = _ack_rig(tmp_path, [lang])
    try:
        rig.raise_alert("home-1", "help_button")
        rig.at(1)
        moments = [T0 + timedelta(seconds=s) for s in range(0, 120, 30)]
        bodies = [body for url, _, body in rig.channel.sent if "sw-day@" in url]
        assert bodies
        for body in bodies:
            assert problems(body, lang, utc_moments=moments) == [], body
        link = re.search(r"https://mehr\.test(/ack/[\w-]+)", bodies[0])
        assert link
        app = create_app(settings, clock=rig.clock)
        with TestClient(app) as client:
            for page in (client.get(link.group(1)), client.post(link.group(1)),
                         client.get(link.group(1))):  # fmt: skip
                assert page.status_code in (200, 409)
                assert f'<html lang="{lang}"' in page.text
                found = problems(visible_text(page.text), lang, utc_moments=moments)
                assert found == [], page.text
    finally:
        rig.conn.close()


def test_a_broken_link_answers_in_the_browsers_language(tmp_path: Path) -> None:
    rig, settings = _ack_rig(tmp_path, ["uz"])
    try:
        with TestClient(create_app(settings, clock=rig.clock)) as client:
            page = client.get("/ack/not-a-token", headers={"accept-language": "ru-RU,ru;q=0.9"})
        assert page.status_code == 404
        assert "Неверная ссылка." in page.text
    finally:
        rig.conn.close()
