"""The running hub starts its SQLite WAL over once it holds more than `wal_restart_above_mb`
(hub/wal_bound.py), and loses nothing doing so: a real Mosquitto, a kit publishing, the hub's
own checkpoint thread and routine writer."""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path

import psutil
import pytest

from hub.io_priority import io_class_of_this_thread
from hub.persistence.file_sync import DatabaseFileSync, held_database_files
from mehr.contract import SensorKind
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from tests.hub.one_kit import start_one_kit_hub

EVENTS = 400


def test_the_hub_starts_a_full_wal_over_and_keeps_every_event(
    tmp_path: Path,
    mosquitto: Mosquitto,
    hub_password: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG, logger="hub.wal_bound")
    flush_classes = _io_classes_of_flushes(monkeypatch)
    # One commit per event: a few pages of WAL each, past 1 MiB well before the end.
    hub, kit, db = start_one_kit_hub(
        tmp_path, mosquitto, hub_password, wal_restart_above_mb=1, batch_max=1
    )
    try:
        # The checkpoint thread's descriptor of the database file, to flush it with.
        assert db in held_database_files()
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        kit.connect()
        for n in range(EVENTS):
            kit.event("pir-hall", SensorKind.MOTION, n % 2 == 0)
        kit.flush()
        wait_until(lambda: hub.stats.get("stored") == EVENTS, 60, "every event stored")
        # The checkpoint thread found the WAL over the limit, held the routine writer at a batch
        # boundary and started the WAL over (without the pause it never gets the write lock).
        wait_until(lambda: hub.stats.get("wal_restarts") >= 1, 30, "the WAL started over")
    finally:
        kit.close()
        hub.stop()
    assert db not in held_database_files()  # let go when the hub stopped
    restarts = [r.getMessage() for r in caplog.records if "started over" in r.getMessage()]
    assert restarts, "each restart is logged"
    # The database file was flushed before ingest was held, not only by the restart itself.
    assert not any(line.endswith("before it: none") for line in restarts), restarts
    flushes = hub.stats.database_flush_histogram.collect()[0].samples
    (count,) = [s.value for s in flushes if s.name == "mehr_hub_database_flush_seconds_count"]
    assert count >= len(restarts), "each flush is timed for the metric"
    if sys.platform == "linux":  # after each copy in the idle I/O class, before a restart not
        assert psutil.IOPRIO_CLASS_IDLE in flush_classes, flush_classes
        assert any(c != psutil.IOPRIO_CLASS_IDLE for c in flush_classes), flush_classes
    assert hub.stats.rejected() == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == EVENTS


def _io_classes_of_flushes(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """Note the I/O class of each real flush of the database file (it still flushes)."""
    classes: list[int | None] = []
    flush = DatabaseFileSync.sync

    def noting(self: DatabaseFileSync) -> None:
        classes.append(io_class_of_this_thread())
        flush(self)

    monkeypatch.setattr(DatabaseFileSync, "sync", noting)
    return classes
