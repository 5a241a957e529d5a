"""How the web app opens the hub's database: one connection per request, in autocommit mode.

Connections come from `database.open_sqlite` (the one set of PRAGMAs) behind a SQLAlchemy Core
engine, so the web repositories beside this module speak SQLAlchemy and PostgreSQL can follow
by URL. Why autocommit: a page's reads must not take SQLite's write lock (the hub's ingest
would queue behind every page view); the few multi-statement writes ask for `atomic`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from hub.persistence.connection import Connection as RepositoryConnection
from hub.persistence.connection import CoreConnection
from hub.persistence.database import DatabaseUrl, open_sqlite, parse_database_url

__all__ = [
    "DATABASE_ERRORS",
    "atomic",
    "create_web_engine",
    "driver_connection",
    "is_busy",
]

# What a busy or broken database raises: the engine's wrapped error, or the driver's own from
# services that still hold a DB-API connection (the alert engine's AlertService).
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlite3.OperationalError,
)


def create_web_engine(url: DatabaseUrl | str | Path, busy_timeout_s: float) -> Engine:
    """An engine whose connections autocommit each statement and are closed after each use.

    NullPool keeps "one connection per request, closed when it ends": a SQLite connection must
    never be shared by two requests on two threads, and pooling would gain little over a file.
    """
    parsed = url if isinstance(url, DatabaseUrl) else parse_database_url(url)
    if parsed.dialect == "postgresql":
        assert parsed.postgres_url is not None
        return sqlalchemy.create_engine(
            parsed.postgres_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True
        )
    assert parsed.sqlite_path is not None
    path = parsed.sqlite_path

    def creator() -> sqlite3.Connection:
        # synchronous=FULL like the hub: an account or an audit row the web confirmed stays.
        return open_sqlite(path, busy_timeout_s=busy_timeout_s, shared_between_threads=True)

    return sqlalchemy.create_engine(
        "sqlite://", creator=creator, poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )


@contextmanager
def atomic(conn: Connection) -> Iterator[Connection]:
    """One write transaction on an autocommit connection: all of it, or none of it.

    On SQLite it starts with BEGIN IMMEDIATE, so the write lock is taken at once and a second
    writer waits at the start instead of failing halfway through.
    """
    begin = "BEGIN IMMEDIATE" if conn.dialect.name == "sqlite" else "BEGIN"
    conn.exec_driver_sql(begin)
    try:
        yield conn
    except BaseException:
        conn.exec_driver_sql("ROLLBACK")
        raise
    conn.exec_driver_sql("COMMIT")


def driver_connection(conn: Connection) -> RepositoryConnection:
    """`conn` in the repositories' shape, for the hub's services (AlertService, TestModes).

    On SQLite the DB-API connection under it (the services' hot path, as in the hub); on
    PostgreSQL a `CoreConnection` over it. Autocommit mode means the engine holds no
    transaction open on it, so the service's own BEGIN (IMMEDIATE) works as on a connection of
    its own.
    """
    raw: Any = conn.connection.driver_connection
    if isinstance(raw, sqlite3.Connection):
        return raw
    return CoreConnection(conn)


def is_busy(exc: BaseException) -> bool:
    """True for 'database is locked/busy' (worth a 503 and a retry, not a 500)."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    if not isinstance(cause, sqlite3.OperationalError):
        return False
    text = str(cause).lower()
    return "locked" in text or "busy" in text
