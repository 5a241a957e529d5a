"""Versioned schema migrations per component (core, alerts, web), each in order once.

Written for SQLite; on a PostgreSQL connection the same runner applies each step in
PostgreSQL's dialect (`postgres_ddl`), so one list of steps versions both. (`apply_migrations_core`
does the same over a SQLAlchemy connection that is not in autocommit mode.)

Components own their tables and evolve independently; `schema_migrations` remembers how far
each one has come. Never edit a released step; add a new one.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Sequence

import sqlalchemy

from hub.persistence.connection import Connection
from hub.persistence.database import dialect_of, write_transaction

__all__ = [
    "SchemaTooNewError",
    "apply_migrations",
    "apply_migrations_core",
    "postgres_ddl",
    "schema_version",
]

_LOGGER = logging.getLogger(__name__)
# PostgreSQL advisory lock key of "migrating this database" (any constant the project owns).
_MIGRATION_LOCK = 0x4D656872  # "Mehr"


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer version of Mehr than this one."""


def schema_version(db: Connection, component: str) -> int:
    """Return how many steps of `component` the database has applied (0: none)."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    row = db.execute(
        "SELECT version FROM schema_migrations WHERE component=:c", {"c": component}
    ).fetchone()
    return int(row[0]) if row else 0


def apply_migrations(
    db: Connection, component: str, steps: Sequence[str], source: str = "database"
) -> int:
    """Apply the steps of `component` the database lacks; return the resulting version.

    `db` must be in autocommit mode (`database.open_connection`, or sqlite3 with
    isolation_level=None); each step runs in its own transaction, so a failing step leaves the
    previous version intact (PostgreSQL's DDL is transactional too). Processes starting at
    once (the hub and the web app on a new database) apply each step once: each re-reads the
    version inside the step's transaction (SQLite's BEGIN IMMEDIATE queues them) and skips a
    step another one applied meanwhile; on PostgreSQL they queue on an advisory lock first.
    """
    if dialect_of(db) == "postgresql":
        db.execute("SELECT pg_advisory_lock(:key)", {"key": _MIGRATION_LOCK})
        try:
            return _apply(db, component, steps, source, postgres=True)
        finally:
            db.execute("SELECT pg_advisory_unlock(:key)", {"key": _MIGRATION_LOCK})
    return _apply(db, component, steps, source, postgres=False)


def _apply(
    db: Connection, component: str, steps: Sequence[str], source: str, *, postgres: bool
) -> int:
    version = schema_version(db, component)
    if version > len(steps):
        raise SchemaTooNewError(
            f"{source}: schema '{component}' v{version} is newer than this Mehr "
            f"(knows v{len(steps)}); upgrade Mehr"
        )
    for number, script in enumerate(steps[version:], start=version + 1):
        with write_transaction(db):
            if schema_version(db, component) >= number:
                continue  # another process applied this step while we waited for the lock
            _LOGGER.info("migrating %s: %s to v%s", source, component, number)
            for statement in _statements(postgres_ddl(script) if postgres else script):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations(component, version) VALUES (:c, :v) "
                "ON CONFLICT(component) DO UPDATE SET version=excluded.version",
                {"c": component, "v": number},
            )
    return len(steps)


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (complete_statement respects quotes)."""
    statements: list[str] = []
    current = ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip().rstrip(";").strip():
                statements.append(current.strip())
            current = ""
    if current.strip().rstrip(";").strip():
        raise ValueError(f"incomplete SQL statement in migration: {current.strip()[:80]!r}")
    return statements


# -- the same steps on PostgreSQL ----------------------------------------------------------------

_ROWID_KEY = re.compile(r"\bINTEGER PRIMARY KEY\b")
_INTEGER = re.compile(r"\bINTEGER\b")
_REAL = re.compile(r"\bREAL\b")
_BLOB = re.compile(r"\bBLOB\b")


def postgres_ddl(script: str) -> str:
    """A migration step written for SQLite in PostgreSQL's dialect.

    SQLite's `INTEGER PRIMARY KEY` is its rowid (assigned on insert): PostgreSQL's identity
    column; every other `INTEGER` is 8 bytes in SQLite (a kit's epoch is a 63-bit random
    number): BIGINT, not PostgreSQL's 4-byte INTEGER; `REAL` (8-byte float): DOUBLE
    PRECISION; `BLOB`: BYTEA. Everything else the steps use (TEXT, REFERENCES, ALTER TABLE ADD
    COLUMN, partial indexes, UPDATE … CASE) is common SQL. Epoch-second times stay numbers.
    """
    script = _ROWID_KEY.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", script)
    script = _INTEGER.sub("BIGINT", script)
    script = _BLOB.sub("BYTEA", script)
    return _REAL.sub("DOUBLE PRECISION", script)


def apply_migrations_core(
    conn: sqlalchemy.Connection, component: str, steps: Sequence[str], source: str = "database"
) -> int:
    """`apply_migrations` over a SQLAlchemy connection (PostgreSQL): each step one transaction.

    `conn` must not be inside a transaction; each step commits on its own, so a failing step
    leaves the previous version intact (PostgreSQL's DDL is transactional).
    """
    with conn.begin():
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        row = conn.execute(
            sqlalchemy.text("SELECT version FROM schema_migrations WHERE component = :c"),
            {"c": component},
        ).fetchone()
    version = int(row[0]) if row else 0
    if version > len(steps):
        raise SchemaTooNewError(
            f"{source}: schema '{component}' v{version} is newer than this Mehr "
            f"(knows v{len(steps)}); upgrade Mehr"
        )
    for number, script in enumerate(steps[version:], start=version + 1):
        _LOGGER.info("migrating %s: %s to v%s", source, component, number)
        with conn.begin():
            for statement in _statements(postgres_ddl(script)):
                conn.exec_driver_sql(statement)
            conn.execute(
                sqlalchemy.text(
                    "INSERT INTO schema_migrations(component, version) VALUES (:c, :v) "
                    "ON CONFLICT(component) DO UPDATE SET version = excluded.version"
                ),
                {"c": component, "v": number},
            )
    return len(steps)
