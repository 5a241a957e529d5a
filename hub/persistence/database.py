"""One way to open the hub's database: SQLite by default, PostgreSQL by URL.

Every connection the hub, the alert engine and the web app open comes from here, so the
PRAGMAs that durability depends on (WAL, synchronous, foreign keys, busy timeout) are set in one
place. Two shapes are offered over the same settings:

- `open_sqlite` gives a DB-API connection in autocommit mode, for the ingest hot path that
  issues `BEGIN IMMEDIATE` itself so one batch is exactly one transaction;
- `create_engine` gives a SQLAlchemy Core engine (the query layer repositories use, and the seam
  PostgreSQL sits behind), whose SQLite connections are opened by `open_sqlite` too.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from hub.persistence.connection import Connection, CoreConnection

__all__ = [
    "DatabaseUrl",
    "Synchronous",
    "connect",
    "create_engine",
    "dialect_of",
    "has_column",
    "in_transaction",
    "is_transient_error",
    "open_connection",
    "open_sqlite",
    "parse_database_url",
    "write_transaction",
]

Synchronous = Literal["FULL", "NORMAL"]

_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_PREFIXES = ("postgresql://", "postgresql+psycopg://", "postgres://")


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """Where the hub's data lives: a SQLite file or a PostgreSQL server."""

    dialect: Literal["sqlite", "postgresql"]
    sqlite_path: Path | None = None
    postgres_url: str | None = None

    @classmethod
    def sqlite(cls, path: Path) -> DatabaseUrl:
        return cls(dialect="sqlite", sqlite_path=path)

    def describe(self) -> str:
        """Where it is, for a log line or an error message (never a password)."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        assert self.postgres_url is not None
        return sqlalchemy.make_url(self.postgres_url).render_as_string(hide_password=True)


def parse_database_url(value: str | Path) -> DatabaseUrl:
    """A path or `sqlite:///path` is SQLite; `postgresql://…` is PostgreSQL (driver psycopg 3)."""
    if isinstance(value, Path):
        return DatabaseUrl.sqlite(value)
    if value.startswith(_SQLITE_PREFIX):
        return DatabaseUrl.sqlite(Path(value[len(_SQLITE_PREFIX) :]))
    for prefix in _POSTGRES_PREFIXES:
        if value.startswith(prefix):
            rest = value[len(prefix) :]
            return DatabaseUrl(dialect="postgresql", postgres_url=f"postgresql+psycopg://{rest}")
    if "://" in value:
        raise ValueError(
            f"database URL {value!r}: expected a file path, sqlite:///PATH or postgresql://…"
        )
    return DatabaseUrl.sqlite(Path(value))


# Between two tries at switching a new file to WAL: the other connection's switch takes about
# a millisecond.
_WAL_SWITCH_RETRY_S = 0.005

# Each WAL frame is a page and this header (sqlite.org/fileformat.html, "WAL File Format").
_WAL_FRAME_HEADER_BYTES = 24


def open_sqlite(
    path: Path,
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout_s: float = 30.0,
    shared_between_threads: bool = False,
    read_only: bool = False,
) -> sqlite3.Connection:
    """Open the SQLite file in autocommit mode with rows addressable by name.

    synchronous=FULL by default: an event the hub acknowledged to its kit must survive a power
    cut (the kit deletes it from its outbox on PUBACK). `shared_between_threads` only lifts
    Python's same-thread check for a connection handed from thread to thread and used by one at
    a time (FastAPI runs a dependency's setup and teardown on any worker thread).
    """
    # A URI: a path with "?", "#" or "%" in it is escaped, not read as the URI's parts.
    target: str | Path = f"{path.resolve().as_uri()}?mode=ro" if read_only else path
    conn = sqlite3.connect(
        target,
        isolation_level=None,
        timeout=busy_timeout_s,
        check_same_thread=not shared_between_threads,
        uri=read_only,
    )
    conn.row_factory = sqlite3.Row
    if not read_only:
        _switch_to_wal(conn, busy_timeout_s)
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    set_busy_timeout(conn, busy_timeout_s)
    return conn


def _switch_to_wal(conn: sqlite3.Connection, busy_timeout_s: float) -> None:
    """Put the file in WAL mode (a property of the file: readers never wait for the writer).

    Two connections switching a new file at once can deadlock: each reads the header under a
    shared lock and then asks for the exclusive one, and SQLite fails one of them at once with
    "database is locked" instead of calling its busy handler (waiting could not help it while it
    holds the shared lock). Trying again after the other has finished does, so the switch is
    retried for as long as the busy timeout would have waited.
    """
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(_WAL_SWITCH_RETRY_S)


def set_busy_timeout(conn: sqlite3.Connection, seconds: float) -> None:
    """How long this connection's statements wait for another connection's lock."""
    conn.execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")


def disable_auto_checkpoint(conn: sqlite3.Connection) -> None:
    """Never checkpoint inside this connection's commits (a checkpoint thread does it instead:
    copying the WAL into a large database file and fsyncing it held ingest batches for ~1 s)."""
    conn.execute("PRAGMA wal_autocheckpoint=0")


def checkpoint_passive(conn: sqlite3.Connection) -> int | None:
    """Move what the WAL holds into the database file without waiting for or blocking a writer;
    return the bytes the WAL holds since it last started over (its file may be larger: a
    restarted WAL is written over from its beginning, not truncated), or None when another
    connection was checkpointing and SQLite did not say."""
    return checkpoint_passive_left(conn)[0]


def checkpoint_passive_left(conn: sqlite3.Connection) -> tuple[int | None, int | None]:
    """`checkpoint_passive`, and the bytes of the WAL it left uncopied (a reader's older
    snapshot stops a passive copy at that reader's frame); None where SQLite did not say."""
    row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    held, copied = int(row[1]), int(row[2])
    left = held - copied if held >= 0 and copied >= 0 else -1
    return _wal_bytes(conn, held), _wal_bytes(conn, left)


@dataclass(frozen=True, slots=True)
class WalRestart:
    """What a RESTART checkpoint did: whether the next commit writes the WAL from its start, and
    the bytes the WAL held when it ran (None if SQLite did not say)."""

    done: bool
    held_bytes: int | None


def restart_wal(conn: sqlite3.Connection) -> WalRestart:
    """Copy the whole WAL into the database and wait until no reader is inside it, so that the
    next commit writes the WAL from its beginning again (RESTART); not done if a writer or a
    reader held on past `conn`'s busy timeout. It holds the write lock while it runs:
    hub/wal_bound.py says when and how the hub uses it."""
    row = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    return WalRestart(done=int(row[0]) == 0, held_bytes=_wal_bytes(conn, int(row[1])))


def _wal_bytes(conn: sqlite3.Connection, frames: int) -> int | None:
    if frames < 0:  # -1: not in WAL mode, or the checkpoint could not run at all
        return None
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    return frames * (page_size + _WAL_FRAME_HEADER_BYTES)


def create_engine(
    url: DatabaseUrl | str | Path,
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout_s: float = 30.0,
) -> Engine:
    """A SQLAlchemy Core engine over the same connection settings as `open_sqlite`.

    For SQLite, transactions start with BEGIN IMMEDIATE (SQLAlchemy's documented recipe for
    pysqlite): the write lock is taken at the start, so two writers queue at BEGIN instead of
    one failing with "database is locked" halfway through a unit of work.
    """
    parsed = url if isinstance(url, DatabaseUrl) else parse_database_url(url)
    if parsed.dialect == "postgresql":
        assert parsed.postgres_url is not None
        return sqlalchemy.create_engine(parsed.postgres_url, pool_pre_ping=True)
    assert parsed.sqlite_path is not None
    path = parsed.sqlite_path

    def creator() -> sqlite3.Connection:
        return open_sqlite(
            path,
            synchronous=synchronous,
            busy_timeout_s=busy_timeout_s,
            shared_between_threads=True,
        )

    engine = sqlalchemy.create_engine("sqlite://", creator=creator)

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


# PostgreSQL error classes that say nothing about the data: connection (08), serialisation
# failure or deadlock (40), insufficient resources (53), shutdown (57), system and I/O (58); and
# lock not available (55P03).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57", "58")


def is_transient_error(exc: BaseException) -> bool:
    """True for an error that says nothing about the data: locked or busy (SQLite), a deadlock
    or serialisation failure between two writers, a server restarting (PostgreSQL), disk or
    I/O. Retrying the same unit of work is right; a constraint or type error is not that."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        exc = exc.orig if exc.orig is not None else exc
    if isinstance(exc, sqlite3.OperationalError | OSError | sqlalchemy.exc.OperationalError):
        return True
    try:
        import psycopg  # only present where PostgreSQL is used
    except ImportError:  # pragma: no cover - psycopg is a dependency of the project
        return False
    if not isinstance(exc, psycopg.OperationalError):
        return False
    # psycopg raises OperationalError for data errors too (an index entry too large is class
    # 54): retried forever, one such message would stop every writer. By SQLSTATE instead; no
    # SQLSTATE at all is a connection lost.
    state = exc.sqlstate
    return state is None or state.startswith(_TRANSIENT_SQLSTATE_CLASSES) or state == "55P03"


def in_transaction(conn: Connection) -> bool:
    """Whether a BEGIN is open on this autocommit connection (a unit of work to join)."""
    if isinstance(conn, sqlite3.Connection):
        return conn.in_transaction
    if not isinstance(conn, CoreConnection):
        raise TypeError(f"not a connection of the persistence layer: {type(conn).__name__}")
    import psycopg

    raw = conn.core.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        return bool(conn.core.in_transaction())
    return raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE


def has_column(conn: Connection, table: str, column: str) -> bool:
    """Whether `table` has `column` (asked of the catalogue, never by trying: a failed
    statement aborts a PostgreSQL transaction)."""
    if dialect_of(conn) == "sqlite":
        # PRAGMA takes no parameters; the names are the callers' constants.
        return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))
    found = conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = :table AND column_name = :column",
        {"table": table, "column": column},
    )
    return found.fetchone() is not None


def dialect_of(conn: Connection) -> Literal["sqlite", "postgresql"]:
    """Which database a connection from `open_connection` talks to."""
    if isinstance(conn, sqlite3.Connection):
        return "sqlite"
    if isinstance(conn, CoreConnection) and conn.core.dialect.name == "postgresql":
        return "postgresql"
    if isinstance(conn, CoreConnection) and conn.core.dialect.name == "sqlite":
        return "sqlite"
    raise TypeError(f"not a connection of the persistence layer: {type(conn).__name__}")


def open_connection(
    url: DatabaseUrl | str | Path,
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout_s: float = 30.0,
    shared_between_threads: bool = False,
) -> Connection:
    """One autocommit connection to the hub's database; the caller closes it (`close()`).

    SQLite: the DB-API connection of `open_sqlite` (the ingest hot path stays plain sqlite3).
    PostgreSQL: a `CoreConnection` in autocommit mode over psycopg 3. Either way a unit of work
    is `write_transaction(conn)`, so code written against one runs on the other.
    """
    parsed = url if isinstance(url, DatabaseUrl) else parse_database_url(url)
    if parsed.dialect == "sqlite":
        assert parsed.sqlite_path is not None
        return open_sqlite(
            parsed.sqlite_path,
            synchronous=synchronous,
            busy_timeout_s=busy_timeout_s,
            shared_between_threads=shared_between_threads,
        )
    assert parsed.postgres_url is not None
    # One long-lived connection per component (store, engine, scan): no pool to share.
    engine = sqlalchemy.create_engine(
        parsed.postgres_url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        return CoreConnection(engine.connect(), owned_engine=engine)
    except BaseException:
        engine.dispose()
        raise


@contextmanager
def connect(
    url: DatabaseUrl | str | Path,
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout_s: float = 30.0,
) -> Iterator[Connection]:
    """`open_connection` for the length of a block (closed at its end, even on an error)."""
    conn = open_connection(url, synchronous=synchronous, busy_timeout_s=busy_timeout_s)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def write_transaction(conn: Connection) -> Iterator[Connection]:
    """One write transaction on an autocommit connection from `open_connection`.

    On SQLite, BEGIN IMMEDIATE takes the write lock at the start, so two writers queue at
    BEGIN instead of one failing halfway through; on PostgreSQL rows are locked as they are
    written (unique keys and ON CONFLICT keep two writers from doubling anything). Any
    exception (even KeyboardInterrupt) rolls back.
    """
    conn.execute("BEGIN IMMEDIATE" if dialect_of(conn) == "sqlite" else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
