"""Sensor states kept by the routine writer and written a slice per commit
(hub/persistence/sensor_state_buffer.py): the table ends as one upsert per event would leave it,
within two cycles, never with a rolled-back batch's states, and after an unclean stop the
next start writes the states from the events."""

from __future__ import annotations

import random
import sqlite3
from datetime import timedelta
from pathlib import Path

from hub.persistence.sensor_state_buffer import SensorStateBuffer
from hub.persistence.sqlite_store import SqliteStore
from hub.store.base import NewEvent
from tests.hub.factories import T0, home_spec
from tests.support.ticks import Ticks

SENSORS = ("pir-kitchen", "pir-bed", "pir-bath", "door-front")


def _event(
    seq: int, sensor: str = "pir-kitchen", minutes: float = 0.0, value: bool = True
) -> NewEvent:
    at = T0 + timedelta(minutes=minutes)
    return NewEvent("home-1", "kit-1", 1, seq, sensor, "motion", value, "Kitchen", at, at)


def _table(path: Path) -> list[tuple[object, ...]]:
    """sensor_state as another connection (a dashboard, the scan) reads it."""
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT kit_id, sensor_id, kind, room, value, occurred_at FROM sensor_state "
            "ORDER BY kit_id, sensor_id"
        ).fetchall()


def _store(path: Path, buffer: SensorStateBuffer | None) -> SqliteStore:
    store = SqliteStore(path)
    store.register_home(home_spec(), T0)
    store.sensor_state_buffer = buffer
    return store


def _buffered(path: Path, cycle_s: float = 1.0) -> tuple[SqliteStore, SensorStateBuffer, Ticks]:
    """A store on `path` whose states a buffer holds, on a clock the test moves."""
    ticks = Ticks()
    buffer = SensorStateBuffer(cycle_s, monotonic=ticks)
    return _store(path, buffer), buffer, ticks


def _shuffled_history(seed: int) -> list[list[NewEvent]]:
    """Batches of events out of order (a kit's outbox after an outage), with repeats."""
    rng = random.Random(seed)
    events = [
        _event(seq, rng.choice(SENSORS), minutes=rng.uniform(0, 120), value=rng.random() < 0.5)
        for seq in range(1, 400)
    ]
    events += rng.sample(events, 40)  # retries: stored once
    return [events[i : i + 17] for i in range(0, len(events), 17)]


def test_buffered_states_end_as_one_upsert_per_event_leaves_them(tmp_path: Path) -> None:
    ticks = Ticks()
    inline = _store(tmp_path / "inline.db", None)
    buffered = _store(tmp_path / "buffered.db", SensorStateBuffer(5.0, monotonic=ticks))
    for batch in _shuffled_history(seed=7):
        for store in (inline, buffered):
            store.store_events(batch, T0)
            store.commit()
        ticks.now += 0.4
    assert buffered.sensor_state_buffer is not None
    assert buffered.sensor_state_buffer.waiting() > 0
    inline.close()
    buffered.close()  # a clean stop writes what is held
    expected = _table(tmp_path / "inline.db")
    assert len(expected) == len(SENSORS)
    assert _table(tmp_path / "buffered.db") == expected


def test_states_reach_the_table_within_two_cycles_a_share_per_commit(tmp_path: Path) -> None:
    store, buffer, ticks = _buffered(tmp_path / "hub.db", cycle_s=10.0)
    kits_sensors = [f"pir-{n}" for n in range(40)]
    store.store_events([_event(n + 1, sensor) for n, sensor in enumerate(kits_sensors)], T0)
    store.commit()
    assert _table(tmp_path / "hub.db") == []  # noted, not written: the cycle has not turned
    ticks.now += 10.0
    store.write_due_sensor_states()  # the new cycle starts: nothing is due at its first moment
    assert _table(tmp_path / "hub.db") == []
    ticks.now += 2.5  # a quarter of the cycle: a quarter of the states, the first by key
    store.write_due_sensor_states()
    written = [row[1] for row in _table(tmp_path / "hub.db")]
    assert written == sorted(kits_sensors)[:10]
    ticks.now += 7.5
    store.store_events([_event(100, "pir-late")], T0)
    store.commit()  # the batch's commit carries the rest of the cycle
    assert len(_table(tmp_path / "hub.db")) == 40
    assert buffer.waiting() == 1  # the new event's state waits for the next cycle
    store.close()


