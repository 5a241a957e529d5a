"""The alerts repository: the one path that opens (or merges into) an alert, and the one place
an `alerts` row becomes a typed record.

Rules, the routine and cold scans, ingest and the kit-availability scanner all raise alerts
through `raise_alert`, so "a repeat merges into the open alert of its home and kind" is written
once. The caller holds the transaction (the store's batch, or the alert engine's `tx()`).
SQL is portable (named parameters, RETURNING, no SQLite-only functions) so PostgreSQL can follow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from hub.persistence.connection import Connection
from hub.persistence.database import has_column
from hub.persistence.records import AlertRecord, NewAlert
from hub.persistence.timestamps import from_epoch, to_epoch

__all__ = [
    "CRITICAL_FIRST",
    "OPEN_ALERT_STATES",
    "AlertToAdopt",
    "alert_by_id",
    "alert_from_row",
    "alerts",
    "critical_first",
    "find_open_alert",
    "grow",
    "mark_notified",
    "mark_test",
    "of_test_mode",
    "only_critical",
    "raise_alert",
    "reopen_after_ack_timeout",
    "set_mahalla",
    "set_routing",
    "state_of",
    "to_adopt",
]


def critical_first(alias: str) -> str:
    """An ORDER BY key over rows `alias` with a severity (alerts, escalations): a critical one
    (a help press, a fall) before any other, so that it never waits behind a backlog."""
    return f"CASE WHEN {alias}.severity = 'critical' THEN 0 ELSE 1 END"


def only_critical(alias: str, only: bool) -> str:
    """A WHERE term, with its AND, keeping only the critical rows of `alias` (the alert
    engine's critical lane, hub/alerts/engine.py), or nothing."""
    return f"AND {alias}.severity = 'critical' " if only else ""


# Over alerts `a`: never adopted or sent behind a backlog of others.
CRITICAL_FIRST: Final = critical_first("a")

# An alert in one of these states takes repeats of its home and kind (count += 1) instead of
# a new row; "on the way" and "arrived" are `progress` within acknowledged.
OPEN_ALERT_STATES: Final = ("raised", "notified", "acknowledged")

_COMPACT: Final = (",", ":")
# The predicate of the alerts_one_open index, word for word (an upsert must name it).
_OPEN_CONDITION: Final = "state IN ('raised', 'notified', 'acknowledged')"


def alert_from_row(row: Any) -> AlertRecord:
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


def find_open_alert(conn: Connection, home_id: str, kind: str) -> AlertRecord | None:
    """The open alert of this home and kind, if any (the newest, should there be two)."""
    row = conn.execute(
        "SELECT * FROM alerts WHERE home_id=:home AND kind=:kind "
        "AND state IN ('raised', 'notified', 'acknowledged') ORDER BY id DESC LIMIT 1",
        {"home": home_id, "kind": kind},
    ).fetchone()
    return None if row is None else alert_from_row(row)


def alert_by_id(conn: Connection, alert_id: int) -> AlertRecord | None:
    """One alert by id, or None."""
    row = conn.execute("SELECT * FROM alerts WHERE id=:id", {"id": alert_id}).fetchone()
    return None if row is None else alert_from_row(row)


def raise_alert(
    conn: Connection, alert: NewAlert, *, mahalla: str | None = None
) -> tuple[AlertRecord, bool]:
    """Open an alert, or merge it into this home's open alert of the same kind; True if new.

    A merge counts the repeat and moves `updated_at`; it keeps the first alert's detail and
    severity (the people already told were told about that one). `mahalla` is set by callers
    that know it already (the kit scanner); the alert engine fills it in on adoption otherwise.
    """
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
    # One statement, decided by the one-open-alert index (schema_coordination.py), not by a
    # read before the insert: two hubs, or two connections on PostgreSQL, raising the same
    # alert at once get one row (the second merges), where a read-then-insert let both insert.
    row = conn.execute(
        "INSERT INTO alerts(home_id, kind, severity, state, raised_at, updated_at, "
        f"source_event_id, detail{mahalla_column}) VALUES (:home, :kind, :severity, 'raised', "
        f":at, :at, :source, :detail{mahalla_value}) "
        f"ON CONFLICT (home_id, kind) WHERE {_OPEN_CONDITION} "
        "DO UPDATE SET count = alerts.count + 1, updated_at = excluded.updated_at RETURNING *",
        values,
    ).fetchone()
    # A new row starts at count 1; a merge makes it at least 2 (count only ever grows).
    return alert_from_row(row), int(row["count"]) == 1


def alerts(conn: Connection, home_id: str | None = None) -> list[AlertRecord]:
    """Alerts (optionally of one home), oldest first."""
    if home_id is None:
        rows = conn.execute("SELECT * FROM alerts ORDER BY id")
    else:
        rows = conn.execute(
            "SELECT * FROM alerts WHERE home_id=:home ORDER BY id", {"home": home_id}
        )
    return [alert_from_row(r) for r in rows]


# -- the alert engine's view of alerts -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertToAdopt:
    """A raised alert the engine has not adopted yet, with what adopting it needs to know."""

    alert: AlertRecord
    mahalla: str | None  # the alert's own (set by the kit scanner), else its home's
    source_kit: str | None  # the kit whose event raised it, if an event did


def to_adopt(conn: Connection, critical_only: bool = False) -> list[AlertToAdopt]:
    """Raised alerts without an escalation row (critical ones only, if asked), critical ones
    first, then oldest first: none is ever left behind, and a help press is adopted before a
    backlog of other alerts."""
    rows = conn.execute(
        "SELECT a.*, h.mahalla AS home_mahalla, ev.kit_id AS source_kit FROM alerts a "
        "LEFT JOIN homes h ON h.id = a.home_id LEFT JOIN events ev ON ev.id = a.source_event_id "
        f"WHERE a.state = 'raised' {only_critical('a', critical_only)}AND NOT EXISTS "
        "(SELECT 1 FROM alert_escalations e WHERE e.alert_id = a.id) "
        f"ORDER BY {CRITICAL_FIRST}, a.id"
    ).fetchall()
    return [
        AlertToAdopt(alert_from_row(r), r["mahalla"] or r["home_mahalla"], r["source_kit"])
        for r in rows
    ]


def set_routing(
    conn: Connection, alert_id: int, mahalla: str | None, severity: str
) -> None:
    """Fix the mahalla and severity an alert is routed by (on adoption)."""
    conn.execute(
        "UPDATE alerts SET mahalla = :mahalla, severity = :severity WHERE id = :id",
        {"mahalla": mahalla, "severity": severity, "id": alert_id},
    )


def mark_test(conn: Connection, alert_id: int, test_mode_id: int) -> None:
    """The alert fell in an installer's test mode."""
    conn.execute(
        "UPDATE alerts SET test_mode_id = :mode WHERE id = :id",
        {"mode": test_mode_id, "id": alert_id},
    )


def state_of(conn: Connection, alert_id: int) -> str | None:
    """An alert's state, or None if there is no such alert."""
    row = conn.execute("SELECT state FROM alerts WHERE id = :id", {"id": alert_id}).fetchone()
    return None if row is None else str(row[0])


def mark_notified(conn: Connection, alert_id: int, at: datetime) -> bool:
    """Someone was reached: raised -> notified. False if the alert was no longer raised (the
    engine's other lane, or another hub, reached someone first)."""
    cur = conn.execute(
        "UPDATE alerts SET state = 'notified', notified_at = :at, updated_at = :at "
        "WHERE id = :id AND state = 'raised'",
        {"at": to_epoch(at), "id": alert_id},
    )
    return cur.rowcount == 1


def reopen_after_ack_timeout(conn: Connection, alert_id: int, at: datetime) -> None:
    """An acknowledgement without arrival timed out: acknowledged -> notified."""
    conn.execute(
        "UPDATE alerts SET state = 'notified', progress = NULL, updated_at = :at WHERE id = :id",
        {"at": to_epoch(at), "id": alert_id},
    )


def grow(
    conn: Connection, alert_id: int, detail: dict[str, Any], added: int, at: datetime
) -> None:
    """More of the same incident (kits joining an area outage): new detail, count += added."""
    conn.execute(
        "UPDATE alerts SET detail = :detail, count = count + :added, updated_at = :at "
        "WHERE id = :id",
        {
            "detail": json.dumps(detail, separators=_COMPACT),
            "added": added,
            "at": to_epoch(at),
            "id": alert_id,
        },
    )


def set_mahalla(conn: Connection, alert_id: int, mahalla: str) -> None:
    """Route an alert by this mahalla, where the database has the alert engine's tables.

    An area alert has no home row to take its mahalla from. A hub without the alert engine
    (the core schema alone) has no such column and nothing that routes: a no-op there.
    """
    if has_column(conn, "alerts", "mahalla"):
        conn.execute(
            "UPDATE alerts SET mahalla = :mahalla WHERE id = :id",
            {"mahalla": mahalla, "id": alert_id},
        )


def of_test_mode(conn: Connection, test_mode_id: int) -> list[AlertRecord]:
    """The alerts a test-mode period turned into tests, oldest first."""
    rows = conn.execute(
        "SELECT * FROM alerts WHERE test_mode_id = :mode ORDER BY id", {"mode": test_mode_id}
    )
    return [alert_from_row(r) for r in rows]
