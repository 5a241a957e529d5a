"""Connections to the hub's SQLite database for the web app: one per request, WAL readers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dashboards.schema import migrate_web
from hub.alerts.engine import open_alerts_db
from hub.store.sqlite import SqliteStore

__all__ = ["Database"]


class Database:
    """Where the database is; opens connections. Holds no connection itself (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def prepare(self) -> None:
        """Create or upgrade the core, alerts and web schemas (called once by the app factory).

        The alerts schema too: the web app may start before the hub has ever run its engine.
        """
        conn = open_alerts_db(self.path)  # core, then the alert engine's migrations
        try:
            migrate_web(conn, str(self.path))
        finally:
            conn.close()

    def connect(self) -> sqlite3.Connection:
        """Open a connection in autocommit mode with rows addressable by name."""
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def store(self) -> SqliteStore:
        """Open the hub's store (for writes that go through its interface)."""
        return SqliteStore(self.path)
