"""Read a hub's database from outside, as an operator would: one SQL query on a SQLite file or
a postgresql:// URL (benchmarks inspect the database directly, like tests)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["query"]


def query(db: Path | str, sql: str) -> list[tuple[Any, ...]]:
    """All rows of `sql` on the database `db` (a file, or a URL)."""
    if isinstance(db, str):
        import psycopg

        with psycopg.connect(db, autocommit=True) as pg:
            return list(pg.execute(sql).fetchall())
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()
