"""The repositories' database, on SQLite and on PostgreSQL (a real server on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from hub.persistence import migrate_alerts, open_sqlite
from hub.persistence.connection import Connection, CoreConnection
from hub.persistence.database import connect, create_engine
from hub.persistence.migrate import apply_migrations_core
from hub.persistence.schema_alerts import MIGRATIONS as ALERT_MIGRATIONS
from hub.persistence.schema_coordination import MIGRATIONS as COORDINATION_MIGRATIONS
from hub.persistence.schema_core import MIGRATIONS as CORE_MIGRATIONS
from hub.persistence.web_database import create_web_engine
from hub.persistence.web_schema import migrate_web
from tests.hub.persistence.multi import HubsDatabase, hubs_database
from tests.support.postgres import PostgresServer


def _sqlite(tmp_path: Path) -> Iterator[Connection]:
    conn = open_sqlite(tmp_path / "hub.db")
    migrate_alerts(conn, "test")
    yield conn
    conn.close()


def _postgres(server: PostgresServer) -> Iterator[Connection]:
    url = server.fresh_database()
    name = url.rsplit("/", 1)[1]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            apply_migrations_core(conn, "core", CORE_MIGRATIONS, name)
            apply_migrations_core(conn, "coordination", COORDINATION_MIGRATIONS, name)
            apply_migrations_core(conn, "alerts", ALERT_MIGRATIONS, name)
            yield CoreConnection(conn)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connection]:
    """A migrated hub database with the alert engine's tables, on each backend."""
    if request.param == "sqlite":
        yield from _sqlite(tmp_path)
    else:
        yield from _postgres(request.getfixturevalue("postgres_server"))


@pytest.fixture(params=["sqlite", "postgresql"])
def web_conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sqlalchemy.Connection]:
    """A web connection over only the web tables, on each backend in turn."""
    if request.param == "sqlite":
        from hub.persistence.database import open_sqlite

        path = tmp_path / "web.db"
        raw = open_sqlite(path)
        migrate_web(raw, str(path))
        raw.close()
        engine = create_web_engine(path, busy_timeout_s=5)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.fresh_database()
        with connect(url) as raw_pg:  # the same versioned runner as on SQLite
            migrate_web(raw_pg, url)
        engine = create_web_engine(url, busy_timeout_s=5)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def hubs_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HubsDatabase]:
    """One migrated database that several hubs (connections of their own) share."""
    yield from hubs_database(request, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty hub database on each backend: a SQLite file path, then a fresh
    database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "hub.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.fresh_database()
