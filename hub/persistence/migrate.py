"""Versioned schema migrations for SQLite, per component (core, alerts, web), each in order once.

Components own their tables and evolve independently; `schema_migrations` remembers how far
each one has come. Never edit a released step; add a new one.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

__all__ = ["SchemaTooNewError", "apply_migrations", "schema_version"]

_LOGGER = logging.getLogger(__name__)


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer version of Mehr than this one."""


def schema_version(db: sqlite3.Connection, component: str) -> int:
    """Return how many steps of `component` the database has applied (0: none)."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    row = db.execute(
        "SELECT version FROM schema_migrations WHERE component=?", (component,)
    ).fetchone()
    return int(row[0]) if row else 0


def apply_migrations(
    db: sqlite3.Connection, component: str, steps: Sequence[str], source: str = "database"
) -> int:
    """Apply the steps of `component` the database lacks; return the resulting version.

    `db` must be in autocommit mode (isolation_level=None); each step runs in its own
    transaction, so a failing step leaves the previous version intact.
    """
    version = schema_version(db, component)
    if version > len(steps):
        raise SchemaTooNewError(
            f"{source}: schema '{component}' v{version} is newer than this Mehr "
            f"(knows v{len(steps)}); upgrade Mehr"
        )
    for number, script in enumerate(steps[version:], start=version + 1):
        _LOGGER.info("migrating %s: %s to v%s", source, component, number)
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations(component, version) VALUES (?, ?) "
                "ON CONFLICT(component) DO UPDATE SET version=excluded.version",
                (component, number),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
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
