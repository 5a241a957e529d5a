"""The hub is SIGKILLed while a kit keeps publishing; after restart every event is stored once,
and the sensor's state the killed hub held in memory is written again from the events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from hub.persistence.sqlite_store import SqliteStore
from mehr.contract import SensorKind
from mehr_app.services.hub_config import write_hub_config
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import kit_user

TOTAL = 6000


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    store = SqliteStore(db)
    try:
        return store.count_events()
    finally:
        store.close()


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.slow
def test_hub_killed_twice_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    mosquitto.restart()
    # Sensor states written once a minute: each killed hub dies holding its own.
    files = write_hub_config(
        tmp_path, mosquitto, hub_password, batch_max=200, sensor_state_write_s=60
    )
    db, stats_port, config = files.db, files.stats_port, files.config

    def start_hub() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "mehr_app", "hub", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "hub.log", "ab"),
        )

    hub = start_hub()
    kit = SimpleKit(
        "home-1",
        "kit-1",
        mosquitto.host,
        mosquitto.port,
        user.username,
        user.password,
        mqtt_v5=True,
    )
    kit.connect()
    # The hub's session must exist before the kit speaks: the broker keeps messages only for
    # sessions it knows (in production the hub's session is years older than any kit).
    wait_until(lambda: _healthy(stats_port), 15, "hub connected to the broker")

    def publish_all() -> None:
        for i in range(TOTAL):
            kit.event("pir-kitchen", SensorKind.MOTION, i % 2 == 0)
            if i % 200 == 199:
                kit.flush()
        kit.flush()

    publisher = threading.Thread(target=publish_all)
    publisher.start()
    stored_at_kill: list[int] = []
    try:
        for kill_at in (TOTAL // 5, TOTAL // 2):
            wait_until(lambda k=kill_at: _count(db) >= k, 60, f"{kill_at} events stored")
            os.kill(hub.pid, signal.SIGKILL)
            stored_at_kill.append(_count(db))
            hub.wait(timeout=10)
            hub = start_hub()
        publisher.join(timeout=120)
        wait_until(lambda: _count(db) >= TOTAL, 90, "all events stored after restarts")
        os.kill(hub.pid, signal.SIGKILL)  # the last states die with it
        hub.wait(timeout=10)
        hub = start_hub()
        wait_until(lambda: _healthy(stats_port), 15, "hub started again")
        store = SqliteStore(db)
        try:
            (state,) = store.sensor_states("home-1")  # read while the new hub runs
        finally:
            store.close()
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(timeout=20)
        kit.close()

    store = SqliteStore(db)
    try:
        events = store.events("home-1")
    finally:
        store.close()
    seqs = [e.seq for e in events]
    assert all(n < TOTAL for n in stored_at_kill), "each kill hit the hub mid-stream"
    assert len(seqs) == TOTAL, "every event stored, none twice"
    assert set(seqs) == set(range(1, TOTAL + 1))
    newest = max(events, key=lambda e: (e.occurred_at, e.seq))
    assert (state.occurred_at, state.value) == (newest.occurred_at, newest.value)
    assert "Traceback" not in (tmp_path / "hub.log").read_text()
