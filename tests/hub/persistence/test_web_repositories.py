"""The web app's repositories and read models (hub/persistence/web_* and friends).

Repositories of the web's own tables run on SQLite and on PostgreSQL (`web_conn`); read models
over the hub's core tables run on SQLite, seeded through the hub's own store, until the core
schema has its PostgreSQL form (issue 14).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect, text

from hub.alerts.engine import open_alerts_db
from hub.persistence import accounts, audit, read_models, sessions, visits, web_live, web_metrics
from hub.persistence.accounts import NewAccount, UsernameTakenError
from hub.persistence.database import open_sqlite
from hub.persistence.read_models import HomeScope
from hub.persistence.sessions import LoginThrottle, SessionRecord
from hub.persistence.sqlite_store import SqliteStore
from hub.persistence.web_database import atomic, create_web_engine, is_busy
from hub.persistence.web_schema import WEB_TABLES, migrate_web
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.store.base import NewAlert, NewEvent
from mehr.contract import SensorKind

NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)  # 14:30 in Tashkent


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A hub database with two homes in two mahallas (core, alerts and web schemas)."""
    path = tmp_path / "mehr.db"
    store = SqliteStore(path)
    for home_id, mahalla in (("home-a", "Navbahor"), ("home-b", "Bog'ishamol")):
        sensors = [SensorSpec(id="pir", kind=SensorKind.MOTION, room="Kitchen")]
        store.register_home(
            HomeSpec(
                id=home_id,
                name=f"Home {home_id[-1].upper()}",
                mahalla=mahalla,
                kits=[KitSpec(id=f"kit-{home_id[-1]}", sensors=sensors)],
            ),
            NOW,
        )
    store.commit()
    store.close()
    conn = open_alerts_db(path)
    migrate_web(conn, str(path))
    conn.close()
    return path


@pytest.fixture
def conn(db_path: Path) -> Iterator[Connection]:
    """A web connection, as a request gets one."""
    with create_web_engine(db_path, busy_timeout_s=5).connect() as connection:
        yield connection


@pytest.fixture
def worker(conn: Connection) -> int:
    """A social worker's account id (requests name who filed and who handled them)."""
    return accounts.insert_account(conn, _account("worker", mahallas=("Navbahor",)))


@pytest.fixture
def web_worker(web_conn: Connection) -> int:
    """The same, on either backend."""
    return accounts.insert_account(web_conn, _account("worker", mahallas=("Navbahor",)))


def _account(name: str, **scope: object) -> NewAccount:
    return NewAccount(
        username=name,
        display_name="",
        role="social_worker",
        password_hash="$argon2id$not-checked-here",
        lang="uz",
        created_at=NOW,
        **scope,  # type: ignore[arg-type]
    )


# -- one way to connect -------------------------------------------------------------------------


def test_a_page_reads_while_another_writer_holds_the_lock(conn: Connection, db_path: Path) -> None:
    """Reads autocommit: they never queue behind the hub's write transaction."""
    writer = open_sqlite(db_path)
    writer.execute("BEGIN IMMEDIATE")
    try:
        homes = read_models.visible_homes(conn, HomeScope(all_homes=True))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert [h.id for h in homes] == ["home-a", "home-b"]


def test_a_write_blocked_past_the_timeout_is_busy_and_leaves_nothing(db_path: Path) -> None:
    """A stuck writer makes the web's transaction fail as 'busy' (a 503), with no half of it."""
    writer = open_sqlite(db_path)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with (
            create_web_engine(db_path, busy_timeout_s=0.05).connect() as conn,
            pytest.raises(Exception) as raised,
        ):
            accounts.insert_account(conn, _account("late", homes=("home-a",)))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert is_busy(raised.value)
    assert not is_busy(ValueError("database is locked"))


def test_atomic_keeps_all_or_nothing(web_conn: Connection, web_worker: int) -> None:
    """An error inside atomic() rolls back every statement of the unit."""
    conn = web_conn
    with pytest.raises(RuntimeError), atomic(conn):
        visits.insert_request(conn, "home-a", "visit", "", web_worker, NOW)
        raise RuntimeError("halfway")
    assert visits.requests_of(conn, ["home-a"]) == []


# -- accounts -----------------------------------------------------------------------------------


def test_an_account_comes_back_with_its_scope(web_conn: Connection) -> None:
    """Homes, mahallas and 'all' scope rows fold into one record."""
    conn = web_conn
    user_id = accounts.insert_account(
        conn, _account("nodira", homes=("home-a",), mahallas=("Navbahor",))
    )
    record = accounts.account_by_name(conn, "nodira")
    assert record is not None and record.id == user_id
    assert (record.homes, record.mahallas, record.all_scope) == (
        frozenset({"home-a"}),
        frozenset({"Navbahor"}),
        False,
    )
    accounts.set_lang(conn, user_id, "ru")
    accounts.set_large_text(conn, user_id, True)
    again = accounts.account_by_id(conn, user_id)
    assert again is not None and (again.lang, again.large_text) == ("ru", True)


