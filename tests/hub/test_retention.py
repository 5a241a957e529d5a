"""Retention on an injected clock: raw events past the window become hourly counts, the window's
events and an alert's own event stay, and the routine learned afterwards is the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.persistence.sqlite_store import SqliteStore
from hub.retention import RetentionJob, RetentionSettings
from hub.routine_scan import RoutineScanner, ScanSettings
from hub.stats import HubStats
from hub.store.base import NewAlert, NewEvent
from mehr.clock import ManualClock
from tests.hub.factories import home_spec

NOW = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)  # 12:00 in Tashkent
DAYS = 60


def _history(store: SqliteStore, home: str = "home-1", kit: str = "kit-1") -> None:
    """Sixty days: the kitchen and the bathroom through each day, the door once a day."""
    seq = 0
    rows = []
    start = NOW - timedelta(days=DAYS)
    for day in range(DAYS):
        for hour in (7.0, 8.5, 10.0, 12.5, 15.0, 18.0, 20.5):
            for sensor, room in (("pir-kitchen", "Kitchen"), ("pir-bath", "Bathroom")):
                late = 0.3 if room == "Bathroom" else 0.0
                at = start + timedelta(days=day, hours=hour - 5 + late)
                for value, later in ((True, 0), (False, 8)):
                    seq += 1
                    when = at + timedelta(seconds=later)
                    rows.append(
                        NewEvent(home, kit, 1, seq, sensor, "motion", value, room,
                                 when, when)
                    )  # fmt: skip
        seq += 1
        door = start + timedelta(days=day, hours=11 - 5)
        rows.append(
            NewEvent(home, kit, 1, seq, "door-front", "door", "open", "Hallway",
                     door, door)
        )  # fmt: skip
    for row in rows:  # stored as they happened: stored_at is the event's own time
        store.store_events([row], row.occurred_at)
    store.commit()


def _routine(store: SqliteStore) -> dict[str, object]:
    settings = ScanSettings(gated=False)
    scanner = RoutineScanner(store, ManualClock(NOW), HubStats(), settings=settings)
    scanner.scan()
    stored = store.load_routine("home-1")
    assert stored is not None
    return stored[1]


def _count(store: SqliteStore, sql: str, *args: object) -> int:
    return int(store.connection.execute(sql, args).fetchone()[0])


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "hub.db")
    s.register_home(home_spec(), NOW - timedelta(days=DAYS + 1))
    _history(s)
    return s


def test_old_events_become_hourly_counts_and_the_detectors_lose_nothing(
    store: SqliteStore,
) -> None:
    before = _routine(store)
    cutoff = (NOW - timedelta(days=35)).timestamp()
    old = _count(store, "SELECT COUNT(*) FROM events WHERE occurred_at < ?", cutoff)
    on = "SELECT COUNT(*) FROM events WHERE sensor_id=? AND value=? AND occurred_at < ?"
    kitchen_on = _count(store, on, "pir-kitchen", "true", cutoff)
    bath_on = _count(store, on, "pir-bath", "true", cutoff)
    doors = _count(store, on, "door-front", '"open"', cutoff)
    assert kitchen_on > 100 and doors > 10
    kept = _count(store, "SELECT COUNT(*) FROM events WHERE occurred_at >= ?", cutoff)
    first = store.events(limit=1)[0]
    alert, _ = store.raise_alert(
        NewAlert("home-1", "unusual_inactivity", "high", first.occurred_at, first.id, {})
    )
    store.commit()
    assert old > 500 and kept > 500

    stats = HubStats()
    job = RetentionJob(
        store, ManualClock(NOW), stats, RetentionSettings(batch=200), monotonic=lambda: 0.0
    )
    assert job.run() == old - 1, "every old event but the alert's own is folded"

    assert _count(store, "SELECT COUNT(*) FROM events WHERE occurred_at < ?", cutoff) == 1
    assert store.events(limit=1)[0].id == first.id, "the alert still points at its event"
    assert _count(store, "SELECT COUNT(*) FROM events WHERE occurred_at >= ?", cutoff) == kept
    assert stats.get("retention_batches") > (old - 1) // 200, "small transactions, not one"
    assert _count(store, "SELECT SUM(events) FROM event_hours") == old - 1
    # Signs of life per place: a motion's ON (not its OFF), a door; the alert's own event
    # (the first kitchen ON) stays raw.
    def old(sensor: str, value: str) -> int:
        return _count(
            store,
            "SELECT COUNT(*) FROM events WHERE sensor_id=? AND value=? AND occurred_at < ?",
            sensor, value, cutoff,
        )  # fmt: skip

    assert _count(store, "SELECT SUM(kitchen) FROM event_hours") == kitchen_on - 1
    assert _count(store, "SELECT SUM(bathroom) FROM event_hours") == bath_on
    assert _count(store, "SELECT SUM(entrance) FROM event_hours") == doors
    assert old("pir-kitchen", "true") == 1
    assert _routine(store) == before, "the routine learns from 28 days: retention changes nothing"
    assert job.run() == 0, "nothing left to fold"
    assert alert.id is not None


def test_hourly_counts_go_after_their_own_window(store: SqliteStore) -> None:
    clock = ManualClock(NOW)
    settings = RetentionSettings(keep_summaries=timedelta(days=40), batch=500)
    job = RetentionJob(store, clock, HubStats(), settings, monotonic=lambda: 0.0)
    job.run()
    oldest = _count(store, "SELECT MIN(hour_s) FROM event_hours")
    assert oldest >= (NOW - timedelta(days=40)).timestamp() - 3600, "older counts went at once"
    cut = oldest + 12 * 3600
    older = _count(store, "SELECT COUNT(*) FROM event_hours WHERE hour_s < ?", cut)
    newer = _count(store, "SELECT COUNT(*) FROM event_hours WHERE hour_s >= ?", cut)
    assert older > 0 and newer > 0
    clock.set(datetime.fromtimestamp(cut, UTC) + timedelta(days=40))
    job.run()
    assert _count(store, "SELECT COUNT(*) FROM event_hours WHERE hour_s < ?", cut) == 0
    assert _count(store, "SELECT COUNT(*) FROM event_hours WHERE hour_s >= ?", cut) >= newer


def test_the_newest_event_is_never_removed_so_ids_keep_growing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "quiet.db")
    store.register_home(home_spec(), NOW - timedelta(days=90))
    at = NOW - timedelta(days=80)
    for seq in (1, 2, 3):
        store.store_events(
            [NewEvent("home-1", "kit-1", 1, seq, "pir-kitchen", "motion", True, "Kitchen", at, at)],
            at,
        )
    store.commit()
    RetentionJob(store, ManualClock(NOW), HubStats(), monotonic=lambda: 0.0).run()
    assert [e.seq for e in store.events()] == [3]


def test_old_events_stored_after_recent_ones_are_folded_too(store: SqliteStore) -> None:
    """Ids need not follow time (an import, a restored backup): home-2's whole history is
    stored after home-1's recent weeks, and its old events go as well."""
    store.register_home(home_spec("home-2", "kit-2"), NOW - timedelta(days=DAYS + 1))
    _history(store, "home-2", "kit-2")
    cutoff = (NOW - timedelta(days=35)).timestamp()
    settings = RetentionSettings(batch=100, lookahead=2000)
    RetentionJob(store, ManualClock(NOW), HubStats(), settings, monotonic=lambda: 0.0).run()
    assert _count(store, "SELECT COUNT(*) FROM events WHERE occurred_at < ?", cutoff) == 0
