"""The Eskiz SMS channel against a loopback fake of Eskiz's API: the exact requests (login, form
send, bearer token), refresh before expiry, refresh on a refused token, login again when the
refresh is refused, and an alert reaching a worker's phone number through the engine."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.alerts.channels import AppriseChannel
from hub.alerts.config import AlertsConfig, EskizGateway
from hub.alerts.engine import AlertEngine
from hub.alerts.eskiz import EskizChannel, token_expiry
from hub.alerts.gateways import with_gateways
from hub.alerts.tokens import TokenSigner
from mehr.clock import ManualClock
from mehr_app.services.http_sink import HttpSink, Reply, SeenRequest
from tests.hub.alerts.conftest import SECRET, T0, config_dict, make_rig, person

EMAIL = "mehr@inson.test"
PASSWORD = "eskiz-test-password-7Qm"
ENV = "MEHR_TEST_ESKIZ_PASSWORD"
EXPIRED = {"status": "token-invalid", "message": "Expired token"}


def _jwt(exp: datetime, serial: int) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"exp": int(exp.timestamp()), "iat": 0, "sub": serial}
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class FakeEskiz:
    """Eskiz's token rules on a manual clock: a token sends until its `exp` (or until the
    server expires it early); a refresh takes a not-yet-replaced token, even an expired one,
    and replaces it."""

    def __init__(self, clock: ManualClock, ttl: timedelta = timedelta(days=30)) -> None:
        self.clock = clock
        self.ttl = ttl
        self.tokens: list[str] = []
        self.replaced: set[str] = set()
        self.expired_early: set[str] = set()
        self.refuse_refresh = False
        self.delivered: list[dict[str, str]] = []

    def _new_token(self) -> str:
        token = _jwt(self.clock.now() + self.ttl, len(self.tokens) + 1)
        self.tokens.append(token)
        return token

    @staticmethod
    def _bearer(request: SeenRequest) -> str:
        return (request.header("Authorization") or "").removeprefix("Bearer ")

    def _usable(self, token: str) -> bool:
        expires = token_expiry(token)
        return (
            token in self.tokens
            and token not in self.replaced
            and token not in self.expired_early
            and expires is not None
            and self.clock.now() < expires
        )

    def respond(self, request: SeenRequest) -> Reply:
        """Answer like notify.eskiz.uz."""
        route = (request.method, request.path)
        if route == ("POST", "/api/auth/login"):
            if request.form() != {"email": EMAIL, "password": PASSWORD}:
                return Reply(401, {"message": "Invalid credentials"})
            return Reply(200, {"message": "token_generated",
                               "data": {"token": self._new_token()}, "token_type": "bearer"})
        if route == ("PATCH", "/api/auth/refresh"):
            old = self._bearer(request)
            if self.refuse_refresh or old not in self.tokens or old in self.replaced:
                return Reply(401, EXPIRED)
            self.replaced.add(old)
            return Reply(200, {"message": "token_generated",
                               "data": {"token": self._new_token()}, "token_type": "bearer"})
        if route == ("POST", "/api/message/sms/send"):
            if not self._usable(self._bearer(request)):
                return Reply(401, EXPIRED)
            self.delivered.append(request.form())
            return Reply(200, {"id": str(uuid.uuid4()), "message": "Waiting for SMS provider",
                               "status": "waiting"})
        return Reply(404, {"message": "Not found"})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def eskiz(clock: ManualClock) -> Iterator[tuple[FakeEskiz, HttpSink]]:
    fake = FakeEskiz(clock)
    sink = HttpSink(respond=fake.respond)
    sink.start()
    yield fake, sink
    sink.stop()


def _gateway(sink: HttpSink, **extra: Any) -> EskizGateway:
    return EskizGateway(base_url=sink.url, email=EMAIL, password_env=ENV, **extra)


def _calls(sink: HttpSink) -> list[tuple[str, str, str | None]]:
    return [(r.method, r.path, r.header("Authorization")) for r in sink.requests]


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, PASSWORD)


def test_first_sms_logs_in_then_posts_the_form_with_the_bearer_token(
    eskiz: tuple[FakeEskiz, HttpSink], clock: ManualClock
) -> None:
    fake, sink = eskiz
    channel = EskizChannel(_gateway(sink, sender="Mehr", callback_url="https://mehr.test/dlr"),
                           clock)
    result = channel.send("eskiz://998901112233", "subject unused", "Mehr: yordam tugmasi")
    assert result.ok, result.error
    login, send = sink.requests
    assert (login.method, login.path) == ("POST", "/api/auth/login")
    assert login.header("Content-Type") == "application/x-www-form-urlencoded"
    assert login.form() == {"email": EMAIL, "password": PASSWORD}
    assert (send.method, send.path) == ("POST", "/api/message/sms/send")
    assert send.header("Authorization") == f"Bearer {fake.tokens[0]}"
    assert send.header("Content-Type") == "application/x-www-form-urlencoded"
    assert send.form() == {
        "mobile_phone": "998901112233",
        "message": "Mehr: yordam tugmasi",
        "from": "Mehr",
        "callback_url": "https://mehr.test/dlr",
    }
    # The token is kept: the next SMS is one request.
    assert channel.send("eskiz://998903334455", "", "second").ok
    assert _calls(sink)[2:] == [("POST", "/api/message/sms/send", f"Bearer {fake.tokens[0]}")]
    channel.close()


def test_a_token_near_its_expiry_is_refreshed_before_the_send(
    eskiz: tuple[FakeEskiz, HttpSink], clock: ManualClock
) -> None:
    fake, sink = eskiz
    channel = EskizChannel(_gateway(sink, refresh_before_s=3600), clock)
    assert channel.send("eskiz://998901112233", "", "one").ok
    first = fake.tokens[0]
    clock.set(T0 + fake.ttl - timedelta(minutes=30))  # inside the refresh margin
    assert channel.send("eskiz://998901112233", "", "two").ok
    assert _calls(sink)[2:] == [
        ("PATCH", "/api/auth/refresh", f"Bearer {first}"),
        ("POST", "/api/message/sms/send", f"Bearer {fake.tokens[1]}"),
    ]
    assert [d["message"] for d in fake.delivered] == ["one", "two"]
    channel.close()


def test_a_token_the_server_calls_expired_is_refreshed_and_the_sms_sent_once(
    eskiz: tuple[FakeEskiz, HttpSink], clock: ManualClock
) -> None:
    fake, sink = eskiz
    channel = EskizChannel(_gateway(sink), clock)
    assert channel.send("eskiz://998901112233", "", "one").ok
    first = fake.tokens[0]
    fake.expired_early.add(first)  # the channel still believes its `exp`; the server does not
    assert channel.send("eskiz://998901112233", "", "two").ok
    assert _calls(sink)[2:] == [
        ("POST", "/api/message/sms/send", f"Bearer {first}"),
        ("PATCH", "/api/auth/refresh", f"Bearer {first}"),
        ("POST", "/api/message/sms/send", f"Bearer {fake.tokens[1]}"),
    ]
    assert [d["message"] for d in fake.delivered] == ["one", "two"], "sent once, not twice"
    channel.close()


def test_when_the_refresh_is_refused_the_channel_logs_in_again(
    eskiz: tuple[FakeEskiz, HttpSink], clock: ManualClock
) -> None:
    fake, sink = eskiz
    channel = EskizChannel(_gateway(sink, refresh_before_s=0), clock)
    assert channel.send("eskiz://998901112233", "", "one").ok
    first = fake.tokens[0]
    fake.expired_early.add(first)
    fake.refuse_refresh = True
    assert channel.send("eskiz://998901112233", "", "two").ok
    assert _calls(sink)[2:] == [
        ("POST", "/api/message/sms/send", f"Bearer {first}"),
        ("PATCH", "/api/auth/refresh", f"Bearer {first}"),
        ("POST", "/api/auth/login", None),
        ("POST", "/api/message/sms/send", f"Bearer {fake.tokens[1]}"),
    ]
    assert [d["message"] for d in fake.delivered] == ["one", "two"], "sent once, not twice"
    channel.close()


def test_a_refused_login_is_a_failed_send_that_names_the_account_not_the_password(
    eskiz: tuple[FakeEskiz, HttpSink], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, sink = eskiz
    monkeypatch.setenv(ENV, "wrong-password")
    channel = EskizChannel(_gateway(sink), clock)
    result = channel.send("eskiz://998901112233", "", "text")
    assert not result.ok
    assert "login refused" in (result.error or "") and EMAIL in (result.error or "")
    assert "wrong-password" not in (result.error or "")
    assert [r.path for r in sink.requests] == ["/api/auth/login"]
    channel.close()


def test_a_missing_password_refuses_to_start(
    eskiz: tuple[FakeEskiz, HttpSink], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, sink = eskiz
    monkeypatch.delenv(ENV)
    config = AlertsConfig.model_validate(
        {**config_dict(), "gateways": {"eskiz": _gateway(sink).model_dump(mode="json")}}
    )
    with pytest.raises(ValueError, match=ENV):
        with_gateways(AppriseChannel(), config.gateways, clock)


def test_eskiz_methods_need_the_account_and_a_998_number() -> None:
    cfg = config_dict()
    cfg["people"].append(person("sms-only", "eskiz://998901112233"))
    with pytest.raises(ValidationError, match=r"needs gateways\.eskiz"):
        AlertsConfig.model_validate(cfg)
    cfg["gateways"] = {"eskiz": {"email": EMAIL, "password_env": ENV}}
    assert AlertsConfig.model_validate(cfg).person("sms-only") is not None
    cfg["people"][-1] = person("sms-only", "eskiz://+998901112233")
    with pytest.raises(ValidationError, match="998XXXXXXXXX"):
        AlertsConfig.model_validate(cfg)
    cfg["people"][-1] = person("sms-only", "eskiz://998901112233")
    cfg["gateways"] = {"eskiz": {"email": EMAIL, "password_env": ENV, "password_file": "x"}}
    with pytest.raises(ValidationError, match="exactly one of"):
        AlertsConfig.model_validate(cfg)


def test_an_alert_reaches_the_workers_phone_through_eskiz(
    tmp_path: Path, eskiz: tuple[FakeEskiz, HttpSink]
) -> None:
    fake, sink = eskiz
    cfg = config_dict()
    cfg["people"][0] = person("sw-day", "eskiz://998901112233")
    cfg["gateways"] = {"eskiz": _gateway(sink).model_dump(mode="json")}
    rig = make_rig(tmp_path, cfg)
    engine = AlertEngine(
        rig.conn, rig.config, rig.clock, AppriseChannel(), TokenSigner(SECRET),
        "https://mehr.test", publish=lambda t, p: None,
    )
    alert_id = rig.raise_alert("home-2", "fall")  # no family on home-2: only the worker
    engine.run_due()
    (sms,) = fake.delivered
    assert sms["mobile_phone"] == "998901112233"
    assert "https://mehr.test/ack/" in sms["message"]
    (note,) = [n for n in engine.service.notifications(alert_id) if n.person_id == "sw-day"]
    assert note.status == "sent"
    (attempt,) = note.attempts
    assert (attempt.channel, attempt.destination, attempt.outcome) == ("sms", "eskiz://***", "sent")
    rig.conn.close()
