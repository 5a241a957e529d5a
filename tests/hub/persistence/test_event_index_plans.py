"""Every read of one home's events goes through one of the two home-and-time indexes.

Since schema step 4 each event is in exactly one partial index keyed by home and time
(hub/persistence/event_index_terms.py), and SQLite uses a partial index only when the query
repeats its WHERE term, word for word and in the same order. A reader that forgets the term
still returns the right rows, so no result test notices: it reads the whole table instead, at
district size tens of gigabytes for one home. These tests run the hub's and the dashboards'
readers of one home on a real SQLite file, take the statements SQLite actually ran (expanded,
from its trace hook) and ask SQLite for their plans. A new reader belongs here.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from hub.persistence import read_models
from hub.persistence.activity_tail import first_event_after
from hub.persistence.database import create_engine
from hub.persistence.event_index_terms import NOT_SIGN_OF_LIFE, SIGN_OF_LIFE
from hub.persistence.events import readings, resident_answered
from hub.persistence.migrate import apply_migrations
from hub.persistence.reports import home_snapshot
from hub.persistence.schema_core import MIGRATIONS
from hub.persistence.sqlite_store import SqliteStore
from hub.store.base import NewEvent
from tests.hub.factories import T0, home_spec

# A table scan of events, under its name or the alias the hub's queries give it ("e"); a scan
# of a subquery's rows (the UNION ALL halves) is not one.
_FULL_SCAN = re.compile(r"^SCAN (events|e)\b")


def _event(seq: int, minutes: int, sensor: str, kind: str, value: object) -> NewEvent:
    at = T0 + timedelta(minutes=minutes)
    return NewEvent("home-1", "kit-1", 1, seq, sensor, kind, value, "Kitchen", at, at)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "hub.db")
    s.register_home(home_spec(), T0)
    s.store_events(
        [
            _event(1, 1, "temp-kitchen", "temperature", 21.5),
            _event(2, 2, "pir-kitchen", "motion", True),
            _event(3, 3, "door-front", "door", "open"),
            _event(4, 4, "pir-kitchen", "motion", False),
            _event(5, 5, "ok", "ok_button", True),
            _event(6, 6, "temp-kitchen", "temperature", 22.0),
        ],
        T0,
    )
    s.commit()
    s.connection.execute("ANALYZE")
    yield s
    s.close()


def _full_scans(store: SqliteStore, statements: list[str]) -> list[tuple[str, list[str]]]:
    """The statements on `events` whose plan reads the whole table, with their plans."""
    found = []
    for sql in statements:
        if "FROM events" not in sql or sql.lstrip().upper().startswith("EXPLAIN"):
            continue
        plan = [row[3] for row in store.connection.execute(f"EXPLAIN QUERY PLAN {sql}")]
        if any(_FULL_SCAN.search(step) for step in plan):
            found.append((sql, plan))
    return found


def test_the_hub_s_readers_of_one_home_use_an_index(store: SqliteStore) -> None:
    statements: list[str] = []
    store.connection.set_trace_callback(statements.append)
    conn = store.connection
    since = T0 - timedelta(hours=1)
    got = {
        "first_event_after": first_event_after(conn, "home-1", T0.timestamp(), 10**9),
        "resident_answered": resident_answered(conn, "home-1", since),
        "readings": [r.value for r in readings(conn, "home-1", "temperature", since)],
        "snapshot": home_snapshot(conn, "home-1").last_sign_of_life,
        "count": store.count_events("home-1"),
        "events": [e.kind for e in store.events("home-1")],
        "activity": [a[3] for a in store.activity_events("home-1", since, T0 + timedelta(hours=1))],
    }
    store.connection.set_trace_callback(None)
    # The readers still answer over both halves (the signs of life and the other kinds).
    assert got["first_event_after"] == (T0 + timedelta(minutes=1)).timestamp()
    assert got["resident_answered"] is True
    assert got["readings"] == [21.5, 22.0]
    assert got["snapshot"] == T0 + timedelta(minutes=5)
    assert got["count"] == 6
    assert got["events"] == ["temperature", "motion", "door", "motion", "ok_button", "temperature"]
    assert got["activity"] == ["motion", "door", "ok_button"]
    assert len(statements) >= 7
    assert _full_scans(store, statements) == []


def test_the_dashboard_s_readers_of_one_home_use_an_index(store: SqliteStore) -> None:
    engine = create_engine(store.path)
    statements: list[str] = []
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.set_trace_callback(statements.append)  # type: ignore[attr-defined]
            start, end = T0 - timedelta(hours=1), T0 + timedelta(hours=1)
            moves = read_models.moves_between(conn, "home-1", start, end, with_room=True)
            times = read_models.move_times(conn, "home-1", start, end)
            days = read_models.motion_days(conn, "home-1", start, end)
    finally:
        engine.dispose()
    assert [room for room, _ in moves] == ["Kitchen", "Kitchen", "Kitchen"]
    assert len(times) == 3
    assert [d.count for d in days] == [2]
    assert _full_scans(store, statements) == []


def test_a_sign_of_life_is_not_a_reading(store: SqliteStore) -> None:
    # readings() reads the other kinds' index: a sign of life asked for there would silently
    # come back empty, so it is refused instead.
    with pytest.raises(ValueError, match="sign of life"):
        readings(store.connection, "home-1", "motion", T0)


def test_a_reader_without_the_index_s_term_is_caught(store: SqliteStore) -> None:
    """The check itself: the query as it was before step 4 reads the whole table now."""
    old = "SELECT 1 FROM events WHERE home_id = 'home-1' AND kind = 'ok_button' LIMIT 1"
    assert [sql for sql, _ in _full_scans(store, [old])] == [old]


def test_the_terms_are_the_indexes_own(tmp_path: Path) -> None:
    """The terms readers add must be the indexes' WHERE as the database has it, also in a
    database that went through steps 3 and 4 as upgrades."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path, isolation_level=None) as db:
        apply_migrations(db, "core", MIGRATIONS[:2])
    SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        sql = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'events'"))
    assert sql["events_home_activity"].rstrip().endswith(f"WHERE {SIGN_OF_LIFE}")
    assert sql["events_home_other"].rstrip().endswith(f"WHERE {NOT_SIGN_OF_LIFE}")
