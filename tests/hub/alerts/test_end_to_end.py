"""End to end through real parts: a help press at a simulated kit, real Mosquitto, the real Hub,
an email at a real SMTP server on loopback, and an acknowledge link served by uvicorn."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dashboards.routes.ack import AckContext
from hub.alerts.config import load_alerts_config
from hub.alerts.lifecycle import AlertService
from hub.alerts.tokens import TokenSigner
from hub.config import HubSettings, MqttProtocol
from hub.service import Hub
from mehr.clock import SystemClock
from mehr.contract import SensorKind
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.smtp_sink import SmtpSink, free_port
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import HUB_USER, kit_user
from tests.hub.alerts.webapp import AckServer
from tests.hub.test_end_to_end import write_registry

SECRET = "an-end-to-end-signing-key-of-48-characters-xxxxx"


def alerts_yaml(path: Path, smtp: SmtpSink, worker_mailbox_up: bool = True) -> Path:
    """One mahalla, a worker reached by email (or behind an SMTP server that is down), a duty
    officer with a broken URL and then a mailbox the server refuses, and a supervisor."""
    dead = free_port()
    worker = (
        smtp.url("sw@mehr.test")
        if worker_mailbox_up
        else f"mailto://127.0.0.1:{dead}?from=hub@mehr.test&to=sw@mehr.test&mode=insecure"
    )
    config: dict[str, Any] = {
        "district": {
            "name": "E2E",
            "supervisor": "sup",
            "duty_officers": [{"person": "duty", "start": "00:00", "end": "00:00"}],
        },
        "mahallas": [
            {"name": "Navbahor", "rota": [{"person": "sw", "start": "00:00", "end": "00:00"}]}
        ],
        "people": [
            {"id": "sw", "name": "Aziza", "methods": [{"url": worker}]},
            {
                "id": "duty",
                "name": "Bekzod",
                "methods": [
                    {"url": "bogus://not-a-channel"},
                    {"url": smtp.url("unknown-duty@mehr.test")},
                ],
            },
            {
                "id": "sup",
                "name": "Nodira",
                "methods": [{"url": smtp.url("sup@mehr.test")}],
            },
        ],
        "homes": [{"home": "home-1", "resident": "Mavluda opa", "address": "Navbahor 12"}],
        "policies": {
            "critical": {
                "steps": [
                    {"after_s": 0, "notify": ["on_call"]},
                    {"after_s": 180, "notify": ["duty_officer"]},
                    {"after_s": 600, "notify": ["supervisor"]},
                ]
            },
            "high": {"steps": [{"after_s": 0, "notify": ["on_call"]}]},
            "medium": {"steps": [{"after_s": 0, "notify": ["on_call"]}]},
            "low": {"steps": [{"after_s": 0, "notify": ["on_call"]}]},
        },
        "delivery": {"attempts_per_method": 1, "backoff_s": [1]},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def worker_mailbox_up() -> bool:
    """Whether the on-call worker's SMTP server is up (parametrize to take it down)."""
    return True


@pytest.fixture
def hub_with_alerts(
    tmp_path: Path,
    mosquitto: Mosquitto,
    hub_password: str,
    smtp: SmtpSink,
    worker_mailbox_up: bool,
) -> Iterator[tuple[Hub, SimpleKit, AckServer]]:
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    mosquitto.restart()
    settings = HubSettings(
        mqtt_url=mosquitto.url,
        mqtt_username=HUB_USER,
        mqtt_password=hub_password,
        mqtt_protocol=MqttProtocol.V5,
        db_path=tmp_path / "hub.db",
        registry_file=write_registry(tmp_path / "registry.yaml", [("home-1", "kit-1")]),
        stats_port=0,
        alerts_config=alerts_yaml(tmp_path / "alerts.yaml", smtp, worker_mailbox_up),
        alerts_secret=SECRET,
    )
    web = AckServer(
        AckContext(
            settings.db_path,
            load_alerts_config(settings.alerts_config),  # type: ignore[arg-type]
            TokenSigner(SECRET.encode()),
            SystemClock(),
        )
    )
    web.start()
    settings = settings.model_copy(update={"public_base_url": web.url})
    hub = Hub(settings)
    hub.start()
    wait_until(hub.link.connected.is_set, 10, "hub connected")
    kit = SimpleKit(
        "home-1", "kit-1", mosquitto.host, mosquitto.port, user.username, user.password,
        mqtt_v5=True,
    )
    kit.connect()
    yield hub, kit, web
    kit.close()
    hub.stop()
    web.stop()


