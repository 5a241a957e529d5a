"""Backup and restore of the hub's SQLite database with SQLite's online backup API.

An online copy while the hub and the web app keep running, integrity-checked; a restore while
they are stopped. (PostgreSQL deployments use pg_dump / base backups instead.)
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

__all__ = ["BackupError", "backup_database", "restore_database"]

_LOGGER = logging.getLogger(__name__)
# Pages copied per step: small steps let the hub's writers in between (a busy district's hub
# waits at most one step, not the whole copy).
_PAGES_PER_STEP = 1024


class BackupError(RuntimeError):
    """A backup or restore cannot be done as asked."""


_POSTGRES_SCHEMES = ("postgresql:", "postgres:", "postgresql+psycopg:")


def _refuse_postgres(db: Path | str) -> None:
    # A database_url handed to --db: say what to use instead of "does not exist".
    if str(db).startswith(_POSTGRES_SCHEMES):
        raise BackupError(
            "mehr backup and restore copy a SQLite file (db_path); a PostgreSQL database is "
            "backed up with pg_dump or pg_basebackup and WAL archiving (docs/persistence.md)"
        )


def _check(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (result,) = conn.execute("PRAGMA integrity_check").fetchone()
    finally:
        conn.close()
    if result != "ok":
        raise BackupError(f"{path}: integrity check failed: {result}")


def backup_database(db: Path, out: Path) -> int:
    """Copy a live database with SQLite's online backup API into `out` (must not exist), check
    the copy's integrity and return its size in bytes. `cp` of a WAL database can miss
    committed transactions still in the -wal file; the backup API cannot."""
    _refuse_postgres(db)
    if not db.exists():
        raise BackupError(f"{db} does not exist")
    if out.exists():
        raise BackupError(f"{out} exists; backups are never overwritten")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    target = sqlite3.connect(partial)
    try:
        source.backup(target, pages=_PAGES_PER_STEP)
        # The copy is one self-contained file, readable with nothing beside it.
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    os.chmod(partial, 0o600)  # residents' data
    _check(partial)
    partial.rename(out)
    return out.stat().st_size


def restore_database(backup: Path, db: Path, force: bool = False) -> None:
    """Put a backup in place of the hub's database (stop the hub and the web app first): the
    old database, if any, is kept beside it as `<name>.before-restore`."""
    _refuse_postgres(db)
    _check(backup)
    if db.exists():
        if not force:
            raise BackupError(f"{db} exists; stop the hub and the web app, then use --force")
        kept = db.with_name(db.name + ".before-restore")
        if kept.exists():
            raise BackupError(f"{kept} exists from an earlier restore; move it away first")
        db.rename(kept)
        for suffix in ("-wal", "-shm"):
            stale = db.with_name(db.name + suffix)
            if stale.exists():
                stale.rename(kept.with_name(kept.name + suffix))
    source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    target = sqlite3.connect(db)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    os.chmod(db, 0o600)
