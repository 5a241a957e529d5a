"""What the routine writer waited for: counted by cause, exported, and a long wait logged with
its cause at a bounded rate; the hub's own writer reports its lock waits and commits."""

from __future__ import annotations

import gc
import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from hub.metrics import build_hub_registry
from hub.persistence.sqlite_store import SqliteStore
from hub.stats import HubStats
from hub.writer_waits import WaitCause, WriterWaits
from mehr.contract import SensorKind
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from tests.hub.one_kit import start_one_kit_hub
from tests.support.ticks import Ticks


def test_waits_are_tallied_by_cause_and_the_slow_ones_counted_apart() -> None:
    waits = WriterWaits()
    waits.record(WaitCause.COMMIT, 0.004)
    waits.record(WaitCause.COMMIT, 0.3)
    waits.record(WaitCause.LOCK, 0.02)
    snap = waits.snapshot()
    assert snap["commit"] == {"count": 2, "total_s": 0.304, "slow": 1, "max_s": 0.3}
    assert snap["lock"] == {"count": 1, "total_s": 0.02, "slow": 0, "max_s": 0.02}
    assert snap["wal_restart"]["count"] == 0


def test_a_slow_wait_is_logged_with_its_cause_at_most_once_per_ten_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    waits = WriterWaits(monotonic=ticks)
    with caplog.at_level(logging.INFO, logger="hub.writer_waits"):
        waits.record(WaitCause.WAL_RESTART, 0.4)
        for _ in range(3):
            ticks.now += 2
            waits.record(WaitCause.WAL_RESTART, 0.2)
        waits.record(WaitCause.LOCK, 0.15)  # another cause has its own allowance
        waits.record(WaitCause.WAL_RESTART, 0.01)  # not slow: never logged
        ticks.now += 10
        waits.record(WaitCause.WAL_RESTART, 0.5)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "ingest waited 400 ms for wal_restart (0 more waits over 100 ms since the last line)",
        "ingest waited 150 ms for lock (0 more waits over 100 ms since the last line)",
        "ingest waited 500 ms for wal_restart (3 more waits over 100 ms since the last line)",
    ]
    assert waits.snapshot()["wal_restart"]["slow"] == 5


def test_full_garbage_collections_are_timed_only_while_watched() -> None:
    waits = WriterWaits()
    gc.disable()  # only the passes this test asks for
    try:
        gc.collect()
        assert waits.snapshot()["gc"]["count"] == 0
        waits.watch_garbage_collector()
        try:
            gc.collect()  # a full pass (generation 2)
            gc.collect(0)  # a young one: not counted
            assert waits.snapshot()["gc"]["count"] == 1
        finally:
            waits.stop_watching_garbage_collector()
        gc.collect()
        assert waits.snapshot()["gc"]["count"] == 1
    finally:
        gc.enable()


def test_a_begin_waiting_for_another_connections_lock_is_timed_as_a_lock_wait(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "hub.db")
    waits = WriterWaits()
    store.on_lock_wait = lambda s: waits.record(WaitCause.LOCK, s)
    store.on_commit = lambda s: waits.record(WaitCause.COMMIT, s)
    holding, begin_next = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        blocker = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        holding.set()
        begin_next.wait(10)
        # A real hold of a known length: what is measured here is a duration.
        threading.Event().wait(0.3)
        blocker.execute("ROLLBACK")
        blocker.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(10)
        begin_next.set()
        store.set_risk_level("nowhere", "high")  # BEGIN IMMEDIATE, an update, COMMIT
    finally:
        holder.join(10)
        store.close()
    snap = waits.snapshot()
    assert snap["lock"]["count"] == 1 and snap["commit"]["count"] == 1
    assert 0.1 <= snap["lock"]["max_s"] < 5
    assert snap["commit"]["max_s"] < snap["lock"]["max_s"]  # the wait is not the commit's


def test_the_waits_are_exported_as_a_histogram_by_cause() -> None:
    stats = HubStats()
    stats.writer_waits.record(WaitCause.LOCK, 0.003)
    stats.writer_waits.record(WaitCause.LOCK, 0.3)
    text = generate_latest(build_hub_registry(stats)).decode()
    assert 'mehr_hub_writer_wait_seconds_bucket{cause="lock",le="0.005"} 1.0' in text
    assert 'mehr_hub_writer_wait_seconds_bucket{cause="lock",le="0.5"} 2.0' in text
    assert 'mehr_hub_writer_wait_seconds_count{cause="lock"} 2.0' in text
    assert stats.snapshot()["writer_waits"]["lock"]["count"] == 2


def test_the_hubs_writer_reports_how_long_another_connection_kept_it_from_the_lock(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    hub, kit, db = start_one_kit_hub(tmp_path, mosquitto, hub_password)
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        kit.connect()
        kit.event("pir-hall", SensorKind.MOTION, False)
        kit.flush()
        wait_until(lambda: hub.stats.get("stored") >= 1, 10, "the kit's first event stored")
        before = hub.stats.writer_waits.snapshot()
        assert before["commit"]["count"] >= 1  # every routine commit is timed
        blocker.execute("BEGIN IMMEDIATE")  # a scan or a report holding the write lock
        held_from = time.perf_counter()
        received = hub.stats.get("received")
        stored = hub.stats.get("stored")
        kit.event("pir-hall", SensorKind.MOTION, True)
        kit.flush()
        wait_until(lambda: hub.stats.get("received") > received, 10, "the event received")
        wait_until(hub.inbox.empty, 10, "the writer took it")
        blocker.execute("ROLLBACK")
        held_s = time.perf_counter() - held_from
        wait_until(lambda: hub.stats.get("stored") > stored, 30, "the event stored")
    finally:
        blocker.close()
        kit.close()
        hub.stop()
    after = hub.stats.writer_waits.snapshot()
    # The hub's routine writer reports its BEGINs (the wait's attribution is the test above):
    # the blocked one waited at most as long as the blocker held the lock.
    assert after["lock"]["count"] > before["lock"]["count"]
    assert after["lock"]["max_s"] <= held_s + 0.05
