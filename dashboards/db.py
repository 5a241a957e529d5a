"""Connections to the hub's database for the web app: the one way every route opens one.

Each request gets its own connection (dashboards.deps.get_db, the acknowledge links, the live
stream, the metrics), from the persistence layer's engine (hub.persistence.web_database: the
hub's PRAGMAs, autocommit, never pooled), closed when the request ends. A SQLite connection
must not be shared across threads, and FastAPI runs requests on many.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection

from hub.alerts.engine import open_alerts_connection
from hub.persistence.database import DatabaseUrl, parse_database_url
from hub.persistence.sqlite_store import SqlStore, open_store
from hub.persistence.web_database import DATABASE_ERRORS, create_web_engine, is_busy
from hub.persistence.web_schema import migrate_web

__all__ = ["DATABASE_ERRORS", "DEFAULT_BUSY_TIMEOUT_S", "Database", "is_busy"]

# How long a request waits for another writer (the hub's ingest batch, another request) before
# it answers 503 "try again". Hub batches commit in milliseconds; 30 s is a stuck writer.
DEFAULT_BUSY_TIMEOUT_S = 30.0


class Database:
    """Where the database is; opens connections. Holds no connection itself (thread-safe)."""

    def __init__(
        self, path: DatabaseUrl | str | Path, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        # A SQLite file (db_path) or a PostgreSQL URL (database_url).
        self.path = path if isinstance(path, DatabaseUrl) else parse_database_url(path)
        self.busy_timeout_s = busy_timeout_s
        self._engine = create_web_engine(self.path, busy_timeout_s)

    def prepare(self) -> None:
        """Create or upgrade the core, alerts and web schemas (called once by the app factory).

        The alerts schema too: the web app may start before the hub has ever run its engine.
        """
        conn = open_alerts_connection(self.path)  # core, then the alert engine's migrations
        try:
            migrate_web(conn, self.path.describe())
        finally:
            conn.close()

    def connect(self) -> Connection:
        """Open a connection of its own in autocommit mode; the caller closes it."""
        return self._engine.connect()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection for one unit of work, closed afterwards."""
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    def store(self) -> SqlStore:
        """Open the hub's store (for writes that go through its interface)."""
        return open_store(self.path)