def test_a_taken_username_is_refused_and_leaves_no_scope_rows(web_conn: Connection) -> None:
    """The second account with a name fails whole: no user row, no stray scope rows."""
    conn = web_conn
    accounts.insert_account(conn, _account("nodira"))
    with pytest.raises(UsernameTakenError):
        accounts.insert_account(conn, _account("nodira", homes=("home-b",)))
    scopes = conn.execute(text("SELECT COUNT(*) FROM web_user_scope")).scalar_one()
    assert scopes == 0
    assert [a.username for a in accounts.active_accounts(conn)] == ["nodira"]


def test_mahalla_workers_are_the_social_workers_scoped_there(web_conn: Connection) -> None:
    """Who to call about a home: social workers of its mahalla, by name."""
    conn = web_conn
    accounts.insert_account(conn, _account("w1", mahallas=("Navbahor",)))
    accounts.insert_account(conn, _account("w2", mahallas=("Bog'ishamol",)))
    assert [w.name for w in accounts.mahalla_workers(conn, "Navbahor")] == ["w1"]


# -- sessions and throttling --------------------------------------------------------------------


def test_an_expired_session_is_gone_after_it_is_looked_up(web_conn: Connection) -> None:
    """A live session comes back; an expired one is deleted when seen."""
    conn = web_conn
    user_id = accounts.insert_account(conn, _account("nodira"))
    sessions.insert_session(conn, "d1", SessionRecord(user_id, "csrf", NOW.timestamp() + 60), NOW)
    assert sessions.session_by_digest(conn, "d1", NOW) == SessionRecord(
        user_id, "csrf", NOW.timestamp() + 60
    )
    later = NOW + timedelta(minutes=2)
    assert sessions.session_by_digest(conn, "d1", later) is None
    assert sessions.session_by_digest(conn, "d1", NOW) is None  # removed, not just hidden


def test_failures_slow_a_pair_down_and_a_right_password_forgets_them(
    web_conn: Connection,
) -> None:
    """After the free failures the wait doubles; forgetting clears the pair and one mark."""
    conn = web_conn
    rule = LoginThrottle(
        free_failures=2, base_delay_s=10, max_delay_s=100, address_max_failures=50, window_s=900
    )
    waits = [sessions.throttle_or_mark(conn, "pair", "addr", NOW, rule) for _ in range(3)]
    assert waits == [0.0, 0.0, 10.0]  # the third attempt waits, and is not counted
    sessions.forget_failures(conn, "pair", "addr")
    assert sessions.login_wait(conn, "pair", "addr", NOW, rule) == 0.0
    cap = LoginThrottle(
        free_failures=9, base_delay_s=10, max_delay_s=100, address_max_failures=1, window_s=900
    )
    # One of the two address marks is left: the address cap of 1 still holds it back.
    assert sessions.login_wait(conn, "other", "addr", NOW, cap) == 900.0


# -- audit and requests -------------------------------------------------------------------------


def test_audit_entries_come_back_newest_first_with_their_detail(web_conn: Connection) -> None:
    """The trail keeps who, what, where and the detail as JSON."""
    conn = web_conn
    for action in ("view", "alert.acknowledge"):
        audit.insert_audit(
            conn,
            audit.NewAuditEntry(NOW, None, "nodira", action, "alert:1", {"n": 1}, "10.0.0.1"),
        )
    entries = audit.recent_audit(conn, limit=5)
    assert [e.action for e in entries] == ["alert.acknowledge", "view"]
    assert entries[0].detail == {"n": 1} and entries[0].address == "10.0.0.1"


def test_requests_move_on_and_leave_the_open_list(web_conn: Connection, web_worker: int) -> None:
    """A done request is no longer open; every field comes back typed."""
    conn, worker = web_conn, web_worker
    first = visits.insert_request(conn, "home-a", "visit", "please", worker, NOW)
    visits.insert_request(conn, "home-b", "call", "", worker, NOW + timedelta(seconds=1))
    visits.update_request_state(conn, first, "done", worker, NOW + timedelta(hours=1))
    record = visits.request_by_id(conn, first)
    assert record is not None and (record.state, record.handled_by) == ("done", worker)
    assert record.created_by == worker
    assert record.updated_at == NOW + timedelta(hours=1)
    assert [r.home_id for r in visits.requests_of(conn, ["home-a", "home-b"])] == ["home-b"]
    everything = visits.requests_of(conn, ["home-a", "home-b"], open_only=False)
    assert [r.id for r in everything] == [first, first + 1]


