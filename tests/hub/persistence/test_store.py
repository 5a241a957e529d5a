"""The ingest store on SQLite and on PostgreSQL: migrations, exactly-once events (also under
concurrent writers), newest state per sensor, merged alerts.

Each test taking `store` runs twice: on a SQLite file and on a real PostgreSQL server on
loopback (tests/support/postgres.py).
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import hub.persistence.kit_changes
from hub.persistence.database import connect
from hub.persistence.migrate import SchemaTooNewError, apply_migrations
from hub.persistence.schema_alerts import MIGRATIONS as ALERT_MIGRATIONS
from hub.persistence.schema_alerts import migrate_alerts
from hub.persistence.schema_coordination import MIGRATIONS as COORDINATION_MIGRATIONS
from hub.persistence.schema_core import MIGRATIONS
from hub.persistence.sqlite_store import ACTIVITY_EVENTS_SQL, SqliteStore, SqlStore, open_store
from hub.persistence.web_schema import WEB_MIGRATIONS, migrate_web
from hub.registry import HomeSpec
from hub.store.base import NewAlert, NewEvent, is_transient
from tests.hub.factories import T0, home_spec


def _event(seq: int, epoch: int = 1, minutes: int = 0, sensor: str = "pir-kitchen") -> NewEvent:
    at = T0 + timedelta(minutes=minutes)
    return NewEvent("home-1", "kit-1", epoch, seq, sensor, "motion", True, "Kitchen", at, at)


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    s = open_store(store_url)
    s.register_home(home_spec(), T0)
    yield s
    s.close()


def test_new_database_is_migrated_to_the_latest_schema(store: SqlStore) -> None:
    assert store.schema_version() == len(MIGRATIONS)


def test_database_from_a_newer_hub_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_migrations (component TEXT PRIMARY KEY, version INTEGER)")
        db.execute("INSERT INTO schema_migrations VALUES ('core', ?)", (len(MIGRATIONS) + 1,))
    with pytest.raises(SchemaTooNewError, match="newer than this Mehr"):
        SqliteStore(path)


def test_same_kit_epoch_and_seq_is_stored_once(store: SqlStore) -> None:
    ids = store.store_events([_event(1), _event(2), _event(1)], T0)
    store.commit()
    assert ids[0] is not None and ids[1] is not None and ids[2] is None
    assert store.store_events([_event(2)], T0) == [None]
    assert store.count_events() == 2


def test_a_new_epoch_is_not_a_duplicate(store: SqlStore) -> None:
    store.store_events([_event(1, epoch=1), _event(1, epoch=2)], T0)
    store.commit()
    assert store.count_events() == 2


def test_a_kit_s_63_bit_random_epoch_is_stored_whole(store: SqlStore) -> None:
    # Kits pick a random 63-bit epoch at boot: PostgreSQL's INTEGER (4 bytes) would refuse it.
    epoch = 2**63 - 7
    (new_id,) = store.store_events([_event(1, epoch=epoch)], T0)
    store.commit()
    assert new_id is not None
    assert store.store_events([_event(1, epoch=epoch)], T0) == [None]
    store.commit()
    assert [e.epoch for e in store.events()] == [epoch]


def test_rollback_stores_nothing(store: SqlStore) -> None:
    store.store_events([_event(1)], T0)
    store.rollback()
    assert store.count_events() == 0


def test_a_late_old_event_does_not_overwrite_newer_sensor_state(store: SqlStore) -> None:
    store.store_events([_event(2, minutes=10), _event(1, minutes=0)], T0)
    store.commit()
    (state,) = store.sensor_states("home-1")
    assert state.occurred_at == T0 + timedelta(minutes=10)
    assert state.room == "Kitchen"


def test_open_alert_of_the_same_kind_absorbs_repeats(store: SqlStore) -> None:
    first, new1 = store.raise_alert(NewAlert("home-1", "help_button", "critical", T0, None))
    again, new2 = store.raise_alert(NewAlert("home-1", "help_button", "critical", T0, None))
    other, new3 = store.raise_alert(NewAlert("home-1", "fall", "critical", T0, None))
    store.commit()
    assert (new1, new2, new3) == (True, False, True)
    assert again.id == first.id and again.count == 2
    assert other.id != first.id


def test_a_kit_cannot_move_homes_silently(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="already belongs"):
        store.register_home(home_spec("home-2", "kit-1"), T0)


def test_only_a_registration_that_changes_a_kit_is_recorded_for_the_writers(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = store.last_kit_change()
    assert store.kit_changes_after(0)[-1][1] == "kit-1"  # registered by the fixture
    store.register_home(home_spec(), T0 + timedelta(hours=1))  # the same again: nothing
    assert store.kit_changes_after(start) == []
    renamed = home_spec()
    kit = renamed.kits[0]
    sensors = [s.model_copy(update={"room": "Yotoqxona"}) for s in kit.sensors]
    renamed = renamed.model_copy(update={"kits": [kit.model_copy(update={"sensors": sensors})]})
    store.register_home(renamed, T0 + timedelta(hours=2))
    store.register_home(home_spec("home-2", "kit-2"), T0 + timedelta(hours=2))
    changed = store.kit_changes_after(start)
    assert [kit_id for _, kit_id in changed] == ["kit-1", "kit-2"]
    assert store.last_kit_change() == changed[-1][0] > start
    kit_1 = store.kit("kit-1")
    assert kit_1 is not None and {room for _, room in kit_1.sensors.values()} == {"Yotoqxona"}
    # Two days later, changes more than a day older than the newest go as a new one comes (all
    # but the newest, so that numbering goes on upwards), and that one at the next; with the
    # 10,000 newest kept whatever their age (KEPT_ROWS) taken down to none.
    monkeypatch.setattr(hub.persistence.kit_changes, "KEPT_ROWS", 0)
    store.register_home(home_spec("home-3", "kit-3"), T0 + timedelta(days=2))
    store.register_home(home_spec("home-4", "kit-4"), T0 + timedelta(days=2))
    assert [kit_id for _, kit_id in store.kit_changes_after(0)] == ["kit-3", "kit-4"]
    assert store.last_kit_change() > changed[-1][0]


def test_a_registration_that_commits_late_is_not_missed_by_a_reader(store_url: str) -> None:
    # A reader that has seen a change must never meet one numbered before it later: on
    # PostgreSQL a sequence number is taken at the insert, not the commit, so registrations
    # take turns (an advisory lock) and a second waits for the first to commit.
    setup = open_store(store_url)
    setup.register_home(home_spec(), T0)
    setup.close()
    reader = open_store(store_url)
    seen = reader.last_kit_change()
    in_transaction, release = threading.Event(), threading.Event()
    renamed = home_spec()
    kit = renamed.kits[0]
    sensors = [s.model_copy(update={"room": "Oshxona"}) for s in kit.sensors]
    renamed = renamed.model_copy(update={"kits": [kit.model_copy(update={"sensors": sensors})]})

    def register(home: HomeSpec, hold: bool) -> None:
        store = open_store(store_url)  # one per thread, as each process has its own
        if hold:

            def commit_when_released() -> None:
                in_transaction.set()
                release.wait(10)
                SqlStore.commit(store)

            store.commit = commit_when_released  # type: ignore[method-assign]
        store.register_home(home, T0)
        store.close()

    late = threading.Thread(target=register, args=(renamed, True))
    late.start()
    assert in_transaction.wait(10)  # kit-1's change is written, not committed
    meanwhile = threading.Thread(target=register, args=(home_spec("home-2", "kit-2"), False))
    meanwhile.start()
    meanwhile.join(1.0)  # in turn: it waits for the first; at once, it would commit now
    changes = reader.kit_changes_after(seen)  # what a writer polling now reads
    seen = changes[-1][0] if changes else seen
    release.set()
    late.join(10)
    meanwhile.join(30)
    changes += reader.kit_changes_after(seen)
    assert sorted(kit_id for _, kit_id in changes) == ["kit-1", "kit-2"]
    reader.close()


def test_a_failing_step_leaves_the_previous_version(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    steps = ["CREATE TABLE a (x INTEGER);", "CREATE TABLE b (y INTEGER); CREATE TABLE a (z);"]
    with pytest.raises(sqlite3.OperationalError):
        apply_migrations(db, "extra", steps)
    assert db.execute("SELECT version FROM schema_migrations").fetchone() == (1,)
    assert db.execute("SELECT name FROM sqlite_master WHERE name='b'").fetchone() is None


def test_two_writers_storing_the_same_events_at_once_store_each_one_once(store_url: str) -> None:
    # Issue 14's design: every hub stores every event it receives, and the (kit, epoch, seq)
    # key makes it one row. Two stores (two hubs) write the same 600 events at the same time,
    # in batches and in opposite orders; a deadlock or busy database is retried, as ingest does.
    setup = open_store(store_url)
    setup.register_home(home_spec(), T0)
    setup.close()
    events = [_event(seq, minutes=seq) for seq in range(1, 601)]
    forward = [events[i : i + 50] for i in range(0, len(events), 50)]
    backward = [list(reversed(b)) for b in reversed(forward)]
    new_ids: list[list[int]] = [[], []]
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def write(index: int, batches: list[list[NewEvent]]) -> None:
        store = open_store(store_url)  # one store per thread, as each hub has its own
        try:
            start.wait()
            for batch in batches:
                while True:
                    try:
                        ids = store.store_events(batch, T0)
                        store.commit()
                        break
                    except Exception as exc:
                        store.rollback()
                        if not is_transient(exc):
                            raise
                new_ids[index].extend(i for i in ids if i is not None)
        except BaseException as exc:
            failures.append(exc)
        finally:
            store.close()

    threads = [
        threading.Thread(target=write, args=(0, forward)),
        threading.Thread(target=write, args=(1, backward)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    check = open_store(store_url)
    try:
        assert check.count_events() == 600
        assert sorted(e.seq for e in check.events()) == list(range(1, 601))
        # Each event was new to exactly one writer: the other one's copy wrote nothing.
        assert len(new_ids[0]) + len(new_ids[1]) == 600
        assert set(new_ids[0]).isdisjoint(new_ids[1])
        (state,) = check.sensor_states("home-1")
        assert state.occurred_at == T0 + timedelta(minutes=600)
    finally:
        check.close()


def test_the_alert_engine_s_tables_make_kit_outages_count(store: SqlStore) -> None:
    assert store.watched_since("home-1") is None  # no alert tables yet: no outage on record
    migrate_alerts(store.connection, "test")
    store.set_availability("kit-1", "online", T0 + timedelta(hours=2))
    store.connection.execute(
        "INSERT INTO kit_outages(kit_id, since, home_id, mahalla, ended_at) "
        "VALUES ('kit-1', :start, 'home-1', '', :end)",
        {"start": T0.timestamp(), "end": T0.timestamp() + 3600},
    )
    store.commit()
    assert store.watched_since("home-1") == T0 + timedelta(hours=1)


def test_a_commissioning_report_gets_an_id_and_is_read_back(store: SqlStore) -> None:
    first = store.save_commissioning_report("kit-1", "home-1", T0, True, {"n": 1})
    second = store.save_commissioning_report(
        "kit-1", "home-1", T0 + timedelta(minutes=5), False, {"n": 2}
    )
    assert second > first > 0
    assert store.commissioning_reports("kit-1") == [{"n": 2}, {"n": 1}]


def test_every_component_s_schema_is_created_by_the_one_runner(store_url: str) -> None:
    with connect(store_url) as conn:
        assert migrate_alerts(conn, "test") == len(ALERT_MIGRATIONS)
        assert migrate_web(conn, "test") == len(WEB_MIGRATIONS)
        # A second start finds everything in place and changes nothing.
        assert migrate_alerts(conn, "test") == len(ALERT_MIGRATIONS)
        versions = {
            r[0]: r[1] for r in conn.execute("SELECT component, version FROM schema_migrations")
        }
    assert versions == {
        "core": len(MIGRATIONS),
        "coordination": len(COORDINATION_MIGRATIONS),
        "alerts": len(ALERT_MIGRATIONS),
        "web": len(WEB_MIGRATIONS),
    }


def test_two_processes_starting_at_once_migrate_the_database_once(
    store_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # The hub and the web app (or two hubs) start together on an empty database. On SQLite the
    # race that matters (two connections switching a new file to WAL at once) is lost only now
    # and then, so a fresh file is raced several times.
    rounds = 12 if "sqlite" in request.node.name else 1
    for round_number in range(rounds):
        url = store_url if round_number == 0 else str(tmp_path / f"round-{round_number}.db")
        _migrate_from_three_connections_at_once(url)
        with connect(url) as conn:
            rows = conn.execute("SELECT component, version FROM schema_migrations").fetchall()
        assert sorted((r[0], r[1]) for r in rows) == [
            ("alerts", len(ALERT_MIGRATIONS)),
            ("coordination", len(COORDINATION_MIGRATIONS)),
            ("core", len(MIGRATIONS)),
            ("web", len(WEB_MIGRATIONS)),
        ]


def _migrate_from_three_connections_at_once(url: str) -> None:
    failures: list[BaseException] = []
    start = threading.Barrier(3)

    def migrate() -> None:
        try:
            start.wait()
            with connect(url) as conn:
                migrate_alerts(conn, "test")
                migrate_web(conn, "test")
        except BaseException as exc:
            failures.append(exc)
            start.abort()  # the others stop waiting for a thread that will never come

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [f for f in failures if not isinstance(f, threading.BrokenBarrierError)] == []
    assert failures == []


def test_the_scan_reads_a_homes_signs_of_life_from_the_index_alone(tmp_path: Path) -> None:
    """In a live database one home's rows lie one per table page (many homes' events arrive
    together): `activity_events`, read at every look and re-learn, must not touch the table."""
    store = SqliteStore(tmp_path / "hub.db")
    store.register_home(home_spec(), T0)
    store.store_events([_event(n, minutes=n) for n in range(1, 30)], T0)
    store.commit()
    store.connection.execute("ANALYZE")
    args = {"home": "home-1", "since": 0.0, "until": 1e12}
    explained = store.connection.execute(f"EXPLAIN QUERY PLAN {ACTIVITY_EVENTS_SQL}", args)
    plan = [row[3] for row in explained]
    assert any("COVERING INDEX events_home_activity" in step for step in plan), plan
    got = store.activity_events("home-1", T0, T0 + timedelta(hours=2))
    assert len(got) == 29 and got[0][0] < got[-1][0]
    store.close()


def test_a_database_of_the_last_release_gets_the_scan_s_index(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path, isolation_level=None) as db:
        apply_migrations(db, "core", MIGRATIONS[:2])
        db.execute(
            "INSERT INTO events (home_id, kit_id, epoch, seq, sensor_id, kind, value, room, "
            "occurred_at, received_at, stored_at) "
            "VALUES ('h', 'k', 1, 1, 's', 'motion', 'true', 'Kitchen', 1, 1, 1)"
        )
    store = SqliteStore(path)
    indexes = {
        row[0]
        for row in store.connection.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='events'"
        )
    }
    # Step 4 then leaves every event in exactly one of two home-and-time indexes.
    assert {"events_home_activity", "events_home_other"} <= indexes
    assert "events_home_time" not in indexes
    assert store.connection.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    assert store.count_events("h") == 1
    store.close()


def test_an_accelerometer_window_is_stored_beside_the_scan_s_index(store: SqlStore) -> None:
    """A window's value is kilobytes of samples: PostgreSQL refuses index entries over 2,704
    bytes, so the signs-of-life index must not hold it (a refused window once stopped every
    writer: the error was taken for a transient one and retried forever)."""
    rng = random.Random(1)  # real samples are noisy: they do not compress below the limit
    samples = [[round(rng.gauss(0, 3), 4) for _ in range(3)] for _ in range(600)]
    window = NewEvent(
        "home-1", "kit-1", 1, 1, "accel", "accel_window", {"hz": 50, "samples": samples},
        "Bedroom", T0, T0,
    )  # fmt: skip
    ids = store.store_events([window, _event(2)], T0)
    store.commit()
    assert all(i is not None for i in ids)
    assert [e[3] for e in store.activity_events("home-1", T0 - timedelta(minutes=1), T0)] == [
        "motion"
    ]


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        ("ProgramLimitExceeded", False),  # an index entry too large: the data's fault
        ("StringDataRightTruncation", False),
        ("DeadlockDetected", True),
        ("SerializationFailure", True),
        ("AdminShutdown", True),
        ("LockNotAvailable", True),
        ("DiskFull", True),
    ],
)
def test_a_postgresql_error_is_retried_only_when_it_says_nothing_about_the_data(
    error: str, transient: bool
) -> None:
    import psycopg.errors

    assert is_transient(getattr(psycopg.errors, error)("from the server")) is transient


def test_the_engine_reads_only_the_kits_that_said_they_are_offline(store: SqlStore) -> None:
    """Every engine pass asks; at 100,000 kits a record of each in Python held the engine and
    ingest (docs/benchmarks.md). The online ones, and kits never heard, are not read."""
    from hub.persistence.kits import offline_kits

    store.register_home(home_spec("home-2", "kit-2"), T0)
    store.register_home(home_spec("home-3", "kit-3"), T0)
    store.set_availability("kit-1", "online", T0)
    store.set_availability("kit-2", "offline", T0 + timedelta(minutes=3))
    store.commit()
    got = offline_kits(store.connection)
    assert [(k.kit_id, k.home_id, k.availability) for k in got] == [
        ("kit-2", "home-2", "offline")
    ]
    assert got[0].availability_at == T0 + timedelta(minutes=3)
