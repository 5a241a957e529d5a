"""Leases on partitions of homes and the list of live hubs (hub/coordination.py uses these).

Every statement is one portable round trip (SQLite 3.35+ and PostgreSQL: named parameters,
ON CONFLICT … DO UPDATE … WHERE, RETURNING), and each is race-safe on its own: a claim takes a
partition only if it is free, expired or already ours, so of two hubs claiming one partition at
the same moment exactly one gets a row back. The caller holds the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.persistence.connection import Connection
from hub.persistence.timestamps import from_epoch, to_epoch

__all__ = [
    "Lease",
    "claim",
    "heartbeat",
    "leases",
    "leave",
    "live_members",
    "release",
    "renew",
]


@dataclass(frozen=True, slots=True)
class Lease:
    """One partition's lease: who holds it until when, and its fencing token."""

    partition: int
    holder: str
    expires_at: datetime
    epoch: int


def _lease(row: Any) -> Lease:
    # sqlite3.Row or the Core row: both read by column name.
    return Lease(
        int(row["partition_no"]),
        str(row["holder"]),
        from_epoch(float(row["expires_at"])),
        int(row["epoch"]),
    )


def claim(
    conn: Connection, partition: int, hub_id: str, now: datetime, expires_at: datetime
) -> Lease | None:
    """Take a partition that is free, expired or ours until `expires_at`; None if another hub
    holds it. The epoch goes up by one whenever the holder changes (the fencing token)."""
    row = conn.execute(
        "INSERT INTO hub_leases(partition_no, holder, expires_at, epoch, acquired_at) "
        "VALUES (:p, :me, :until, 1, :now) "
        "ON CONFLICT (partition_no) DO UPDATE SET holder = excluded.holder, "
        "expires_at = excluded.expires_at, "
        "epoch = CASE WHEN hub_leases.holder = excluded.holder THEN hub_leases.epoch "
        "ELSE hub_leases.epoch + 1 END, "
        "acquired_at = CASE WHEN hub_leases.holder = excluded.holder "
        "THEN hub_leases.acquired_at ELSE excluded.acquired_at END "
        "WHERE hub_leases.expires_at < :now OR hub_leases.holder = :me "
        "RETURNING partition_no, holder, expires_at, epoch",
        {"p": partition, "me": hub_id, "until": to_epoch(expires_at), "now": to_epoch(now)},
    ).fetchone()
    return None if row is None else _lease(row)


def renew(conn: Connection, hub_id: str, expires_at: datetime) -> list[Lease]:
    """Extend every lease this hub still holds; return them (a lease taken by another hub is
    not among them: that is how a hub learns it lost one)."""
    rows = conn.execute(
        "UPDATE hub_leases SET expires_at = :until WHERE holder = :me "
        "RETURNING partition_no, holder, expires_at, epoch",
        {"me": hub_id, "until": to_epoch(expires_at)},
    ).fetchall()
    return sorted((_lease(r) for r in rows), key=lambda lease: lease.partition)


def release(conn: Connection, partition: int, hub_id: str, now: datetime) -> bool:
    """Give a partition up at once (expired now), if this hub holds it; True if it did."""
    cur = conn.execute(
        "UPDATE hub_leases SET expires_at = :now WHERE partition_no = :p AND holder = :me",
        {"p": partition, "me": hub_id, "now": to_epoch(now) - 1.0},
    )
    return cur.rowcount == 1


def leases(conn: Connection) -> list[Lease]:
    """Every partition's lease, by partition."""
    rows = conn.execute(
        "SELECT partition_no, holder, expires_at, epoch FROM hub_leases ORDER BY partition_no"
    ).fetchall()
    return [_lease(r) for r in rows]


def heartbeat(conn: Connection, hub_id: str, now: datetime, expires_at: datetime) -> None:
    """Say this hub is alive until `expires_at` (the others count it when sharing partitions)."""
    conn.execute(
        "INSERT INTO hub_members(hub_id, seen_at, expires_at) VALUES (:me, :now, :until) "
        "ON CONFLICT (hub_id) DO UPDATE SET seen_at = excluded.seen_at, "
        "expires_at = excluded.expires_at",
        {"me": hub_id, "now": to_epoch(now), "until": to_epoch(expires_at)},
    )


def live_members(conn: Connection, now: datetime) -> list[str]:
    """The hubs whose heartbeat has not expired, by id."""
    rows = conn.execute(
        "SELECT hub_id FROM hub_members WHERE expires_at >= :now ORDER BY hub_id",
        {"now": to_epoch(now)},
    ).fetchall()
    return [str(r[0]) for r in rows]


def leave(conn: Connection, hub_id: str) -> None:
    """This hub stops: it no longer counts among the live ones."""
    conn.execute("DELETE FROM hub_members WHERE hub_id = :me", {"me": hub_id})
