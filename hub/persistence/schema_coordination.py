"""The schema that lets several hubs share one database (component "coordination").

Leases split the homes' work between hubs (hub/coordination.py); members say which hubs are
alive, so each can take its fair share; and the one-open-alert rule moves from a
read-then-insert under SQLite's single writer into a unique index, so two hubs (or two
connections on PostgreSQL) raising the same alert at once merge into one row. Times are REAL
epoch seconds like the core schema. Never edit a released step; add a new one.
"""

from __future__ import annotations

from hub.persistence.connection import Connection
from hub.persistence.migrate import apply_migrations

__all__ = ["MIGRATIONS", "migrate_coordination"]

MIGRATIONS: tuple[str, ...] = (
    # 1: leases on partitions of homes (epoch: the fencing token, +1 whenever the holder
    #    changes), live hubs, and at most one open alert per home and kind at the database.
    #    Before this step only raise_alert opened alerts, inside one SQLite write transaction
    #    that read before it inserted, so no database can hold two open alerts of one home and
    #    kind for this index to refuse.
    """
    CREATE TABLE hub_leases (
        partition_no INTEGER PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL,
        epoch INTEGER NOT NULL,
        acquired_at REAL NOT NULL
    );
    CREATE INDEX hub_leases_holder ON hub_leases(holder);
    CREATE TABLE hub_members (
        hub_id TEXT PRIMARY KEY,
        seen_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX alerts_one_open ON alerts(home_id, kind)
        WHERE state IN ('raised', 'notified', 'acknowledged');
    """,
)


def migrate_coordination(db: Connection, source: str = "database") -> int:
    """Bring the coordination schema up to date (after core) on an autocommit connection."""
    return apply_migrations(db, "coordination", MIGRATIONS, source)
