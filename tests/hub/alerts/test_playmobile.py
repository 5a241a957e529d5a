"""The Play Mobile SMS channel against a loopback server: the exact request (Basic auth, nested
JSON with the recipient), a refused request is a failed send with the broker's error code, and
an alert reaches a worker's phone through the engine."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.alerts.channels import AppriseChannel
from hub.alerts.config import AlertsConfig, PlayMobileGateway
from hub.alerts.engine import AlertEngine
from hub.alerts.playmobile import PlayMobileChannel
from hub.alerts.tokens import TokenSigner
from mehr_app.services.http_sink import HttpSink, Reply, SeenRequest
from tests.hub.alerts.conftest import SECRET, config_dict, make_rig, person

USER = "inson-yunusobod"
PASSWORD = "pm-test-password-x9"
ENV = "MEHR_TEST_PLAYMOBILE_PASSWORD"


class FakeBroker:
    """Takes a well-formed message with the right Basic auth; else 401 or 400 like the broker."""

    def __init__(self) -> None:
        self.taken: list[dict[str, Any]] = []

    def respond(self, request: SeenRequest) -> Reply:
        """Answer like Play Mobile's /broker-api/send."""
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.header("Authorization") != expected:
            return Reply(401, b"")
        (message,) = request.json()["messages"]
        if not str(message.get("sms", {}).get("originator", "")).strip():
            return Reply(400, {"error-code": 401, "error-description": "originator is empty"})
        self.taken.append(message)
        return Reply(200, b"Request is received")


@pytest.fixture
def broker() -> Iterator[tuple[FakeBroker, HttpSink]]:
    fake = FakeBroker()
    sink = HttpSink(respond=fake.respond)
    sink.start()
    yield fake, sink
    sink.stop()


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, PASSWORD)


def _gateway(sink: HttpSink, originator: str = "3700") -> PlayMobileGateway:
    return PlayMobileGateway(
        base_url=sink.url, username=USER, password_env=ENV, originator=originator
    )


def test_an_sms_is_one_basic_auth_post_with_the_nested_json(
    broker: tuple[FakeBroker, HttpSink],
) -> None:
    fake, sink = broker
    channel = PlayMobileChannel(_gateway(sink))
    assert channel.send("playmobile://998901112233", "unused", "Mehr: yiqildi").ok
    (request,) = sink.requests
    assert (request.method, request.path) == ("POST", "/broker-api/send")
    assert request.header("Content-Type") == "application/json"
    body = request.json()
    (message,) = body["messages"]
    assert set(body) == {"messages"}
    assert message["recipient"] == "998901112233"
    assert message["sms"] == {"originator": "3700", "content": {"text": "Mehr: yiqildi"}}
    assert message["message-id"].startswith("mehr") and len(message["message-id"]) <= 40
    assert fake.taken == [message]
    channel.send("playmobile://998901112233", "", "again")
    ids = {r.json()["messages"][0]["message-id"] for r in sink.requests}
    assert len(ids) == 2, "every message has its own id"
    channel.close()


def test_a_refused_request_is_a_failed_send_with_the_brokers_error(
    broker: tuple[FakeBroker, HttpSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, sink = broker
    channel = PlayMobileChannel(_gateway(sink, originator=" "))
    result = channel.send("playmobile://998901112233", "", "text")
    assert not result.ok and "error 401" in (result.error or "")
    monkeypatch.setenv(ENV, "wrong")
    wrong = PlayMobileChannel(_gateway(sink))
    result = wrong.send("playmobile://998901112233", "", "text")
    assert not result.ok and "HTTP 401" in (result.error or "")
    assert "wrong" not in (result.error or "")
    channel.close()
    wrong.close()


def test_playmobile_methods_need_the_account_and_a_998_number() -> None:
    cfg = config_dict()
    cfg["people"].append(person("sms-only", "playmobile://998901112233"))
    with pytest.raises(ValidationError, match=r"needs gateways\.playmobile"):
        AlertsConfig.model_validate(cfg)
    cfg["gateways"] = {"playmobile": {"base_url": "https://send.example.uz", "username": USER,
                                      "password_env": ENV, "originator": "3700"}}
    assert AlertsConfig.model_validate(cfg).person("sms-only") is not None
    cfg["people"][-1] = person("sms-only", "playmobile://90 111 22 33")
    with pytest.raises(ValidationError, match="998XXXXXXXXX"):
        AlertsConfig.model_validate(cfg)


def test_an_alert_reaches_the_workers_phone_through_play_mobile(
    tmp_path: Path, broker: tuple[FakeBroker, HttpSink]
) -> None:
    fake, sink = broker
    cfg = config_dict()
    cfg["people"][0] = person("sw-day", "playmobile://998901112233")
    cfg["gateways"] = {"playmobile": _gateway(sink).model_dump(mode="json")}
    rig = make_rig(tmp_path, cfg)
    engine = AlertEngine(
        rig.conn, rig.config, rig.clock, AppriseChannel(), TokenSigner(SECRET),
        "https://mehr.test", publish=lambda t, p: None,
    )
    alert_id = rig.raise_alert("home-2", "fall")
    engine.run_due()
    (message,) = fake.taken
    assert message["recipient"] == "998901112233"
    assert "https://mehr.test/ack/" in message["sms"]["content"]["text"]
    (note,) = [n for n in engine.service.notifications(alert_id) if n.person_id == "sw-day"]
    assert note.status == "sent" and note.attempts[0].destination == "playmobile://***"
    rig.conn.close()
