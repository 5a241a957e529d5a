"""One database shared by several hubs' connections, on SQLite or PostgreSQL, for the tests of
leases and of the race-safe alert writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from hub.coordination import CoreTransactions, DatabaseTransactions, Transactions
from hub.persistence import migrate_alerts, open_sqlite
from hub.persistence.connection import Connection, CoreConnection
from hub.persistence.database import create_engine
from hub.persistence.migrate import apply_migrations_core
from hub.persistence.schema_alerts import MIGRATIONS as ALERT_MIGRATIONS
from hub.persistence.schema_coordination import MIGRATIONS as COORDINATION_MIGRATIONS
from hub.persistence.schema_core import MIGRATIONS as CORE_MIGRATIONS
from tests.support.postgres import PostgresServer

__all__ = ["HubsDatabase", "hubs_database"]

Operation = Callable[[Connection], Any]


class HubsDatabase:
    """A migrated database; each `transactions()` is a new connection (a hub of its own)."""

    def __init__(self, path: Path | None, engine: sqlalchemy.Engine | None) -> None:
        self.path = path
        self.engine = engine
        self._opened: list[DatabaseTransactions] = []

    def transactions(self) -> Transactions:
        """Write transactions on a connection of their own."""
        if self.engine is not None:
            return CoreTransactions(self.engine)
        assert self.path is not None
        made = DatabaseTransactions(self.path)
        self._opened.append(made)
        return made

    def race(self, first: Operation, second: Operation) -> tuple[Any, Any]:
        """Run `first` in a transaction left open, start `second` on another connection, and
        commit `first` only once `second` is waiting for it (PostgreSQL: a lock not granted).

        SQLite has one writer: the second transaction's BEGIN IMMEDIATE waits for the first's
        COMMIT, so there the second simply runs after the first.
        """
        if self.engine is None:
            with self.transactions()() as conn:
                result_a = first(conn)
            with self.transactions()() as conn:
                result_b = second(conn)
            return result_a, result_b
        engine = self.engine
        results: dict[str, Any] = {}
        with engine.connect() as a, engine.connect() as watcher:
            a.begin()
            results["a"] = first(CoreConnection(a))

            def run_second() -> None:
                try:
                    with engine.begin() as b:
                        results["b"] = second(CoreConnection(b))
                except BaseException as exc:  # re-raised in the test's thread below
                    results["error"] = exc

            thread = threading.Thread(target=run_second)
            thread.start()
            deadline = time.monotonic() + 10
            while thread.is_alive() and time.monotonic() < deadline:
                waiting = watcher.execute(
                    sqlalchemy.text("SELECT count(*) FROM pg_locks WHERE NOT granted")
                ).scalar_one()
                watcher.rollback()
                if waiting:
                    break
                thread.join(0.02)
            a.commit()
            thread.join(30)
        if "error" in results:
            raise results["error"]
        return results["a"], results["b"]

    def close(self) -> None:
        """Close every connection opened."""
        for made in self._opened:
            made.close()
        if self.engine is not None:
            self.engine.dispose()


def hubs_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HubsDatabase]:
    """The fixture body: a SQLite file or a fresh PostgreSQL database, fully migrated."""
    if request.param == "sqlite":
        path = tmp_path / "hub.db"
        conn = open_sqlite(path)
        migrate_alerts(conn, "test")
        conn.close()
        db = HubsDatabase(path, None)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.fresh_database()
        engine = create_engine(url)
        with engine.connect() as conn_pg:
            name = url.rsplit("/", 1)[1]
            apply_migrations_core(conn_pg, "core", CORE_MIGRATIONS, name)
            apply_migrations_core(conn_pg, "coordination", COORDINATION_MIGRATIONS, name)
            apply_migrations_core(conn_pg, "alerts", ALERT_MIGRATIONS, name)
        db = HubsDatabase(None, engine)
    try:
        yield db
    finally:
        db.close()


