"""The hub's Store over the persistence layer's Connection: SQLite or PostgreSQL, one SQL.

`SqlStore` holds the SQL (named parameters, ON CONFLICT, RETURNING: the same text runs on both);
`SqlStore.open(url)` opens it from a database URL; `SqliteStore(path)` is the one opened on a
SQLite file (WAL, versioned migrations), which most callers still name. Events are stored once
per (kit, epoch, seq): the `events` table's UNIQUE key and `ON CONFLICT DO NOTHING` make a
second copy (a kit's retry, or a second hub storing the same message) a no-op on either backend.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.persistence import alerts as alerts_repo
from hub.persistence.connection import Connection
from hub.persistence.database import (
    DatabaseUrl,
    Synchronous,
    dialect_of,
    open_connection,
    open_sqlite,
    parse_database_url,
)
from hub.persistence.event_index_terms import SIGN_OF_LIFE, each_index
from hub.persistence.kit_changes import changes_after, last_change
from hub.persistence.kit_changes import record_change as record_kit_change
from hub.persistence.migrate import apply_migrations, schema_version
from hub.persistence.schema_coordination import migrate_coordination
from hub.persistence.schema_core import MIGRATIONS
from hub.persistence.sensor_state_buffer import SensorStateBuffer
from hub.persistence.timestamps import from_epoch, from_epoch_or_none, to_epoch
from hub.places import guess_place
from hub.registry import HomeSpec
from hub.store.base import (
    AlertRecord,
    EventRecord,
    HomeRecord,
    KitRecord,
    NewAlert,
    NewEvent,
    SensorStateRecord,
)

__all__ = ["ACTIVITY_EVENTS_SQL", "SqlStore", "SqliteStore", "open_store"]

_LOGGER = logging.getLogger(__name__)
# PostgreSQL advisory lock key of "registering homes and kits" (any constant the project owns).
_REGISTRATION_LOCK = 0x4D656873
_FUTURE_STATE_MARGIN_S = 86400.0
_REPLAY_CHUNK = 10_000

_INSERT_EVENT = (
    "INSERT INTO events(home_id, kit_id, epoch, seq, sensor_id, kind, value, room, "
    "occurred_at, received_at, stored_at) VALUES (:home_id, :kit_id, :epoch, :seq, :sensor_id, "
    ":kind, :value, :room, :occurred_at, :received_at, :stored_at) "
    "ON CONFLICT(kit_id, epoch, seq) DO NOTHING"
)
# SQLite inserts row by row and reads lastrowid: ~40 % cheaper per row than RETURNING through
# sqlite3, and a round trip costs nothing there. PostgreSQL gets INSERT … RETURNING over arrays
# (`_store_events_postgres`).
# Keep only the newest event per sensor: events may arrive out of order after an outage, and an
# old one must not overwrite what the sensor said since. A state stamped more than a day after
# this event's arrival (the most any hub setting lets a kit clock run ahead) came from a broken
# clock, stored before the hub refused such times: it is not newer, and must not stick until
# its date comes.
_UPSERT_SENSOR_STATE = (
    "INSERT INTO sensor_state(kit_id, sensor_id, home_id, kind, room, value, occurred_at) "
    "VALUES (:kit_id, :sensor_id, :home_id, :kind, :room, :value, :occurred_at) "
    "ON CONFLICT(kit_id, sensor_id) DO UPDATE SET kind=excluded.kind, room=excluded.room, "
    "value=excluded.value, occurred_at=excluded.occurred_at "
    "WHERE excluded.occurred_at >= sensor_state.occurred_at "
    "OR sensor_state.occurred_at > :future_limit"
)
_EVENT_COLUMNS = (
    "home_id",
    "kit_id",
    "epoch",
    "seq",
    "sensor_id",
    "kind",
    "value",
    "room",
    "occurred_at",
    "received_at",
    "stored_at",
)
_EVENT_TYPES = ("TEXT", "TEXT", "BIGINT", "BIGINT", "TEXT", "TEXT", "TEXT", "TEXT") + (
    "DOUBLE PRECISION",
) * 3
# unnest() yields the arrays in order, so in practice ids follow the batch (as on SQLite).
_INSERT_EVENTS_UNNEST = (
    f"INSERT INTO events({', '.join(_EVENT_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in zip(_EVENT_COLUMNS, _EVENT_TYPES, strict=True))
    + ") ON CONFLICT(kit_id, epoch, seq) DO NOTHING RETURNING id, kit_id, epoch, seq"
)


def _event_key(row: dict[str, Any]) -> tuple[str, int, int]:
    """An event's unique key (kit, epoch, seq)."""
    return row["kit_id"], int(row["epoch"]), int(row["seq"])


