"""On SQLite a press is stored before the routine batch that arrives with it.

SQLite has one write lock and its busy handler sleeps between tries, so a routine writer that
begins its next batch the moment it commits would win the lock again and again while a press
waits (help p99 22.6 s at 100,000 homes, docs/benchmarks.md). The routine writer lets urgent
messages waiting or in hand go first.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mehr.contract import SensorKind
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from tests.hub.one_kit import start_one_kit_hub

BATCH = 5


def test_a_press_waiting_for_the_lock_is_stored_before_the_next_routine_batch(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    hub, kit, db = start_one_kit_hub(
        tmp_path, mosquitto, hub_password,
        batch_max=BATCH,
        batch_linger_s=0.5,  # each burst of BATCH events is one routine batch
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