def test_a_state_from_a_broken_clock_gives_way_to_the_next_real_event(tmp_path: Path) -> None:
    """Stamped five years ahead (stored before the hub refused such times): the next real event
    replaces it, whether the two meet in the buffer or in the table."""
    ticks = Ticks()
    ahead = 5 * 365 * 24 * 60
    store = _store(tmp_path / "hub.db", SensorStateBuffer(1.0, monotonic=ticks))
    store.store_events([_event(1, "pir-kitchen", minutes=ahead)], T0)
    store.store_events([_event(2, "pir-kitchen", minutes=1)], T0)  # in the same cycle
    store.store_events([_event(3, "pir-bed", minutes=ahead)], T0)
    store.commit()
    store.close()
    store = _store(tmp_path / "hub.db", SensorStateBuffer(1.0, monotonic=ticks))
    store.store_events([_event(4, "pir-bed", minutes=2)], T0)  # meets it in the table
    store.commit()
    store.close()
    assert [(row[1], row[5]) for row in _table(tmp_path / "hub.db")] == [
        ("pir-bed", (T0 + timedelta(minutes=2)).timestamp()),
        ("pir-kitchen", (T0 + timedelta(minutes=1)).timestamp()),
    ]


def test_while_batches_commit_no_transaction_of_its_own_is_spent(tmp_path: Path) -> None:
    ticks = Ticks()
    store = _store(tmp_path / "hub.db", SensorStateBuffer(1.0, monotonic=ticks))
    commits: list[float] = []
    store.on_commit = commits.append
    store.store_events([_event(n, f"pir-{n}") for n in range(1, 21)], T0)
    store.commit()
    ticks.now += 1.0
    store.store_events([_event(21, "pir-kitchen")], T0)
    store.commit()  # the cycle turns: nothing due at its first moment
    ticks.now += 0.125
    store.write_due_sensor_states()  # rows are due, but a batch committed 0.125 s ago
    assert len(commits) == 2
    assert _table(tmp_path / "hub.db") == []
    ticks.now += 0.25  # 0.375 s without a commit: the writer is quiet
    store.write_due_sensor_states()
    assert len(commits) == 3
    assert len(_table(tmp_path / "hub.db")) == 8  # 0.375 of the cycle's 20, rounded up
    store.close()


def test_a_write_that_cannot_begin_loses_no_state(tmp_path: Path) -> None:
    ticks = Ticks()
    store = _store(tmp_path / "hub.db", SensorStateBuffer(1.0, monotonic=ticks))
    store.connection.execute("PRAGMA busy_timeout = 0")
    store.store_events([_event(n, f"pir-{n}") for n in range(1, 11)], T0)
    store.commit()
    ticks.now += 1.0
    store.write_due_sensor_states()  # the cycle turns
    ticks.now += 0.5
    other = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        store.write_due_sensor_states()
        raise AssertionError("the write should have found the database locked")
    except sqlite3.OperationalError:
        pass
    finally:
        other.execute("ROLLBACK")
        other.close()
    ticks.now += 0.5
    store.write_due_sensor_states()
    assert len(_table(tmp_path / "hub.db")) == 10
    store.close()


def test_a_clock_set_back_neither_rewrites_nor_holds_the_states(tmp_path: Path) -> None:
    """A hub on an injected clock (a simulation) may set it back: the cycle starts again
    there, rather than writing rows twice or waiting until the clock comes back."""
    ticks = Ticks()
    ticks.now = 3600.0
    buffer = SensorStateBuffer(1.0, monotonic=ticks)
    store = _store(tmp_path / "hub.db", buffer)
    store.store_events([_event(n, f"pir-{n}") for n in range(1, 11)], T0)
    store.commit()
    ticks.now += 1.0
    store.write_due_sensor_states()  # the cycle turns
    ticks.now = 0.5  # set back an hour
    assert buffer.due() == []
    ticks.now = 1.0
    store.write_due_sensor_states()
    assert len(_table(tmp_path / "hub.db")) == 5
    ticks.now = 1.5
    store.write_due_sensor_states()
    assert len(_table(tmp_path / "hub.db")) == 10
    assert buffer.waiting() == 0
    store.close()


