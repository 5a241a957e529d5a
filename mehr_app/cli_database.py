"""How a command line names the hub's database: a SQLite file, or a PostgreSQL URL."""

from __future__ import annotations

from pathlib import Path

__all__ = ["hub_database"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def hub_database(value: str) -> Path | str:
    """An argparse type: the hub's SQLite file as a Path, or its PostgreSQL URL kept as text
    (a Path would fold the URL's `//`)."""
    if value.startswith(_POSTGRES_SCHEMES):
        return value
    return Path(value)