# -- read models --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (HomeScope(all_homes=True), ["home-a", "home-b"]),
        (HomeScope(homes=frozenset({"home-b"})), ["home-b"]),
        (HomeScope(mahallas=frozenset({"Navbahor"})), ["home-a"]),
        (
            HomeScope(homes=frozenset({"home-b"}), mahallas=frozenset({"Navbahor"})),
            ["home-a", "home-b"],
        ),
        (HomeScope(), []),
    ],
)
def test_a_scope_sees_exactly_its_homes(
    conn: Connection, scope: HomeScope, expected: list[str]
) -> None:
    """Tenancy's query: all, by home, by mahalla, both, or nothing at all."""
    assert [h.id for h in read_models.visible_homes(conn, scope)] == expected
    for home_id in ("home-a", "home-b"):
        found = read_models.home_if_visible(conn, scope, home_id)
        assert (found is not None) == (home_id in expected)


def _motion(db_path: Path, times: list[datetime], room: str = "Kitchen") -> None:
    store = SqliteStore(db_path)
    events = [
        NewEvent("home-a", "kit-a", 1, i + 1, "pir", "motion", True, room, t, t)
        for i, t in enumerate(times)
    ]
    store.store_events(events, NOW)
    store.commit()
    store.close()


def test_motion_is_counted_per_day_from_the_start(conn: Connection, db_path: Path) -> None:
    """Days are whole 24-hour steps from `start`: first, last and how many per day."""
    start = NOW - timedelta(days=3)
    day1 = [start + timedelta(hours=h) for h in (1, 5, 23)]
    day3 = [start + timedelta(days=2, hours=h) for h in (2, 3)]
    _motion(db_path, day1 + day3)
    days = read_models.motion_days(conn, "home-a", start, NOW)
    assert [(d.count, d.first, d.last) for d in days] == [
        (3, day1[0].timestamp(), day1[-1].timestamp()),
        (2, day3[0].timestamp(), day3[-1].timestamp()),
    ]
    moves = read_models.moves_between(conn, "home-a", start, NOW, with_room=True)
    assert [ts for _, ts in moves] == [t.timestamp() for t in day1 + day3]
    last = read_models.last_activity(conn, "home-a")
    assert last == ("Kitchen", day3[-1])
    assert read_models.last_activity_by_home(conn, ["home-a", "home-b"]) == {
        "home-a": day3[-1].timestamp()
    }


def test_kits_carry_their_heartbeat_and_the_outbox_sums_over_kits(
    conn: Connection, db_path: Path
) -> None:
    """A kit's heartbeat comes back parsed; /metrics adds the kits' outbox depths."""
    store = SqliteStore(db_path)
    store.set_availability("kit-a", "online", NOW)
    store.set_heartbeat("kit-a", NOW, {"outbox_depth": 3})
    store.set_heartbeat("kit-b", NOW, {"outbox_depth": 4})
    store.commit()
    store.close()
    kits = read_models.kits_of_homes(conn, ["home-a", "home-b"])
    assert [(k.id, k.online, k.heartbeat.get("outbox_depth")) for k in kits] == [
        ("kit-a", True, 3),
        ("kit-b", False, 4),
    ]
    assert read_models.kit_home_id(conn, "kit-b") == "home-b"
    assert web_metrics.kit_outbox_depth(conn) == 7
    assert web_metrics.database_answers(conn)


def test_the_live_fingerprint_moves_when_an_alert_changes_state_within_a_second(
    conn: Connection, db_path: Path, worker: int
) -> None:
    """The live pages refresh when anything they show changes, even with the clock still."""
    store = SqliteStore(db_path)
    alert, _ = store.raise_alert(NewAlert("home-a", "help_button", "critical", NOW, None, {}))
    store.commit()
    store.close()
    before = web_live.fingerprint(conn, ["home-a"])
    raw = open_sqlite(db_path)  # the engine's transition, its clock standing still
    raw.execute("UPDATE alerts SET state='acknowledged' WHERE id=?", (alert.id,))
    raw.close()
    acknowledged = web_live.fingerprint(conn, ["home-a"])
    assert acknowledged != before
    visits.insert_request(conn, "home-a", "visit", "", worker, NOW)
    assert web_live.fingerprint(conn, ["home-a"]) != acknowledged
    assert web_live.fingerprint(conn, ["home-b"]) == web_live.fingerprint(conn, ["home-b"])
    assert web_live.fingerprint(conn, []) == ()


def test_the_postgresql_tables_match_the_sqlite_migration(db_path: Path) -> None:
    """WEB_TABLES (PostgreSQL) and WEB_MIGRATIONS (SQLite) define the same columns and keys."""
    engine = create_web_engine(db_path, busy_timeout_s=5)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            for table in WEB_TABLES.sorted_tables:
                # Key columns aside: SQLite reports an INTEGER PRIMARY KEY as nullable.
                columns = {
                    c["name"]: c["nullable"] or c["name"] in table.primary_key.columns
                    for c in found.get_columns(table.name)
                }
                declared = {c.name: c.nullable or c.primary_key for c in table.columns}
                assert columns == declared, table.name
                primary = found.get_pk_constraint(table.name)["constrained_columns"]
                assert primary == [c.name for c in table.primary_key.columns], table.name
    finally:
        engine.dispose()
