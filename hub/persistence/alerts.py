"""The alerts repository: the one path that opens (or merges into) an alert, and the one place
an `alerts` row becomes a typed record.

Rules, the routine and cold scans, ingest and the kit-availability scanner all raise alerts
through `raise_alert`, so "a repeat merges into the open alert of its home and kind" is written
once. The caller holds the transaction (the store's batch, or the alert engine's `tx()`).
SQL is portable (named parameters, RETURNING, no SQLite-only functions) so PostgreSQL can follow.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Final

from hub.persistence.records import AlertRecord, NewAlert
from hub.persistence.timestamps import from_epoch, to_epoch

__all__ = [
    "OPEN_ALERT_STATES",
    "alert_by_id",
    "alert_from_row",
    "alerts",
    "find_open_alert",
    "raise_alert",
]

# An alert in one of these states takes repeats of its home and kind (count += 1) instead of
# a new row; "on the way" and "arrived" are `progress` within acknowledged.
OPEN_ALERT_STATES: Final = ("raised", "notified", "acknowledged")

_COMPACT: Final = (",", ":")


def alert_from_row(row: sqlite3.Row) -> AlertRecord:
    """Build an AlertRecord from an `alerts` row (the only place this is done)."""
    return AlertRecord(
        id=row["id"],
        home_id=row["home_id"],
        kind=row["kind"],
        severity=row["severity"],
        state=row["state"],
        raised_at=from_epoch(row["raised_at"]),
        updated_at=from_epoch(row["updated_at"]),
        source_event_id=row["source_event_id"],
        count=row["count"],
        detail=json.loads(row["detail"]),
    )


def find_open_alert(conn: sqlite3.Connection, home_id: str, kind: str) -> AlertRecord | None:
    """The open alert of this home and kind, if any (the newest, should there be two)."""
    row = conn.execute(
        "SELECT * FROM alerts WHERE home_id=:home AND kind=:kind "
        "AND state IN ('raised', 'notified', 'acknowledged') ORDER BY id DESC LIMIT 1",
        {"home": home_id, "kind": kind},
    ).fetchone()
    return None if row is None else alert_from_row(row)


def alert_by_id(conn: sqlite3.Connection, alert_id: int) -> AlertRecord | None:
    """One alert by id, or None."""
    row = conn.execute("SELECT * FROM alerts WHERE id=:id", {"id": alert_id}).fetchone()
    return None if row is None else alert_from_row(row)


def raise_alert(
    conn: sqlite3.Connection, alert: NewAlert, *, mahalla: str | None = None
) -> tuple[AlertRecord, bool]:
    """Open an alert, or merge it into this home's open alert of the same kind; True if new.

    A merge counts the repeat and moves `updated_at`; it keeps the first alert's detail and
    severity (the people already told were told about that one). `mahalla` is set by callers
    that know it already (the kit scanner); the alert engine fills it in on adoption otherwise.
    """
    current = find_open_alert(conn, alert.home_id, alert.kind)
    if current is not None:
        conn.execute(
            "UPDATE alerts SET count=count+1, updated_at=:at WHERE id=:id",
            {"at": to_epoch(alert.raised_at), "id": current.id},
        )
        merged = alert_by_id(conn, current.id)
        assert merged is not None  # updated in this very transaction
        return merged, False
    values = {
        "home": alert.home_id,
        "kind": alert.kind,
        "severity": alert.severity,
        "at": to_epoch(alert.raised_at),
        "source": alert.source_event_id,
        "detail": json.dumps(alert.detail, separators=_COMPACT),
        "mahalla": mahalla,
    }
    # `mahalla` is the alert engine's column: a database with the core schema alone lacks it.
    mahalla_column, mahalla_value = (", mahalla", ", :mahalla") if mahalla is not None else ("", "")
    row = conn.execute(
        "INSERT INTO alerts(home_id, kind, severity, state, raised_at, updated_at, "
        f"source_event_id, detail{mahalla_column}) VALUES (:home, :kind, :severity, 'raised', "
        f":at, :at, :source, :detail{mahalla_value}) RETURNING *",
        values,
    ).fetchone()
    return alert_from_row(row), True


def alerts(conn: sqlite3.Connection, home_id: str | None = None) -> list[AlertRecord]:
    """Alerts (optionally of one home), oldest first."""
    if home_id is None:
        rows = conn.execute("SELECT * FROM alerts ORDER BY id")
    else:
        rows = conn.execute(
            "SELECT * FROM alerts WHERE home_id=:home ORDER BY id", {"home": home_id}
        )
    return [alert_from_row(r) for r in rows]
