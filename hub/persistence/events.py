"""Reads of stored events for the alert engine and the scans (the ingest store writes them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from hub.persistence.connection import Connection
from hub.persistence.event_index_terms import NOT_SIGN_OF_LIFE, SIGN_OF_LIFE, SIGN_OF_LIFE_KINDS
from hub.persistence.timestamps import to_epoch

__all__ = ["Reading", "readings", "resident_answered"]


def resident_answered(conn: Connection, home_id: str, since: datetime) -> bool:
    """True if the home's "I'm OK" button was pressed (received) at or after `since`."""
    row = conn.execute(
        f"SELECT 1 FROM events WHERE home_id = :home AND {SIGN_OF_LIFE} AND kind = 'ok_button' "
        "AND received_at >= :since LIMIT 1",
        {"home": home_id, "since": to_epoch(since)},
    ).fetchone()
    return row is not None


@dataclass(frozen=True, slots=True)
class Reading:
    """One numeric reading of a sensor; seconds since the epoch, for numpy."""

    occurred_s: float
    sensor_id: str
    value: float


def readings(conn: Connection, home_id: str, kind: str, since: datetime) -> list[Reading]:
    """A home's readings of one kind (e.g. temperature) since `since`, oldest first."""
    if kind in SIGN_OF_LIFE_KINDS:
        raise ValueError(f"{kind!r} is a sign of life, not a reading")
    rows = conn.execute(
        "SELECT occurred_at, sensor_id, value FROM events WHERE home_id = :home AND "
        f"{NOT_SIGN_OF_LIFE} AND kind = :kind AND occurred_at >= :since ORDER BY occurred_at",
        {"home": home_id, "kind": kind, "since": to_epoch(since)},
    )
    return [Reading(r[0], r[1], float(json.loads(r[2]))) for r in rows]
