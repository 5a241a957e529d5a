"""Connections to the hub's SQLite database for the web app: the one way every route opens one.

Each request gets its own connection (dashboards.deps.get_db, the acknowledge links, the live
stream, the metrics), opened here with one set of PRAGMAs and closed when the request ends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub.alerts.engine import open_alerts_db
from hub.persistence import migrate_web
from hub.store.sqlite import SqliteStore

__all__ = ["DEFAULT_BUSY_TIMEOUT_S", "Database", "is_busy"]

# How long a request waits for another writer (the hub's ingest batch, another request) before
# it answers 503 "try again". Hub batches commit in milliseconds; 30 s is a stuck writer.
DEFAULT_BUSY_TIMEOUT_S = 30.0


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's 'database is locked/busy' (worth a 503 and a retry, not a 500)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Database:
    """Where the database is; opens connections. Holds no connection itself (thread-safe)."""

    def __init__(self, path: Path, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s

    def prepare(self) -> None:
        """Create or upgrade the core, alerts and web schemas (called once by the app factory).

        The alerts schema too: the web app may start before the hub has ever run its engine.
        """
        conn = open_alerts_db(self.path)  # core, then the alert engine's migrations
        try:
            migrate_web(conn, str(self.path))
            # WAL is a property of the file: readers never wait for the hub's writer.
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()

    def connect(self) -> sqlite3.Connection:
        """Open a connection in autocommit mode with rows addressable by name.

        check_same_thread=False because FastAPI runs a sync dependency's setup, the handler and
        the teardown on whichever worker thread is free: the connection moves between threads
        but is only ever used by its one request at a time, never shared.
        """
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            timeout=self.busy_timeout_s,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for one unit of work, closed afterwards."""
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    def store(self) -> SqliteStore:
        """Open the hub's store (for writes that go through its interface)."""
        return SqliteStore(self.path)
