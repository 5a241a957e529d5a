"""The routine scan's memory across restarts (hub/scan_memory.py): used only while it still
describes this database and this code, and a home another hub may have judged meanwhile is read.

That a restart from a saved memory raises exactly what the per-home scan raises is proved by
the equivalence run in test_scan_gate.py; these tests cover when a saved memory must not be
trusted, on a real SQLite store with a manual clock.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from hub.routine_scan import RoutineScanner, ScanSettings
from hub.scan_gate import ScanGate, StaleMemory
from hub.stats import HubStats
from mehr.clock import ManualClock
from tests.hub.test_scan_gate import HISTORY_DAYS, START, Ev, _plan, _spec, _store, _write

HOMES = [f"home-{i:02d}" for i in range(6)]
LIVE_FROM = START + timedelta(days=HISTORY_DAYS)


class _Leases:
    """A hub's leases as the scanner sees them: partition per home, epoch per partition."""

    def __init__(self, epochs: dict[int, int], partitions: int = 2) -> None:
        self.epochs = epochs
        self.partitions = partitions

    def owns(self, key: str) -> bool:
        return self.partition(key) in self.epochs

    def held(self) -> dict[int, int]:
        return dict(self.epochs)

    def partition(self, key: str) -> int | None:
        return int(key.rsplit("-", 1)[1]) % self.partitions


def _home_db(tmp_path: Path) -> tuple[Path, ManualClock]:
    store = _store(tmp_path / "hub.db")
    for home in HOMES:
        store.register_home(_spec(home), START)
        store.commit()
    events = [e for e in _plan(random.Random(3), HOMES, range(HISTORY_DAYS + 1), LIVE_FROM)
              if e.at < LIVE_FROM + timedelta(hours=9)]  # fmt: skip
    _write([store], events, {"all": 0})
    store.close()
    return tmp_path / "hub.db", ManualClock(LIVE_FROM + timedelta(hours=9))