def _positional(sql: str, order: tuple[str, ...]) -> str:
    """`sql` with `?` for each `:name`, checked to take the names in `order` (the hot path's
    tuples are written in that order)."""
    names = tuple(re.findall(r":(\w+)", sql))
    if names != order:
        raise AssertionError(f"parameters {names} are not in the order {order}")
    return re.sub(r":\w+", "?", sql)


_INSERT_EVENT_SQLITE = _positional(_INSERT_EVENT, _EVENT_COLUMNS)
_UPSERT_SENSOR_STATE_SQLITE = _positional(
    _UPSERT_SENSOR_STATE,
    ("kit_id", "sensor_id", "home_id", "kind", "room", "value", "occurred_at", "future_limit"),
)
_HAS_TABLE = {
    "sqlite": "SELECT 1 FROM sqlite_master WHERE type='table' AND name=:name",
    "postgresql": "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
    "AND tablename = :name",
}


# A home's signs of life, oldest first (`SqlStore.activity_events`). The kind list repeats the
# partial index's WHERE (schema step 3) so that the index alone answers the query.
ACTIVITY_EVENTS_SQL = (
    "SELECT occurred_at, kit_id, sensor_id, "
    "CASE WHEN kind='occupancy' AND value='false' THEN 'vacated' ELSE kind END, room "
    "FROM events WHERE home_id=:home AND occurred_at>=:since AND occurred_at<=:until "
    f"AND {SIGN_OF_LIFE} "
    "AND ((kind IN ('motion', 'appliance') AND value='true') "
    "OR kind IN ('door', 'help_button', 'ok_button', 'occupancy')) "
    "ORDER BY occurred_at"
)


