"""`mehr backup` and `mehr restore`: an online copy of the hub's SQLite database (the hub and
the web app keep running) and putting one back while they are stopped."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from hub.persistence.backup import BackupError, backup_database, restore_database

__all__ = ["BackupError", "backup_database", "register", "restore_database"]


def _cmd_backup(args: argparse.Namespace) -> int:
    try:
        size = backup_database(args.db, args.out)
    except (BackupError, sqlite3.Error) as exc:
        print(f"mehr backup: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({size} bytes, integrity ok)")
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    try:
        restore_database(args.backup, args.db, force=args.force)
    except (BackupError, sqlite3.Error) as exc:
        print(f"mehr restore: {exc}", file=sys.stderr)
        return 1
    print(f"restored {args.db} from {args.backup}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mehr backup` and `mehr restore` to the `mehr` command."""
    backup = sub.add_parser("backup", help="online copy of the hub's database")
    backup.add_argument("--db", type=Path, required=True, help="the hub's database")
    backup.add_argument("--out", type=Path, required=True, help="the backup file (new)")
    backup.set_defaults(func=_cmd_backup)
    restore = sub.add_parser("restore", help="put a backup in place (hub and web stopped)")
    restore.add_argument("--from", dest="backup", type=Path, required=True, help="a backup")
    restore.add_argument("--db", type=Path, required=True, help="the hub's database")
    restore.add_argument(
        "--force", action="store_true", help="replace an existing database (kept aside)"
    )
    restore.set_defaults(func=_cmd_restore)
