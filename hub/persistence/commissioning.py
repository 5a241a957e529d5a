"""Installers' walk tests: the latest commissioning report of a kit, with its home, and who
ran the test mode it was taken in (for the handover report)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.persistence.connection import Connection
from hub.persistence.timestamps import to_epoch

__all__ = ["WalkTest", "latest_walk_test", "test_mode_opener"]


@dataclass(frozen=True, slots=True)
class WalkTest:
    """A kit's latest walk-test report (its JSON body) and the home it was taken in."""

    body: dict[str, Any]
    home_id: str
    home_name: str
    mahalla: str
    timezone: str


def latest_walk_test(conn: Connection, kit_id: str) -> WalkTest | None:
    """The kit's newest walk test, or None."""
    row = conn.execute(
        "SELECT c.body, h.id, h.name, h.mahalla, h.timezone FROM commissioning_reports c "
        "JOIN homes h ON h.id = c.home_id WHERE c.kit_id = :kit "
        "ORDER BY c.finished_at DESC LIMIT 1",
        {"kit": kit_id},
    ).fetchone()
    if row is None:
        return None
    return WalkTest(json.loads(row[0]), row[1], row[2], row[3], row[4])


def test_mode_opener(conn: Connection, kit_id: str, before: datetime) -> str | None:
    """Who set the kit's latest test mode that started by `before` (None: none, or no table)."""
    try:
        row = conn.execute(
            "SELECT set_by FROM test_modes WHERE kit_id = :kit AND starts_at <= :before "
            "ORDER BY starts_at DESC LIMIT 1",
            {"kit": kit_id, "before": to_epoch(before)},
        ).fetchone()
    except sqlite3.OperationalError:  # a database the alert engine never migrated
        return None
    return None if row is None else str(row[0])
