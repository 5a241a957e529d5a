"""The hub is SIGKILLed while it delivers a step: after the restart the person has that step at
most once, the attempt is in the audit trail with an unknown outcome, and escalation goes on.

Real parts: Mosquitto, the hub as a process (`mehr hub`), a simulated kit, and a webhook
receiver on loopback that holds the worker's request open until the hub has been killed.
"""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.alerts.config import load_alerts_config
from hub.alerts.lifecycle import AlertService
from mehr.clock import SystemClock
from mehr.contract import SensorKind
from mehr_app.services.http_sink import HttpSink
from mehr_app.services.hub_config import write_hub_config
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import kit_user


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _alerts_yaml(path: Path, sink: HttpSink) -> Path:
    """The worker and the duty officer are reached by webhook (one path each); no re-notify,
    so every request the sink sees for a person is a step sent to them."""
    hook = f"json://127.0.0.1:{sink.port}"
    config: dict[str, Any] = {
        "district": {
            "name": "Crash",
            "supervisor": "sup",
            "duty_officers": [{"person": "duty", "start": "00:00", "end": "00:00"}],
        },
        "mahallas": [
            {"name": "Navbahor", "rota": [{"person": "sw", "start": "00:00", "end": "00:00"}]}
        ],
        "people": [
            # rto: a long read timeout, so the held request is still in flight at the kill.
            {"id": "sw", "name": "Aziza", "methods": [{"url": f"{hook}/sw?rto=120"}]},
            {"id": "duty", "name": "Bekzod", "methods": [{"url": f"{hook}/duty"}]},
            {"id": "sup", "name": "Nodira", "methods": [{"url": f"{hook}/sup"}]},
        ],
        "homes": [{"home": "home-1", "resident": "Mavluda opa", "address": "Navbahor 12"}],
        "policies": {
            "critical": {
                "steps": [
                    {"after_s": 0, "notify": ["on_call"]},
                    {"after_s": 1, "notify": ["duty_officer"]},
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


@pytest.mark.slow
def test_hub_killed_mid_delivery_sends_that_step_at_most_once_and_audits_it(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    mosquitto.restart()
    sink = HttpSink(hold_paths={"/sw"})
    sink.start()
    alerts = _alerts_yaml(tmp_path / "alerts.yaml", sink)
    files = write_hub_config(
        tmp_path, mosquitto, hub_password, alerts_config=str(alerts),
        alerts_secret=secrets.token_urlsafe(48), public_base_url="https://mehr.test",
    )
    db, stats_port, config = files.db, files.stats_port, files.config
    log = tmp_path / "hub.log"

    def start_hub() -> subprocess.Popen[bytes]:
        with log.open("ab") as err:
            return subprocess.Popen(
                [sys.executable, "-m", "mehr_app", "hub", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    hub = start_hub()
    kit = SimpleKit(
        "home-1", "kit-1", mosquitto.host, mosquitto.port, user.username, user.password,
        mqtt_v5=True,
    )
    try:
        wait_until(lambda: _healthy(stats_port), 20, "hub connected to the broker")
        kit.connect()
        kit.event("help", SensorKind.HELP_BUTTON, "pressed")
        kit.flush()
        # The worker's request has reached the receiver, which holds it: the hub is inside
        # the send. Kill it there, then let the request finish (into a dead connection).
        sink.wait_for("/sw", timeout=30)
        os.kill(hub.pid, signal.SIGKILL)
        hub.wait(timeout=10)
        sink.release()

        hub = start_hub()
        # The duty officer's step comes after the worker's notification in the queue: once it
        # has arrived, a repeat of the worker's step would have been sent already.
        sink.wait_for("/duty", timeout=30)
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(timeout=20)
        kit.close()
        sink.stop()

    assert sink.count("/sw") == 1, "the worker got the step once, not again after the restart"
    assert sink.count("/duty") == 1
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        svc = AlertService(conn, load_alerts_config(alerts), SystemClock())
        (alert,) = svc.list_alerts("test")
        notes = {n.person_id: n for n in svc.notifications(alert.id)}
        (sw_attempt,) = notes["sw"].attempts
        assert (sw_attempt.outcome, sw_attempt.ok) == ("unknown", False)
        assert notes["sw"].status == "unknown"
        assert sw_attempt.finished_at is not None and sw_attempt.finished_at >= sw_attempt.at
        (duty_attempt,) = notes["duty"].attempts
        assert (duty_attempt.outcome, notes["duty"].status) == ("sent", "sent")
        unknown = [e for e in svc.history(alert.id) if e.action == "delivery_outcome_unknown"]
        assert len(unknown) == 1 and unknown[0].detail["person"] == "sw"
        assert alert.is_open
    finally:
        conn.close()
    assert "Traceback" not in log.read_text()