def test_help_press_emails_the_worker_whose_link_acknowledges_once(
    hub_with_alerts: tuple[Hub, SimpleKit, AckServer], smtp: SmtpSink, tmp_path: Path
) -> None:
    _, kit, _ = hub_with_alerts
    kit.event("help", SensorKind.HELP_BUTTON, "pressed")
    mail = smtp.wait_for("sw@mehr.test")
    assert "Yordam tugmasi bosildi" in mail.message["Subject"]
    assert "Mavluda opa" in mail.body
    match = re.search(r"(http://127\.0\.0\.1:\d+/ack/[A-Za-z0-9_-]+)", mail.body)
    assert match, mail.body
    link = match.group(1)

    page = httpx.get(link)
    assert page.status_code == 200
    assert "Yordam tugmasi bosildi" in page.text and "<form" in page.text
    conn = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    svc = AlertService(conn, load_alerts_config(tmp_path / "alerts.yaml"), SystemClock())
    (alert,) = svc.list_alerts("test")
    assert alert.state == "notified"  # GET changed nothing

    first = httpx.post(link, data={"comment": "5 daqiqada boraman"})
    assert first.status_code == 200 and "Qabul qilindi" in first.text
    second = httpx.post(link)
    assert second.status_code == 409
    view = svc.peek(alert.id)
    assert (view.state, view.acknowledged_by, view.ack_comment) == (
        "acknowledged", "person:sw", "5 daqiqada boraman",
    )
    actions = [(e.actor, e.action) for e in svc.history(alert.id)]
    assert ("person:sw", "view") in actions and ("person:sw", "acknowledge") in actions
    assert httpx.get(link).status_code == 409  # used links show "already used"
    assert httpx.get(link[:-3] + "abc").status_code == 404  # forged
    conn.close()


@pytest.mark.parametrize("worker_mailbox_up", [False])
def test_smtp_down_broken_url_and_unknown_recipient_are_recorded_and_escalated(
    hub_with_alerts: tuple[Hub, SimpleKit, AckServer], smtp: SmtpSink, tmp_path: Path
) -> None:
    hub, kit, _ = hub_with_alerts
    kit.event("help", SensorKind.HELP_BUTTON, "pressed")
    # The worker's server is down and the duty officer cannot be reached: each failure moves
    # escalation on at once, so the supervisor has the mail seconds later, not in 10 minutes.
    mail = smtp.wait_for("sup@mehr.test", timeout=20)
    assert "Mavluda opa" in mail.body
    conn = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    svc = AlertService(conn, load_alerts_config(tmp_path / "alerts.yaml"), SystemClock())
    (alert,) = svc.list_alerts("test")
    # The mail arrives before the engine commits its outcome: wait for that commit.
    wait_until(lambda: svc.peek(alert.id).state == "notified", 10, "the send recorded")
    assert svc.peek(alert.id).is_open
    notes = {n.person_id: n for n in svc.notifications(alert.id)}
    assert (notes["sw"].status, notes["duty"].status, notes["sup"].status) == (
        "failed", "failed", "sent",
    )
    errors = [a.error or "" for a in notes["duty"].attempts]
    assert "cannot use this URL" in errors[0]  # bogus://
    assert "unknown-duty" in errors[1]  # 550 from the SMTP server
    assert "Connection" in (notes["sw"].attempts[0].error or "")
    actions = [e.action for e in svc.history(alert.id)]
    assert actions.count("delivery_failed") == 2
    assert hub.alerts is not None and hub.alerts.errors == 0
    assert hub.link.connected.is_set()  # the hub keeps running
    conn.close()
