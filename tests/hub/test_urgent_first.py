"""On SQLite a press is stored before the routine batch that arrives with it.

SQLite has one write lock and its busy handler sleeps between tries, so a routine writer that
begins its next batch the moment it commits would win the lock again and again while a press
waits (help p99 22.6 s at 100,000 homes, docs/benchmarks.md). The routine writer lets urgent
messages waiting or in hand go first.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hub.config import HubSettings, MqttProtocol
from hub.service import Hub
from mehr.clock import ManualClock
from mehr.contract import SensorKind
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import HUB_USER, kit_user
from tests.hub.factories import T0
from tests.hub.test_end_to_end import write_registry

BATCH = 5


def test_a_press_waiting_for_the_lock_is_stored_before_the_next_routine_batch(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    mosquitto.restart()
    clock = ManualClock(T0)
    db = tmp_path / "hub.db"
    hub = Hub(
        HubSettings(
            mqtt_url=mosquitto.url,
            mqtt_username=HUB_USER,
            mqtt_password=hub_password,
            mqtt_protocol=MqttProtocol.V5,
            db_path=db,
            stats_port=0,
            scan_interval_s=3600,
            ingest_stall_s=3600,
            batch_max=BATCH,
            batch_linger_s=0.5,  # each burst of BATCH events is one routine batch
            registry_file=write_registry(tmp_path / "reg.yaml", [("home-1", "kit-1")]),
        ),
        clock=clock,
    )
    hub.start()
    kit = SimpleKit(
        "home-1", "kit-1", mosquitto.host, mosquitto.port, user.username, user.password,
        mqtt_v5=True, clock=clock,
    )  # fmt: skip
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        kit.connect()
        kit.flush()
        wait_until(hub.inbox.empty, 10, "the kit's first messages taken")
        received = hub.stats.get("received")
        blocker.execute("BEGIN IMMEDIATE")  # the lock is busy: every writer waits for it
        for i in range(BATCH):  # the routine writer takes these and waits for the lock
            kit.event("pir-hall", SensorKind.MOTION, i % 2 == 0)
        kit.flush()
        wait_until(lambda: hub.stats.get("received") >= received + BATCH, 10, "routine in hand")
        kit.event("help", SensorKind.HELP_BUTTON, "pressed")  # the urgent writer waits too
        kit.flush()
        wait_until(lambda: hub.stats.get("received") >= received + BATCH + 1, 10, "press in hand")
        for i in range(BATCH):  # the next routine batch: queued behind the first
            kit.event("pir-kitchen", SensorKind.MOTION, i % 2 == 0)
        kit.flush()
        wait_until(lambda: hub.inbox.qsize() >= BATCH, 10, "the next batch queued")
        blocker.execute("ROLLBACK")
        wait_until(lambda: hub.stats.get("stored") >= 2 * BATCH + 1, 30, "everything stored")
    finally:
        blocker.close()
        kit.close()
        hub.stop()
    with sqlite3.connect(db) as conn:
        order = [row[0] for row in conn.execute("SELECT sensor_id FROM events ORDER BY id")]
    press = order.index("help")
    assert "pir-kitchen" not in order[:press], order  # no later routine batch went first