class SqlStore:
    """The hub's database behind one connection. Not thread-safe: one instance per thread.

    The connection is in autocommit mode and the store issues BEGIN itself, so a batch of
    events is exactly one transaction (BEGIN IMMEDIATE on SQLite: the write lock at once).
    """

    def __init__(self, conn: Connection, source: str) -> None:
        self._db = conn
        self.source = source
        self.dialect = dialect_of(conn)
        self._begin_sql = "BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN"
        self._in_tx = False
        self._tables_seen: set[str] = set()
        self._sqlite_db = conn if isinstance(conn, sqlite3.Connection) else None
        # Told how long each BEGIN waited for the write lock and each COMMIT took (seconds),
        # when the owner wants to know (the routine writer's, hub/writer_waits.py).
        self.on_lock_wait: Callable[[float], None] | None = None
        self.on_commit: Callable[[float], None] | None = None
        # The routine writer's, on SQLite: sensor states written a slice per commit, not one
        # upsert per event (hub/persistence/sensor_state_buffer.py).
        self.sensor_state_buffer: SensorStateBuffer | None = None
        self._migrate()

    @classmethod
    def open(
        cls,
        url: DatabaseUrl | str | Path,
        synchronous: Synchronous = "FULL",
        busy_timeout_s: float = 30.0,
    ) -> SqlStore:
        """Open (and migrate) the database a URL names: a SQLite file or a PostgreSQL server."""
        return open_store(url, synchronous, busy_timeout_s)

    # -- schema ---------------------------------------------------------------------------------

    def _migrate(self) -> None:
        apply_migrations(self._db, "core", MIGRATIONS, self.source)
        # raise_alert's merge relies on the coordination schema's one-open-alert index.
        migrate_coordination(self._db, self.source)

    def schema_version(self, component: str = "core") -> int:
        """Return the schema version of one component of the open database."""
        return schema_version(self._db, component)

    @property
    def connection(self) -> Connection:
        """The underlying connection, for components that keep their own tables here."""
        return self._db

    # -- transactions ---------------------------------------------------------------------------

    def _begin(self) -> None:
        if not self._in_tx:
            started = time.perf_counter()
            try:
                self._db.execute(self._begin_sql)
            finally:  # a BEGIN that gave up after the busy timeout waited longest of all
                if self.on_lock_wait is not None:
                    self.on_lock_wait(time.perf_counter() - started)
            self._in_tx = True

    def commit(self) -> None:
        """Commit the open transaction, if any (with the sensor states due, when buffered)."""
        if self._in_tx:
            if self.sensor_state_buffer is not None:
                self._write_states(self.sensor_state_buffer.due())
            started = time.perf_counter()
            try:
                self._db.execute("COMMIT")
                self._in_tx = False
                if self.sensor_state_buffer is not None:
                    self.sensor_state_buffer.committed()
            finally:
                if self.on_commit is not None:
                    self.on_commit(time.perf_counter() - started)

    def rollback(self) -> None:
        """Roll back the open transaction, if any."""
        if self.sensor_state_buffer is not None:
            self.sensor_state_buffer.rolled_back()
        if self._in_tx:
            self._in_tx = False
            self._db.execute("ROLLBACK")

    def close(self) -> None:
        """Roll back anything uncommitted, write the sensor states still held, and close."""
        try:
            self.rollback()
            self._write_all_states()
        finally:
            self._db.close()

    def write_due_sensor_states(self) -> None:
        """Between batches: the sensor states due, in a transaction of their own, when no
        batch's commit has carried them for a moment (a quiet hub, or batches that wrote
        nothing), so they are written on time too."""
        buffer = self.sensor_state_buffer
        if buffer is None or self._in_tx or not buffer.idle_due():
            return
        try:
            self._begin()  # commit() takes the rows due
            self.commit()
        except Exception:
            self.rollback()  # the rows are offered again
            raise

    def _write_all_states(self) -> None:
        buffer = self.sensor_state_buffer
        if buffer is None:
            return
        rows = buffer.everything()
        if rows:
            try:
                self._begin()
                self._write_states(rows)
                self._db.execute("COMMIT")
                self._in_tx = False
            except sqlite3.Error as exc:
                self.rollback()
                _LOGGER.warning(
                    "%d sensor states not written at close (%s): the next start writes them "
                    "from the events",
                    len(rows),
                    exc,
                )
                return
        buffer.all_written()

    def _write_states(self, rows: list[Any]) -> None:
        if rows and self._sqlite_db is not None:
            self._sqlite_db.executemany(_UPSERT_SENSOR_STATE_SQLITE, rows)

    def replay_sensor_states(self, window_s: float) -> int:
        """Write `sensor_state` again from the events stored in the last `window_s` seconds
        before the newest one (a buffered writer's states not yet written when the hub last
        stopped); return how many events were replayed. SQLite only (0 elsewhere)."""
        db = self._sqlite_db
        if db is None:
            return 0
        first: int | None = None
        cutoff: float | None = None
        # Newest first by id: rows are stored in id order, so the scan stops at the window's
        # edge rather than reading the table.
        for event_id, stored_at in db.execute("SELECT id, stored_at FROM events ORDER BY id DESC"):
            if cutoff is None:
                cutoff = float(stored_at) - window_s
            elif float(stored_at) < cutoff:
                break
            first = int(event_id)
        if first is None:
            return 0
        replayed = 0
        self._begin()
        try:
            events = db.execute(
                "SELECT kit_id, sensor_id, home_id, kind, room, value, occurred_at, "
                f"received_at + {_FUTURE_STATE_MARGIN_S!r} FROM events WHERE id >= ? ORDER BY id",
                (first,),
            )
            while rows := events.fetchmany(_REPLAY_CHUNK):  # a district's minutes: not at once
                db.executemany(_UPSERT_SENSOR_STATE_SQLITE, rows)
                replayed += len(rows)
            self.commit()
        except Exception:
            self.rollback()
            raise
        return replayed

    # -- registry -------------------------------------------------------------------------------

    def register_home(self, home: HomeSpec, now: datetime) -> None:
        """Insert or update a home with its kits and sensors (sensors not listed are removed)."""
        self._begin()
        try:
            self._register_home(home, now)
        except Exception:
            self.rollback()
            raise
        self.commit()

    def _register_home(self, home: HomeSpec, now: datetime) -> None:
        if self.dialect == "postgresql":
            # One registration at a time: kit_changes' numbers are then in commit order (a
            # reader that has seen a change never misses one numbered before it), and two
            # registrations of one kit do not both find its old sensors to replace.
            self._db.execute("SELECT pg_advisory_xact_lock(:key)", {"key": _REGISTRATION_LOCK})
        ts = to_epoch(now)
        self._db.execute(
            "INSERT INTO homes(id, name, timezone, mahalla, risk_level, created_at) "
            "VALUES (:id, :name, :timezone, :mahalla, :risk_level, :created_at) "
            "ON CONFLICT(id) DO UPDATE SET name=excluded.name, timezone=excluded.timezone, "
            "mahalla=excluded.mahalla, risk_level=excluded.risk_level",
            {
                "id": home.id,
                "name": home.name,
                "timezone": home.timezone,
                "mahalla": home.mahalla,
                "risk_level": home.risk_level,
                "created_at": ts,
            },
        )
        for kit in home.kits:
            row = self._db.execute(
                "SELECT home_id FROM kits WHERE id=:id", {"id": kit.id}
            ).fetchone()
            if row is not None and row["home_id"] != home.id:
                raise ValueError(f"kit {kit.id!r} already belongs to home {row['home_id']!r}")
            sensors = [
                {
                    "kit_id": kit.id,
                    "id": s.id,
                    "kind": s.kind.value,
                    "room": s.room,
                    "place": (s.place or guess_place(s.kind, s.room, s.id)).value,
                }
                for s in kit.sensors
            ]
            if row is not None and self._registered_sensors(kit.id) == {
                tuple(sensor.values()) for sensor in sensors
            }:
                # Unchanged (the registry file is loaded again at every start): no write, and
                # no change for every writer to read the kit again for.
                continue
            self._db.execute(
                "INSERT INTO kits(id, home_id, created_at) VALUES (:id, :home_id, :created_at) "
                "ON CONFLICT(id) DO NOTHING",
                {"id": kit.id, "home_id": home.id, "created_at": ts},
            )
            self._db.execute("DELETE FROM sensors WHERE kit_id=:kit_id", {"kit_id": kit.id})
            if sensors:
                self._db.executemany(
                    "INSERT INTO sensors(kit_id, id, kind, room, place) "
                    "VALUES (:kit_id, :id, :kind, :room, :place)",
                    sensors,
                )
            record_kit_change(self._db, kit.id, now)

    def _registered_sensors(self, kit_id: str) -> set[tuple[Any, ...]]:
        """A kit's sensor rows, in `_register_home`'s column order."""
        rows = self._db.execute(
            "SELECT kit_id, id, kind, room, place FROM sensors WHERE kit_id=:kit_id",
            {"kit_id": kit_id},
        ).fetchall()
        return {tuple(row) for row in rows}

    def _kit_from_row(
        self, row: Any, sensors: dict[str, tuple[str, str]] | None = None
    ) -> KitRecord:
        if sensors is None:
            sensors = {
                s["id"]: (s["kind"], s["room"])
                for s in self._db.execute(
                    "SELECT id, kind, room FROM sensors WHERE kit_id=:id", {"id": row["id"]}
                )
            }
        return KitRecord(
            id=row["id"],
            home_id=row["home_id"],
            sensors=sensors,
            availability=row["availability"],
            availability_at=from_epoch_or_none(row["availability_at"]),
            last_heartbeat_at=from_epoch_or_none(row["last_heartbeat_at"]),
            last_heartbeat=json.loads(row["last_heartbeat"]) if row["last_heartbeat"] else None,
        )

    def kit(self, kit_id: str) -> KitRecord | None:
        """Return a registered kit, or None."""
        row = self._db.execute("SELECT * FROM kits WHERE id=:id", {"id": kit_id}).fetchone()
        return None if row is None else self._kit_from_row(row)

    def kits(self) -> list[KitRecord]:
        """Return every registered kit (two queries, not one per kit: the scan reads them all
        every pass)."""
        rows = self._db.execute("SELECT * FROM kits ORDER BY id").fetchall()
        sensors = self._sensors_by_kit()
        return [self._kit_from_row(row, sensors.get(row["id"], {})) for row in rows]

    def _sensors_by_kit(
        self, first: str | None = None, last: str | None = None
    ) -> dict[str, dict[str, tuple[str, str]]]:
        """Sensors (id -> (kind, room)) by kit, of every kit or of kits `first` … `last`."""
        sql, params = "SELECT kit_id, id, kind, room FROM sensors", {}
        if first is not None and last is not None:
            sql += " WHERE kit_id >= :first AND kit_id <= :last"  # the primary key's range
            params = {"first": first, "last": last}
        sensors: dict[str, dict[str, tuple[str, str]]] = {}
        for s in self._db.execute(sql, params):
            sensors.setdefault(s["kit_id"], {})[s["id"]] = (s["kind"], s["room"])
        return sensors

    def kit_registrations(self, page: int = 5000) -> Iterator[KitRecord]:
        """Every registered kit's home and sensors, without its state (heartbeat, availability):
        what ingest checks a message against. Read `page` kits at a time (two queries each, by
        the kits' and the sensors' primary keys), so a district's ~800,000 sensor rows are never
        all in memory at once: what is left of them after a read is heap the hub keeps."""
        after = ""
        while True:
            kits = self._db.execute(
                "SELECT id, home_id FROM kits WHERE id > :after ORDER BY id LIMIT :page",
                {"after": after, "page": page},
            ).fetchall()
            if not kits:
                return
            after = kits[-1]["id"]
            sensors = self._sensors_by_kit(kits[0]["id"], after)
            for row in kits:
                yield KitRecord(row["id"], row["home_id"], sensors.get(row["id"], {}))
            if len(kits) < page:
                return

    def last_kit_change(self) -> int:
        """Where the registry's changes stand now (read before reading the kits)."""
        return last_change(self._db)

    def kit_changes_after(self, seq: int) -> list[tuple[int, str]]:
        """The kits whose registration changed after `seq`, as (seq, kit id), oldest first."""
        return changes_after(self._db, seq)

    def kits_of_home(self, home_id: str) -> list[KitRecord]:
        """Return the kits of one home."""
        rows = self._db.execute(
            "SELECT * FROM kits WHERE home_id=:home ORDER BY id", {"home": home_id}
        )
        return [self._kit_from_row(row) for row in rows.fetchall()]

    def home(self, home_id: str) -> HomeRecord | None:
        """Return one registered home, or None."""
        r = self._db.execute("SELECT * FROM homes WHERE id=:id", {"id": home_id}).fetchone()
        return (
            None
            if r is None
            else HomeRecord(r["id"], r["name"], r["timezone"], r["mahalla"], r["risk_level"])
        )

    def homes(self) -> list[HomeRecord]:
        """Return every registered home."""
        return [
            HomeRecord(r["id"], r["name"], r["timezone"], r["mahalla"], r["risk_level"])
            for r in self._db.execute("SELECT * FROM homes ORDER BY id")
        ]

    # -- events ---------------------------------------------------------------------------------

    def store_events(self, events: Sequence[NewEvent], stored_at: datetime) -> list[int | None]:
        """Insert events, ignoring (kit, epoch, seq) already stored; return new ids or None."""
        self._begin()
        stored = to_epoch(stored_at)
        if self._sqlite_db is not None:
            return self._store_events_sqlite(
                self._sqlite_db, events, stored, self.sensor_state_buffer
            )
        return self._store_events_postgres([self._event_params(ev, stored) for ev in events])

    @staticmethod
    def _store_events_sqlite(
        db: sqlite3.Connection,
        events: Sequence[NewEvent],
        stored: float,
        buffer: SensorStateBuffer | None,
    ) -> list[int | None]:
        """Row by row with positional tuples and lastrowid: the hub's hot path on SQLite, as
        cheap per event as before PostgreSQL came (named mappings cost ~20 % more CPU per
        event, bench/store.py). The statements are the portable ones with `?` for `:name`."""
        ids: list[int | None] = []
        for ev in events:
            value = json.dumps(ev.value, separators=(",", ":"))  # once: events and sensor_state
            occurred = to_epoch(ev.occurred_at)
            received = to_epoch(ev.received_at)
            cur = db.execute(
                _INSERT_EVENT_SQLITE,
                (ev.home_id, ev.kit_id, ev.epoch, ev.seq, ev.sensor_id, ev.kind, value,
                 ev.room, occurred, received, stored),
            )  # fmt: skip
            if cur.rowcount == 0:  # stored before (by this hub or another): nothing written
                ids.append(None)
                continue
            ids.append(cur.lastrowid)
            state = (ev.kit_id, ev.sensor_id, ev.home_id, ev.kind, ev.room, value, occurred,
                     received + _FUTURE_STATE_MARGIN_S)  # fmt: skip
            if buffer is None:
                db.execute(_UPSERT_SENSOR_STATE_SQLITE, state)
            else:
                buffer.note(state)
        return ids

    @staticmethod
    def _event_params(ev: NewEvent, stored: float) -> dict[str, Any]:
        received = to_epoch(ev.received_at)
        # One mapping for both statements (each reads the names it needs); the value is
        # encoded once for events and sensor_state.
        return {
            "home_id": ev.home_id,
            "kit_id": ev.kit_id,
            "epoch": ev.epoch,
            "seq": ev.seq,
            "sensor_id": ev.sensor_id,
            "kind": ev.kind,
            "value": json.dumps(ev.value, separators=(",", ":")),
            "room": ev.room,
            "occurred_at": to_epoch(ev.occurred_at),
            "received_at": received,
            "stored_at": stored,
            "future_limit": received + _FUTURE_STATE_MARGIN_S,
        }

    def _store_events_postgres(self, rows: list[dict[str, Any]]) -> list[int | None]:
        """The batch in two round trips: one INSERT … SELECT FROM unnest(arrays) … RETURNING
        (eleven array parameters, however long the batch), then the sensor-state upserts in
        order as one executemany (psycopg pipelines it). Row by row, a 500-event batch was
        1,000 round trips; a multi-row VALUES list, 5,500 parameters to parse
        (bench/store.py)."""
        if not rows:
            return []
        # Rows go in in one order on every hub (events by key, sensor states by sensor; both
        # sorts stable): several hubs store the same events (replicated ingest), each batch in
        # its own arrival order, and two of them inserting one pair of keys in opposite orders
        # waited on each other until PostgreSQL's deadlock check (1 s) failed one batch -
        # measured with bench/capacity.py at 2 and 3 hubs. In one order, the later hub waits
        # for the earlier's commit and finds the rows stored.
        ordered = sorted(rows, key=_event_key)
        inserted = self._db.execute(
            _INSERT_EVENTS_UNNEST, {c: [row[c] for row in ordered] for c in _EVENT_COLUMNS}
        )
        new = {(r[1], int(r[2]), int(r[3])): int(r[0]) for r in inserted}
        ids: list[int | None] = []
        for row in rows:
            # A key twice in one batch: the first copy is the one that was stored.
            ids.append(new.pop(_event_key(row), None))
        fresh = [row for row, new_id in zip(rows, ids, strict=True) if new_id is not None]
        if fresh:
            # Stable: one sensor's rows keep the batch's order (the newest wins a tie).
            fresh.sort(key=lambda row: (row["kit_id"], row["sensor_id"]))
            self._db.executemany(_UPSERT_SENSOR_STATE, fresh)
        return ids

    @staticmethod
    def _event_from_row(r: Any) -> EventRecord:
        return EventRecord(
            id=r["id"],
            home_id=r["home_id"],
            kit_id=r["kit_id"],
            epoch=r["epoch"],
            seq=r["seq"],
            sensor_id=r["sensor_id"],
            kind=r["kind"],
            value=json.loads(r["value"]),
            room=r["room"],
            occurred_at=from_epoch(r["occurred_at"]),
            received_at=from_epoch(r["received_at"]),
            stored_at=from_epoch(r["stored_at"]),
        )

    def events(self, home_id: str | None = None, limit: int | None = None) -> list[EventRecord]:
        """Return stored events (optionally of one home), in storage order."""
        sql = "SELECT * FROM events"
        params: dict[str, Any] = {}
        if home_id is not None:
            # By both home-and-time indexes (event_index_terms), else the whole table is read.
            halves = each_index("SELECT * FROM events WHERE home_id=:home AND")
            sql = f"SELECT * FROM ({halves}) AS h"
            params["home"] = home_id
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        return [self._event_from_row(r) for r in self._db.execute(sql, params)]

    def count_events(self, home_id: str | None = None) -> int:
        """Return how many events are stored (optionally of one home)."""
        if home_id is None:
            row = self._db.execute("SELECT COUNT(*) FROM events").fetchone()
        else:
            halves = each_index("SELECT COUNT(*) AS n FROM events WHERE home_id=:home AND")
            row = self._db.execute(
                f"SELECT SUM(n) FROM ({halves}) AS h", {"home": home_id}
            ).fetchone()
        return int(row[0])

    def newest_event_id(self, kit_id: str) -> int:
        """The id of the kit's last stored event (0: none). Ids, not (epoch, seq): a kit's
        epoch is drawn at random when its outbox is new (edge/outbox.py), so a new SD card
        may count below the old one."""
        row = self._db.execute(
            "SELECT COALESCE(MAX(id), 0) FROM events WHERE kit_id=:kit", {"kit": kit_id}
        ).fetchone()
        return int(row[0])

    def sensors_heard_after(self, kit_id: str, after_id: int) -> dict[str, datetime]:
        """Each of the kit's sensors with an event stored after event `after_id`: the first
        such event's time. From `events`, not `sensor_state` (which the routine writer may
        write seconds later). `+id` keeps the id out of the index choice: the kit's own
        entries are read, not every event the hub stored since."""
        rows = self._db.execute(
            "SELECT sensor_id, MIN(occurred_at) FROM events WHERE kit_id=:kit AND +id > :after "
            "GROUP BY sensor_id",
            {"kit": kit_id, "after": after_id},
        )
        return {r[0]: from_epoch(r[1]) for r in rows}

    def sensor_states(self, home_id: str) -> list[SensorStateRecord]:
        """Return the newest event of each sensor of a home, newest first."""
        rows = self._db.execute(
            "SELECT * FROM sensor_state WHERE home_id=:home ORDER BY occurred_at DESC",
            {"home": home_id},
        )
        return [
            SensorStateRecord(
                home_id=r["home_id"],
                kit_id=r["kit_id"],
                sensor_id=r["sensor_id"],
                kind=r["kind"],
                room=r["room"],
                value=json.loads(r["value"]),
                occurred_at=from_epoch(r["occurred_at"]),
            )
            for r in rows
        ]

    def set_risk_level(self, home_id: str, level: str) -> None:
        """Set a home's care-plan risk level (low, medium, high), e.g. from a registry import."""
        if level not in ("low", "medium", "high"):
            raise ValueError(f"risk level must be low, medium or high, got {level!r}")
        self._begin()
        self._db.execute(
            "UPDATE homes SET risk_level=:level WHERE id=:id", {"level": level, "id": home_id}
        )
        self.commit()

    def sensor_places(self, home_id: str) -> dict[tuple[str, str], str]:
        """Return (kit, sensor) -> place for every registered sensor of a home."""
        rows = self._db.execute(
            "SELECT s.kit_id, s.id, s.place FROM sensors s JOIN kits k ON k.id = s.kit_id "
            "WHERE k.home_id=:home",
            {"home": home_id},
        )
        return {(r["kit_id"], r["id"]): r["place"] or "other" for r in rows}

    def activity_events(
        self, home_id: str, since: datetime, until: datetime | None = None
    ) -> list[tuple[float, str, str, str, str | None]]:
        """Return (time, kit, sensor, kind, room) of signs of life from `since` to `until`.

        Signs of life: motion starting, a door opening or closing, a button pressed (help or
        "I'm OK"), an appliance used, a seat or bed mat sat on ('occupancy') or left (kind
        reported as 'vacated'); oldest first. Pass `until` = now: an event stamped in the future
        (a kit clock that ran ahead, stored before the hub refused such times) must not count as
        the latest sign of life, or it would hide every silence until that moment.
        """
        until_ts = float("inf") if until is None else to_epoch(until)
        rows = self._db.execute(
            ACTIVITY_EVENTS_SQL, {"home": home_id, "since": to_epoch(since), "until": until_ts}
        )
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def watched_since(self, home_id: str) -> datetime | None:
        """When the home's kits last came back from an outage the alert engine recorded.

        A silence while a kit was dark is the kit's, not the resident's (the routine scan times
        it from here). An outage still open with its kit online again ended at the kit's
        return (the alert engine closes it on its next pass). None: no outage on record, or a
        store without the alert engine's tables.
        """
        if not self._outages_table_exists():
            return None  # the alert engine's schema is not in this database
        rows = self._db.execute(
            "SELECT o.ended_at, k.availability, k.availability_at FROM kit_outages o "
            "JOIN kits k ON k.id = o.kit_id WHERE o.home_id=:home",
            {"home": home_id},
        ).fetchall()
        ends = [
            r[0] if r[0] is not None else r[2]
            for r in rows
            if r[0] is not None or (r[1] == "online" and r[2] is not None)
        ]
        return from_epoch(max(ends)) if ends else None

    def _outages_table_exists(self) -> bool:
        return self._has_table("kit_outages")

    def homes_in_test_mode(self, at: datetime) -> frozenset[str]:
        """Homes with a kit in test mode at `at` (an installer walk-testing it); none before
        the alert engine has made its tables."""
        if not self._has_table("test_modes"):
            return frozenset()
        rows = self._db.execute(
            "SELECT DISTINCT home_id FROM test_modes WHERE ended_at IS NULL "
            "AND starts_at <= :at AND ends_at > :at",
            {"at": to_epoch(at)},
        ).fetchall()
        return frozenset(str(row[0]) for row in rows)

    def _has_table(self, name: str) -> bool:
        # Asked, not tried: on PostgreSQL a failed statement would abort the open transaction.
        if name not in self._tables_seen:
            if self._db.execute(_HAS_TABLE[self.dialect], {"name": name}).fetchone() is None:
                return False
            self._tables_seen.add(name)  # tables only ever appear
        return True

    def save_routine(self, home_id: str, learned_at: datetime, body: dict[str, Any]) -> None:
        """Keep a home's learned routine (so a restart or another worker can reuse it)."""
        self._begin()
        self._db.execute(
            "INSERT INTO routines(home_id, learned_at, body) VALUES (:home, :learned_at, :body) "
            "ON CONFLICT(home_id) DO UPDATE SET learned_at=excluded.learned_at, body=excluded.body",
            {"home": home_id, "learned_at": to_epoch(learned_at), "body": json.dumps(body)},
        )

    def load_routine(self, home_id: str) -> tuple[datetime, dict[str, Any]] | None:
        """Return a home's stored routine and when it was learned, or None."""
        row = self._db.execute(
            "SELECT learned_at, body FROM routines WHERE home_id=:home", {"home": home_id}
        ).fetchone()
        return None if row is None else (from_epoch(row[0]), json.loads(row[1]))

    def routine_ages(self) -> dict[str, float]:
        """When each home's stored routine was learned (epoch seconds), every home at once."""
        rows = self._db.execute("SELECT home_id, learned_at FROM routines")
        return {r[0]: float(r[1]) for r in rows}

    def save_commissioning_report(
        self, kit_id: str, home_id: str, finished_at: datetime, passed: bool, body: dict[str, Any]
    ) -> int:
        """Keep an installer's walk-test report; return its id."""
        self._begin()
        row = self._db.execute(
            "INSERT INTO commissioning_reports(kit_id, home_id, finished_at, passed, body) "
            "VALUES (:kit, :home, :finished_at, :passed, :body) RETURNING id",
            {
                "kit": kit_id,
                "home": home_id,
                "finished_at": to_epoch(finished_at),
                "passed": int(passed),
                "body": json.dumps(body),
            },
        ).fetchone()
        self.commit()
        return int(row[0])

    def commissioning_reports(self, kit_id: str) -> list[dict[str, Any]]:
        """Return a kit's walk-test reports, newest first."""
        rows = self._db.execute(
            "SELECT body FROM commissioning_reports WHERE kit_id=:kit ORDER BY finished_at DESC",
            {"kit": kit_id},
        )
        return [json.loads(r[0]) for r in rows]

    def open_alert(self, home_id: str, kind: str) -> AlertRecord | None:
        """Return the open alert of this home and kind, if any."""
        return alerts_repo.find_open_alert(self._db, home_id, kind)

    # -- kit state ------------------------------------------------------------------------------

    def set_availability(self, kit_id: str, state: str, at: datetime) -> None:
        """Record a kit's availability."""
        self._begin()
        self._db.execute(
            "UPDATE kits SET availability=:state, availability_at=:at WHERE id=:id",
            {"state": state, "at": to_epoch(at), "id": kit_id},
        )

    def set_heartbeat(self, kit_id: str, at: datetime, body: dict[str, Any]) -> None:
        """Record a kit's latest heartbeat (older ones arriving late are ignored)."""
        self._begin()
        self._db.execute(
            "UPDATE kits SET last_heartbeat_at=:at, last_heartbeat=:body WHERE id=:id "
            "AND (last_heartbeat_at IS NULL OR last_heartbeat_at <= :at)",
            {"at": to_epoch(at), "body": json.dumps(body, separators=(",", ":")), "id": kit_id},
        )

    # -- alerts ---------------------------------------------------------------------------------

    def raise_alert(self, alert: NewAlert) -> tuple[AlertRecord, bool]:
        """Open an alert, or merge it into this home's open alert of the same kind."""
        self._begin()
        return alerts_repo.raise_alert(self._db, alert)

    def alerts(self, home_id: str | None = None) -> list[AlertRecord]:
        """Return alerts (optionally of one home), oldest first."""
        return alerts_repo.alerts(self._db, home_id)


