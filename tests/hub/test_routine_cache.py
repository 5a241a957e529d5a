"""The routine scan holds only the most recently used routines; any other is read back from the
store exactly as it was learned, so decisions never depend on what memory held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from detectors import ActivityEvents, Place, Routine, learn_routine
from detectors.routine import Kind
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.routine_cache import RoutineCache
from mehr.contract import SensorKind

LEARNED_AT = datetime(2026, 11, 20, 7, 13, 5, 123456, tzinfo=UTC)


def _routine(seed: int) -> Routine:
    """A routine learned from a fortnight of made-up activity (seeded: each home its own)."""
    rng = np.random.default_rng(seed)
    now = LEARNED_AT.timestamp()
    times = np.sort(rng.uniform(now - 14 * 86_400, now, 1500))
    places = rng.choice([Place.KITCHEN, Place.BATHROOM, Place.BEDROOM, Place.LIVING], times.size)
    events = ActivityEvents.build(times, places, np.full(times.size, Kind.MOTION))
    return learn_routine(events, now)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "hub.db", "NORMAL")
    for i in range(4):
        kit = KitSpec(
            id=f"k{i}", sensors=[SensorSpec(id="pir", kind=SensorKind.MOTION, room="Oshxona")]
        )
        store.register_home(HomeSpec(id=f"h{i}", name=f"h{i}", kits=[kit]), LEARNED_AT)
    return store


def _learn(store: SqliteStore, cache: RoutineCache, home: str, seed: int) -> Routine:
    # As RoutineScanner._routine: save to the store, then hold it.
    routine = _routine(seed)
    store.save_routine(home, LEARNED_AT, routine.to_dict())
    store.commit()
    cache.put(home, LEARNED_AT, routine)
    return routine


def _same(a: Routine, b: Routine) -> bool:
    for name in Routine.__slots__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            if x.dtype != y.dtype or x.tobytes() != y.tobytes():  # bit for bit
                return False
        elif x != y:
            return False
    return True


def test_a_routine_dropped_from_memory_reads_back_bit_for_bit(store: SqliteStore) -> None:
    cache = RoutineCache(store, capacity=2)
    learned = {f"h{i}": _learn(store, cache, f"h{i}", i) for i in range(4)}
    assert len(cache) == 2  # h2 and h3, the most recent
    got = cache.get("h0")
    assert got is not None
    assert got[0] == LEARNED_AT
    assert _same(got[1], learned["h0"])
    assert cache.reads == 1
    assert len(cache) == 2  # h0 now held, h2 (least recently used) dropped


def test_the_least_recently_used_routine_is_dropped_first(store: SqliteStore) -> None:
    cache = RoutineCache(store, capacity=2)
    for i in range(2):
        _learn(store, cache, f"h{i}", i)
    assert cache.get("h0") is not None  # h0 used: h1 is now the oldest
    _learn(store, cache, "h2", 2)
    reads = cache.reads
    assert cache.get("h0") is not None and cache.reads == reads  # still held
    assert cache.get("h1") is not None and cache.reads == reads + 1  # read back


def test_a_relearned_routine_replaces_the_one_held(store: SqliteStore) -> None:
    cache = RoutineCache(store, capacity=None)
    _learn(store, cache, "h0", 0)
    later = LEARNED_AT + timedelta(hours=6)
    relearned = _routine(99)
    store.save_routine("h0", later, relearned.to_dict())
    cache.put("h0", later, relearned)
    got = cache.get("h0")
    assert got is not None and got[0] == later and got[1] is relearned
    cache.forget("h0")
    back = cache.get("h0")
    assert back is not None and back[0] == later and _same(back[1], relearned)


def test_no_routine_stored_or_an_unreadable_one_reads_as_none(store: SqliteStore) -> None:
    cache = RoutineCache(store, capacity=0)
    assert cache.get("h1") is None
    store.save_routine("h1", LEARNED_AT, {"threshold_s": [1.0]})
    store.commit()
    assert cache.get("h1") is None  # learned again by the scan
    _learn(store, cache, "h2", 2)
    assert len(cache) == 0  # capacity 0 holds nothing: every read goes to the store
    assert cache.get("h2") is not None


def test_a_negative_capacity_is_refused(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="capacity"):
        RoutineCache(store, capacity=-1)
