"""The SQLite store: migrations, exactly-once events, newest state per sensor, merged alerts."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from hub.persistence.migrate import SchemaTooNewError, apply_migrations
from hub.persistence.schema_core import MIGRATIONS
from hub.persistence.sqlite_store import SqliteStore
from hub.store.base import NewAlert, NewEvent
from tests.hub.factories import T0, home_spec


def _event(seq: int, epoch: int = 1, minutes: int = 0, sensor: str = "pir-kitchen") -> NewEvent:
    at = T0 + timedelta(minutes=minutes)
    return NewEvent("home-1", "kit-1", epoch, seq, sensor, "motion", True, "Kitchen", at, at)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "hub.db")
    s.register_home(home_spec(), T0)
    return s


def test_new_database_is_migrated_to_the_latest_schema(store: SqliteStore) -> None:
    assert store.schema_version() == len(MIGRATIONS)


def test_database_from_a_newer_hub_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_migrations (component TEXT PRIMARY KEY, version INTEGER)")
        db.execute("INSERT INTO schema_migrations VALUES ('core', ?)", (len(MIGRATIONS) + 1,))
    with pytest.raises(SchemaTooNewError, match="newer than this Mehr"):
        SqliteStore(path)


def test_same_kit_epoch_and_seq_is_stored_once(store: SqliteStore) -> None:
    ids = store.store_events([_event(1), _event(2), _event(1)], T0)
    store.commit()
    assert ids[0] is not None and ids[1] is not None and ids[2] is None
    assert store.store_events([_event(2)], T0) == [None]
    assert store.count_events() == 2


def test_a_new_epoch_is_not_a_duplicate(store: SqliteStore) -> None:
    store.store_events([_event(1, epoch=1), _event(1, epoch=2)], T0)
    store.commit()
    assert store.count_events() == 2


def test_rollback_stores_nothing(store: SqliteStore) -> None:
    store.store_events([_event(1)], T0)
    store.rollback()
    assert store.count_events() == 0


def test_a_late_old_event_does_not_overwrite_newer_sensor_state(store: SqliteStore) -> None:
    store.store_events([_event(2, minutes=10), _event(1, minutes=0)], T0)
    store.commit()
    (state,) = store.sensor_states("home-1")
    assert state.occurred_at == T0 + timedelta(minutes=10)
    assert state.room == "Kitchen"


def test_open_alert_of_the_same_kind_absorbs_repeats(store: SqliteStore) -> None:
    first, new1 = store.raise_alert(NewAlert("home-1", "help_button", "critical", T0, None))
    again, new2 = store.raise_alert(NewAlert("home-1", "help_button", "critical", T0, None))
    other, new3 = store.raise_alert(NewAlert("home-1", "fall", "critical", T0, None))
    store.commit()
    assert (new1, new2, new3) == (True, False, True)
    assert again.id == first.id and again.count == 2
    assert other.id != first.id


def test_a_kit_cannot_move_homes_silently(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="already belongs"):
        store.register_home(home_spec("home-2", "kit-1"), T0)


def test_a_failing_step_leaves_the_previous_version(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    steps = ["CREATE TABLE a (x INTEGER);", "CREATE TABLE b (y INTEGER); CREATE TABLE a (z);"]
    with pytest.raises(sqlite3.OperationalError):
        apply_migrations(db, "extra", steps)
    assert db.execute("SELECT version FROM schema_migrations").fetchone() == (1,)
    assert db.execute("SELECT name FROM sqlite_master WHERE name='b'").fetchone() is None