class SqliteStore(SqlStore):
    """The store on one SQLite file (WAL, synchronous FULL by default)."""

    def __init__(self, path: Path, synchronous: str = "FULL", busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self._sqlite = open_sqlite(
            path,
            synchronous="FULL" if synchronous == "FULL" else "NORMAL",
            busy_timeout_s=busy_timeout_s,
        )
        try:
            super().__init__(self._sqlite, str(path))
        except BaseException:
            self._sqlite.close()
            raise

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying DB-API connection (WAL checkpoints, SQLite-only readers)."""
        return self._sqlite


def open_store(
    url: DatabaseUrl | str | Path, synchronous: str = "FULL", busy_timeout_s: float = 30.0
) -> SqlStore:
    """Open (and migrate) the store a database URL names: `SqliteStore` for a file, `SqlStore`
    over psycopg 3 for postgresql://…"""
    parsed = url if isinstance(url, DatabaseUrl) else parse_database_url(url)
    if parsed.dialect == "sqlite":
        assert parsed.sqlite_path is not None
        return SqliteStore(parsed.sqlite_path, synchronous, busy_timeout_s)
    conn = open_connection(parsed, busy_timeout_s=busy_timeout_s)
    try:
        return SqlStore(conn, parsed.describe())
    except BaseException:
        conn.close()
        raise
