"""The hub as a process (`mehr hub`) with the district's Telegram bot: a help press at a simulated
kit goes through real Mosquitto to the hub, the alert reaches the fake Bot API with buttons, and
the hub's own polling thread takes the worker's "Acknowledge" press: acknowledged once, the
escalation stopped, the message updated; the hub stops cleanly on SIGTERM mid long poll."""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.alerts.config import load_alerts_config
from hub.alerts.lifecycle import AlertService
from mehr.clock import SystemClock
from mehr.contract import SensorKind
from mehr_app.services.hub_config import write_hub_config
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import kit_user
from tests.hub.alerts.test_crash_delivery import _healthy
from tests.support.telegram_fake import FakeBotApi

TOKEN = "7000000002:AAH-end-to-end-token-for-the-fake-api"
ENV = "MEHR_E2E_TELEGRAM_TOKEN"
WORKER = 424242


def _alerts_yaml(path: Path, fake: FakeBotApi, token_file: Path) -> Path:
    config: dict[str, Any] = {
        "district": {
            "name": "E2E",
            "supervisor": "sup",
            "duty_officers": [{"person": "duty", "start": "00:00", "end": "00:00"}],
        },
        "gateways": {
            "telegram": {"token_file": str(token_file), "base_url": fake.url, "poll_timeout_s": 50}
        },
        "mahallas": [
            {"name": "Navbahor", "rota": [{"person": "sw", "start": "00:00", "end": "00:00"}]}
        ],
        "people": [
            {"id": "sw", "name": "Aziza", "languages": ["ru"],
             "methods": [{"url": f"tgbot://{WORKER}"}]},
            {"id": "duty", "name": "Bekzod", "methods": [{"url": "tgbot://525252"}]},
            {"id": "sup", "name": "Nodira", "methods": [{"url": "tgbot://626262"}]},
        ],
        "homes": [{"home": "home-1", "resident": "Mavluda opa", "address": "Navbahor 12",
                   "phone": "+998 71 200 00 00"}],
        "policies": {
            "critical": {
                "steps": [
                    {"after_s": 0, "notify": ["on_call"]},
                    {"after_s": 600, "notify": ["duty_officer"]},
                ]
            },
            "high": {"steps": [{"after_s": 0, "notify": ["on_call"]}]},
            "medium": {"steps": [{"after_s": 0, "notify": ["on_call"]}]},
            "low": {"steps": [{"after_s": 0, "notify": ["on_call"]}]},
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_hub_process_sends_buttons_and_its_poller_acknowledges_once(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    mosquitto.restart()
    # Long polls as long as Telegram's: stopping the hub must not wait for one to end.
    fake = FakeBotApi(TOKEN, {WORKER, 525252, 626262}, max_poll_s=60)
    fake.start()
    token_file = tmp_path / "bot.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    alerts = _alerts_yaml(tmp_path / "alerts.yaml", fake, token_file)
    files = write_hub_config(
        tmp_path, mosquitto, hub_password, alerts_config=str(alerts),
        alerts_secret=secrets.token_urlsafe(48), public_base_url="https://mehr.test",
    )
    db, stats_port, config = files.db, files.stats_port, files.config
    log = tmp_path / "hub.log"
    env = {k: v for k, v in os.environ.items() if k != ENV}
    with log.open("ab") as err:
        hub = subprocess.Popen(
            [sys.executable, "-m", "mehr_app", "hub", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=err, env=env,
        )
    kit = SimpleKit(
        "home-1", "kit-1", mosquitto.host, mosquitto.port, user.username, user.password,
        mqtt_v5=True,
    )
    try:
        wait_until(lambda: _healthy(stats_port), 20, "hub connected to the broker")
        kit.connect()
        kit.event("help", SensorKind.HELP_BUTTON, "pressed")
        kit.flush()
        message = fake.wait_message(WORKER, timeout=30)
        assert message.text.startswith("MEHR: Нажата кнопка помощи. Mavluda opa, Navbahor 12")
        assert message.labels() == ["✅ Принимаю", "🚗 Выезжаю", "📞 Позвонить"]
        ack_data = message.buttons()[0]["callback_data"]
        answer = fake.wait_answer(fake.press(message, "✅"), timeout=30)
        assert answer["text"].startswith("Принято. Спасибо!")
        again = fake.wait_answer(fake.press(message, "", data=ack_data), timeout=30)
        assert again["text"].startswith("Вы приняли её в ")
        assert "Принял(а): Aziza" in message.text
    finally:
        hub.send_signal(signal.SIGTERM)
        code = hub.wait(timeout=20)  # the 50 s long poll under way must not hold the hub up
        kit.close()
        fake.stop()
    assert code == 0, log.read_text()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        svc = AlertService(conn, load_alerts_config(alerts), SystemClock())
        (alert,) = svc.list_alerts("test")
        assert (alert.state, alert.acknowledged_by) == ("acknowledged", "person:sw")
        assert [e.action for e in svc.history(alert.id)].count("acknowledge") == 1
        # The escalation is stopped: no further step is scheduled, nobody else was told.
        row = conn.execute(
            "SELECT next_step_at, renotify_at FROM alert_escalations WHERE alert_id=?",
            (alert.id,),
        ).fetchone()
        assert tuple(row) == (None, None)
        assert [n.person_id for n in svc.notifications(alert.id)] == ["sw"]
    finally:
        conn.close()
    text = log.read_text()
    assert "Traceback" not in text and TOKEN not in text