def _scanner(
    db: Path,
    clock: ManualClock,
    memory: Path,
    settings: ScanSettings | None = None,
    **extra: object,
) -> tuple[RoutineScanner, HubStats]:
    stats = HubStats()
    scanner = RoutineScanner(
        _store(db), clock, stats, settings=settings or ScanSettings(), memory_file=memory,
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip
    return scanner, stats


def _read_in_one_pass(scanner: RoutineScanner, stats: HubStats) -> int:
    before = stats.get("scan_homes_read")
    scanner.scan()
    return stats.get("scan_homes_read") - before


def _first_run(db: Path, clock: ManualClock, memory: Path, **extra: object) -> None:
    """A hub's scan that ran two passes, then stopped: its memory is on disk."""
    scanner, stats = _scanner(db, clock, memory, **extra)  # type: ignore[arg-type]
    assert _read_in_one_pass(scanner, stats) == len(HOMES)
    clock.advance(timedelta(minutes=1))
    assert _read_in_one_pass(scanner, stats) < len(HOMES)
    scanner.store.close()
    assert memory.exists()


def test_a_restart_minutes_later_reads_only_what_its_saved_memory_says_is_due(
    tmp_path: Path,
) -> None:
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    _first_run(db, clock, memory)
    clock.advance(timedelta(minutes=5))
    scanner, stats = _scanner(db, clock, memory)
    assert _read_in_one_pass(scanner, stats) < len(HOMES)
    assert stats.get("scan_memory_loaded") == 1


def test_a_memory_older_than_the_hourly_look_is_not_used(tmp_path: Path) -> None:
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    _first_run(db, clock, memory)
    clock.advance(timedelta(hours=1, minutes=1))
    scanner, stats = _scanner(db, clock, memory)
    assert _read_in_one_pass(scanner, stats) == len(HOMES)
    assert stats.get("scan_memory_loaded") == 0


def test_a_memory_from_before_the_clock_went_back_is_not_used(tmp_path: Path) -> None:
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    _first_run(db, clock, memory)
    clock.set(clock.now() - timedelta(minutes=10))
    scanner, stats = _scanner(db, clock, memory)
    assert _read_in_one_pass(scanner, stats) == len(HOMES)


def test_a_memory_that_has_seen_events_the_database_lacks_is_not_used(tmp_path: Path) -> None:
    """A database restored from a backup (or another one at the same path): the memory's plans
    were made on events that are not there."""
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    _first_run(db, clock, memory)
    store = _store(db)
    store.connection.execute("DELETE FROM events WHERE id > (SELECT max(id) - 10 FROM events)")
    store.commit()
    store.close()
    clock.advance(timedelta(minutes=2))
    scanner, stats = _scanner(db, clock, memory)
    assert _read_in_one_pass(scanner, stats) == len(HOMES)


def test_a_memory_saved_with_other_scan_settings_is_not_used(tmp_path: Path) -> None:
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    _first_run(db, clock, memory)
    clock.advance(timedelta(minutes=2))
    other = ScanSettings(recent=timedelta(hours=30))
    scanner, stats = _scanner(db, clock, memory, settings=other)
    assert _read_in_one_pass(scanner, stats) == len(HOMES)


def test_an_unreadable_memory_is_logged_and_every_home_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    _first_run(db, clock, memory)
    memory.write_bytes(memory.read_bytes()[:1000])  # cut short, as by a full disk
    clock.advance(timedelta(minutes=2))
    scanner, stats = _scanner(db, clock, memory)
    with caplog.at_level(logging.WARNING, logger="hub.scan_memory"):
        assert _read_in_one_pass(scanner, stats) == len(HOMES)
    assert "cannot read it" in caplog.text
    # and the pass saved a good one again
    clock.advance(timedelta(minutes=1))
    again, again_stats = _scanner(db, clock, memory)
    assert _read_in_one_pass(again, again_stats) < len(HOMES)


def _looked_at_now(scanner: RoutineScanner, clock: ManualClock) -> set[str]:
    gate = scanner.gate
    assert gate is not None
    now_s = clock.now().timestamp()
    return {h for row, h in enumerate(gate.ids) if gate.checked_at[row] == now_s}


def _a_home_the_memory_leaves_unread(
    db: Path, clock: ManualClock, memory: Path
) -> tuple[RoutineScanner, str]:
    """Two minutes after the first run, a restart's pass: the scanner (its store open) and a
    home that pass did not read."""
    clock.advance(timedelta(minutes=2))
    scanner, _ = _scanner(db, clock, memory)
    scanner.scan()
    unread = sorted(set(HOMES) - _looked_at_now(scanner, clock))
    assert unread, "the saved memory must leave some homes unread"
    return scanner, unread[0]


def test_a_home_whose_kit_now_asks_first_is_read_after_a_restart(tmp_path: Path) -> None:
    """Asking first lowers a home's limit; the alerts file is read at a start, so a restart may
    change it for a home whose saved plan was made without it."""
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    _first_run(db, clock, memory)
    plain, unread = _a_home_the_memory_leaves_unread(db, clock, memory)
    plain.store.close()
    clock.advance(timedelta(minutes=1))
    asking, asking_stats = _scanner(db, clock, memory, ask_first=lambda h: h == unread)
    asking.scan()
    assert asking_stats.get("scan_memory_loaded") == 1
    assert unread in _looked_at_now(asking, clock)


def test_a_home_taken_back_under_a_new_lease_epoch_is_read_at_once(tmp_path: Path) -> None:
    """Another hub held the partition meanwhile and may have judged the home (an alert raised,
    its routine re-learned): the gate's plan for it is not trusted."""
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    leases = _Leases({0: 7, 1: 3})
    scanner, stats = _scanner(db, clock, memory, ownership=leases)
    assert _read_in_one_pass(scanner, stats) == len(HOMES)
    clock.advance(timedelta(minutes=1))
    steady = _read_in_one_pass(scanner, stats)
    assert steady < len(HOMES)
    leases.epochs[1] = 4  # partition 1 (the odd homes) lost and taken back
    clock.advance(timedelta(minutes=1))
    scanner.scan()
    odd = {h for h in HOMES if int(h[-2:]) % 2}
    assert odd <= _looked_at_now(scanner, clock)


def test_the_gate_rebuilt_from_its_memory_holds_the_same_arrays() -> None:
    gate = ScanGate(timedelta(hours=1))
    gate.sync_homes({"b": ("x",), "a": ("y",)})
    gate.tail_id = 42
    gate.checked_at[:] = [10.0, 20.0]
    memory = gate.memory()
    again = ScanGate.from_memory(memory, timedelta(hours=1))
    assert list(again.ids) == ["b", "a"] and again.tail_id == 42
    for name, column in memory.items():
        assert np.array_equal(again.memory()[name], column, equal_nan=column.dtype.kind == "f")
    memory["checked_at"] = memory["checked_at"][:1]
    with pytest.raises(StaleMemory):
        ScanGate.from_memory(memory, timedelta(hours=1))


def test_a_restored_database_whose_event_ids_were_reused_is_not_trusted(tmp_path: Path) -> None:
    """The database lost its newest events (restored from a backup minutes old, or commits lost
    to a power cut) and ingest handed their ids out again before the first pass: events under a
    reused id would never reach the gate (its tail starts after them). Every home's front door
    opens now; each must be read, as the per-home scan reads every home."""
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    _first_run(db, clock, memory)
    with np.load(memory) as saved:
        tail = int(saved["tail_id"][0])
    store = _store(db)
    store.connection.execute("DELETE FROM events WHERE id > :t - 20", {"t": tail})
    store.commit()
    clock.advance(timedelta(minutes=2))
    now = clock.now()
    doors = [Ev(h, now - timedelta(seconds=30), "door-front", "door", "open", now) for h in HOMES]
    filler = [Ev(HOMES[0], now - timedelta(seconds=60 + s), "pir-living", "motion", False, now)
              for s in range(30)]  # fmt: skip
    _write([store], doors + filler, {"all": 10**6})
    assert store.connection.execute("SELECT max(id) FROM events").fetchone()[0] >= tail
    store.close()
    scanner, stats = _scanner(db, clock, memory)
    scanner.scan()
    assert stats.get("scan_memory_loaded") == 0
    assert set(HOMES) <= _looked_at_now(scanner, clock)


def test_an_empty_memory_file_costs_nothing_but_a_full_pass(tmp_path: Path) -> None:
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    memory.write_bytes(b"")  # a file system repaired after a crash, or a botched copy
    scanner, stats = _scanner(db, clock, memory)
    assert _read_in_one_pass(scanner, stats) == len(HOMES)
    assert stats.get("scan_errors") == 0


def test_a_routine_learned_after_the_save_makes_its_home_read(tmp_path: Path) -> None:
    """A stop cut a pass short after it re-learned a routine (or another hub re-learned it):
    the saved plan was made on the old routine."""
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    _first_run(db, clock, memory)
    plain, unread = _a_home_the_memory_leaves_unread(db, clock, memory)
    plain.store.connection.execute(
        "UPDATE routines SET learned_at = :t WHERE home_id = :h",
        {"t": clock.now().timestamp(), "h": unread},
    )
    plain.store.close()
    clock.advance(timedelta(minutes=1))
    again, again_stats = _scanner(db, clock, memory)
    again.scan()
    assert again_stats.get("scan_memory_loaded") == 1
    assert unread in _looked_at_now(again, clock)


def test_the_memory_file_is_the_hub_users_alone(tmp_path: Path) -> None:
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    _first_run(db, clock, memory)
    assert memory.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith((".partial", ".tmp"))] == []


def test_a_home_in_another_partition_under_the_same_epoch_is_read_at_once(tmp_path: Path) -> None:
    """The number of partitions changed (lease_partitions): epochs are small numbers, so a
    home's new partition may carry the epoch its old one had."""
    db, clock = _home_db(tmp_path)
    memory = tmp_path / "scan-memory.npz"
    _first_run(db, clock, memory, ownership=_Leases({0: 1, 1: 1}, partitions=2))
    clock.advance(timedelta(minutes=2))
    scanner, stats = _scanner(db, clock, memory, ownership=_Leases({0: 1, 1: 1, 2: 1}, 3))
    scanner.scan()
    assert stats.get("scan_memory_loaded") == 1
    moved = {h for h in HOMES if int(h[-2:]) % 2 != int(h[-2:]) % 3}
    assert moved <= _looked_at_now(scanner, clock)
