"""Reads of stored events that the alert engine needs (the ingest store writes them)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from hub.persistence.timestamps import to_epoch

__all__ = ["resident_answered"]


def resident_answered(conn: sqlite3.Connection, home_id: str, since: datetime) -> bool:
    """True if the home's "I'm OK" button was pressed (received) at or after `since`."""
    row = conn.execute(
        "SELECT 1 FROM events WHERE home_id = :home AND kind = 'ok_button' "
        "AND received_at >= :since LIMIT 1",
        {"home": home_id, "since": to_epoch(since)},
    ).fetchone()
    return row is not None
