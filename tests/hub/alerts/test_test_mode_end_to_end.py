"""A walk test in test mode, end to end through real parts: a simulated kit, real Mosquitto,
the real Hub with its alert engine, and a real SMTP server and webhook receiver on loopback.

Help, fall and door presses during the test page nobody and leave the response report as it
was; once test mode ends by itself on the clock, a real help press pages as usual.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.alerts.report import response_report
from hub.alerts.testmode import TestModes, kit_test_mode_on
from hub.config import HubSettings, MqttProtocol
from hub.service import Hub
from mehr.clock import ManualClock
from mehr.contract import SensorKind
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.smtp_sink import SmtpSink
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import HUB_USER, kit_user
from tests.hub.alerts.test_webhook import Hook
from tests.hub.test_end_to_end import write_registry

SECRET = "a-test-mode-signing-key-of-at-least-48-characters-x"


def _alerts_yaml(path: Path, smtp: SmtpSink, hook: Hook) -> Path:
    """The worker by webhook, the duty officer and the supervisor by email."""
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
            {"id": "sw", "name": "Aziza", "methods": [{"url": hook.url}]},
            {"id": "duty", "name": "Bekzod", "methods": [{"url": smtp.url("duty@mehr.test")}]},
            {"id": "sup", "name": "Nodira", "methods": [{"url": smtp.url("sup@mehr.test")}]},
        ],
        "homes": [{"home": "home-1", "resident": "Mavluda opa", "address": "Navbahor 12"}],
        "policies": {
            severity: {
                "steps": [
                    {"after_s": 0, "notify": ["on_call"]},
                    {"after_s": 180, "notify": ["duty_officer"]},
                    {"after_s": 600, "notify": ["supervisor"]},
                ],
                "renotify_every_s": 300,
            }
            for severity in ("critical", "high", "medium", "low")
        },
        "delivery": {"attempts_per_method": 1, "backoff_s": [1]},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def sinks() -> Iterator[tuple[SmtpSink, Hook]]:
    smtp = SmtpSink()
    smtp.start()
    hook = Hook()
    yield smtp, hook
    smtp.stop()
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def clock() -> ManualClock:
    """The hub's and the kit's clock, moved by the test (starts at the real now: the broker
    and SMTP server do not care, the hub refuses events from the future)."""
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def walk_rig(
    tmp_path: Path,
    mosquitto: Mosquitto,
    hub_password: str,
    sinks: tuple[SmtpSink, Hook],
    clock: ManualClock,
) -> Iterator[tuple[Hub, SimpleKit]]:
    smtp, hook = sinks
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
        alerts_config=_alerts_yaml(tmp_path / "alerts.yaml", smtp, hook),
        alerts_secret=SECRET,
    )
    hub = Hub(settings, clock=clock)
    hub.start()
    wait_until(hub.link.connected.is_set, 10, "hub connected")
    kit = SimpleKit(
        "home-1", "kit-1", mosquitto.host, mosquitto.port, user.username, user.password,
        mqtt_v5=True, clock=clock,
    )
    kit.connect()
    yield hub, kit
    kit.close()
    hub.stop()


def _db(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "hub.db", isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def _states(conn: sqlite3.Connection) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in conn.execute("SELECT kind, state FROM alerts ORDER BY id"):
        out.setdefault(row["kind"], []).append(row["state"])
    return out


def _advance(hub: Hub, clock: ManualClock, seconds: float) -> None:
    clock.advance(timedelta(seconds=seconds))
    assert hub.alerts is not None and hub.alerts.run_pass()


def test_walk_test_in_test_mode_pages_nobody_and_a_real_press_after_it_ends_pages(
    walk_rig: tuple[Hub, SimpleKit],
    sinks: tuple[SmtpSink, Hook],
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    hub, kit = walk_rig
    smtp, hook = sinks
    conn = _db(tmp_path)
    window = (clock.now() - timedelta(hours=1), clock.now() + timedelta(hours=3))
    report_before = response_report(conn, *window)

    # What `mehr kit check` does first (hub/alerts/testmode.py, the installer's 30 minutes).
    period = kit_test_mode_on(tmp_path / "hub.db", "kit-1", "installer:ali", clock, 1800)
    kit.event("help", SensorKind.HELP_BUTTON, "pressed")
    kit.event("fall-radar", SensorKind.FALL, "detected")
    kit.event("door-front", SensorKind.DOOR, "open")
    kit.event("pir-kitchen", SensorKind.MOTION, True)
    kit.flush()
    wait_until(
        lambda: _states(conn) == {"help_button": ["test"], "fall": ["test"]}, 15,
        "help and fall raised and ended as tests",
    )
    # Past every escalation step and re-notification of the policy, with the test still on.
    for step in (60, 200, 400, 700):
        _advance(hub, clock, step)
    assert smtp.received == [] and hook.bodies == []
    assert _states(conn) == {"help_button": ["test"], "fall": ["test"]}
    assert conn.execute("SELECT COUNT(*) FROM alert_notifications").fetchone()[0] == 0
    assert response_report(conn, *window) == report_before
    modes = TestModes(conn, clock)
    assert {a["kind"] for a in modes.test_alerts(period.id)} == {"help_button", "fall"}

    # 1360 s in; the test mode ends by itself at 1800 s, on the clock, audited.
    _advance(hub, clock, 439)
    assert modes.current("home-1", "kit-1") is not None
    _advance(hub, clock, 1)
    assert modes.current("home-1", "kit-1") is None
    assert [(a["actor"], a["action"]) for a in modes.audit_trail(period.id)] == [
        ("installer:ali", "start"), ("system", "expired"),
    ]
    assert smtp.received == [] and hook.bodies == []

    kit.event("help", SensorKind.HELP_BUTTON, "pressed")
    kit.flush()
    wait_until(lambda: len(hook.bodies) == 1, 20, "the worker's webhook called")
    assert "Mavluda opa" in str(hook.bodies[0])
    wait_until(
        lambda: _states(conn)["help_button"] == ["test", "notified"], 10, "the send recorded"
    )
    _advance(hub, clock, 181)  # nobody acknowledged: the duty officer's step
    mail = smtp.wait_for("duty@mehr.test", timeout=20)
    assert "Mavluda opa" in mail.body
    assert response_report(conn, *window)["district"]["for_people"] == 1
    conn.close()