def test_a_rolled_back_batch_leaves_no_state_behind(tmp_path: Path) -> None:
    store, buffer, ticks = _buffered(tmp_path / "hub.db")
    store.store_events([_event(1, "pir-kitchen")], T0)
    store.commit()
    ticks.now += 1.0
    store.store_events([_event(2, "pir-bed")], T0)
    store.rollback()  # the bad batch (the ingest bisects and stores it again, or refuses it)
    ticks.now += 1.0
    store.write_due_sensor_states()
    ticks.now += 1.0
    store.write_due_sensor_states()
    assert [row[1] for row in _table(tmp_path / "hub.db")] == ["pir-kitchen"]
    assert buffer.waiting() == 0
    store.close()


def test_an_offered_slice_rolled_back_is_offered_again(tmp_path: Path) -> None:
    store, buffer, ticks = _buffered(tmp_path / "hub.db")
    store.store_events([_event(1, "pir-kitchen"), _event(2, "pir-bed")], T0)
    store.commit()
    ticks.now += 1.0
    buffer.due()  # a new cycle
    ticks.now += 1.0
    store.store_events([_event(3, "pir-bath")], T0)
    assert len(buffer.due()) == 2  # what this transaction would write with it...
    store.rollback()  # ...rolled back with it
    assert _table(tmp_path / "hub.db") == []
    store.write_due_sensor_states()
    assert [row[1] for row in _table(tmp_path / "hub.db")] == ["pir-bed", "pir-kitchen"]
    store.close()


def test_after_an_unclean_stop_the_next_start_writes_the_states_from_the_events(
    tmp_path: Path,
) -> None:
    inline = _store(tmp_path / "inline.db", None)
    crashed = _store(tmp_path / "hub.db", SensorStateBuffer(5.0, monotonic=Ticks()))
    for n, batch in enumerate(_shuffled_history(seed=11)):
        stored_at = T0 + timedelta(seconds=n)
        for store in (inline, crashed):
            store.store_events(batch, stored_at)
            store.commit()
    inline.close()
    crashed.sensor_state_buffer = None  # the power cut: what it held is gone
    crashed.close()
    assert _table(tmp_path / "hub.db") == []
    restarted = SqliteStore(tmp_path / "hub.db")
    replayed = restarted.replay_sensor_states(window_s=3600)
    restarted.close()
    assert replayed == 399  # every event the batches stored (the retries were not stored)
    assert _table(tmp_path / "hub.db") == _table(tmp_path / "inline.db")


def test_the_replay_reads_only_the_window_before_the_newest_event(tmp_path: Path) -> None:
    store = _store(tmp_path / "hub.db", None)
    store.store_events([_event(1, "pir-kitchen")], T0)
    store.store_events([_event(2, "pir-bed")], T0 + timedelta(minutes=10))
    store.store_events([_event(3, "pir-bath")], T0 + timedelta(minutes=11))
    store.commit()
    store.connection.execute("DELETE FROM sensor_state")
    assert store.replay_sensor_states(window_s=90) == 2
    assert [row[1] for row in _table(tmp_path / "hub.db")] == ["pir-bath", "pir-bed"]
    store.close()


def test_a_walk_test_hears_a_sensor_from_its_events_at_once(tmp_path: Path) -> None:
    store = _store(tmp_path / "hub.db", SensorStateBuffer(60.0, monotonic=Ticks()))
    store.store_events([_event(1, "pir-kitchen"), _event(2, "door-front")], T0)
    store.commit()
    before = store.newest_event_id("kit-1")
    assert before == 2
    assert store.sensors_heard_after("kit-1", before) == {}
    new_card = [  # a new SD card: its outbox drew an epoch below the old one's
        NewEvent("home-1", "kit-1", 0, seq, "pir-bed", "motion", True, "Bedroom", at, at)
        for seq, at in ((1, T0 + timedelta(minutes=1)), (2, T0 + timedelta(minutes=2)))
    ]
    store.store_events(new_card, T0)
    store.commit()
    assert _table(tmp_path / "hub.db") == []  # sensor_state has not been written yet
    assert store.sensors_heard_after("kit-1", before) == {"pir-bed": T0 + timedelta(minutes=1)}
    assert store.newest_event_id("kit-none") == 0
    store.close()
