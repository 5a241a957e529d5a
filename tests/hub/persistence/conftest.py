"""Fixtures for the persistence layer's tests: the same web repositories on SQLite and on a
real PostgreSQL server (one per test session, a fresh database per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection

from hub.persistence.web_database import create_web_engine
from hub.persistence.web_schema import create_web_tables, migrate_web
from tests.support.postgres_web import PostgresServer, find_pg_bin, running_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session; skipped where the OS package is missing."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def web_conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connection]:
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
        engine = create_web_engine(server.fresh_database(), busy_timeout_s=5)
        with engine.connect() as conn:
            create_web_tables(conn)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()
