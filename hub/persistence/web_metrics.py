"""Figures the web app's /metrics reads from the database at scrape time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

__all__ = [
    "Histogram",
    "ack_latency",
    "alerts_by_state",
    "database_answers",
    "delivery_attempts",
    "events_stored",
    "kit_outbox_depth",
    "kits_by_availability",
    "notify_latency",
    "open_request_count",
]


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cumulative counts per upper bound, the total count and the sum of the values."""

    cumulative: tuple[int, ...]
    count: int
    total: float


def database_answers(conn: Connection) -> bool:
    """True when the database answers a trivial query."""
    return conn.execute(text("SELECT 1")).scalar() == 1


def alerts_by_state(conn: Connection) -> dict[str, int]:
    """How many alerts are in each state."""
    rows = conn.execute(text("SELECT state, COUNT(*) FROM alerts GROUP BY state"))
    return {r[0]: int(r[1]) for r in rows}


def events_stored(conn: Connection) -> int:
    """Events ever stored (ids only grow, so MAX(id) counts them without scanning the table)."""
    return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM events")).scalar_one())


def kits_by_availability(conn: Connection) -> dict[str, int]:
    """How many kits are online, offline or never heard of."""
    rows = conn.execute(
        text("SELECT COALESCE(availability, 'unknown'), COUNT(*) FROM kits GROUP BY 1")
    )
    return {r[0]: int(r[1]) for r in rows}


def kit_outbox_depth(conn: Connection) -> int:
    """Events waiting on kits' disks, from their latest heartbeats.

    Summed here rather than with SQLite's json_extract, which PostgreSQL spells differently;
    one row per kit is small next to the events table.
    """
    total = 0
    for (beat,) in conn.execute(
        text("SELECT last_heartbeat FROM kits WHERE last_heartbeat IS NOT NULL")
    ):
        depth = json.loads(beat).get("outbox_depth")
        if isinstance(depth, int | float):
            total += int(depth)
    return total


def open_request_count(conn: Connection) -> int:
    """Family requests waiting for a worker."""
    return int(
        conn.execute(
            text("SELECT COUNT(*) FROM web_requests WHERE state IN ('open', 'accepted')")
        ).scalar_one()
    )


def _histogram(conn: Connection, durations_sql: str, bounds: Sequence[float]) -> Histogram:
    """Count the durations the query returns into cumulative buckets, in SQL (one pass)."""
    columns = ", ".join(
        f"COALESCE(SUM(CASE WHEN d <= {float(b)!r} THEN 1 ELSE 0 END), 0)" for b in bounds
    )
    row = conn.execute(
        text(f"SELECT {columns}, COUNT(*), COALESCE(SUM(d), 0) FROM ({durations_sql}) AS t")
    ).one()
    *cumulative, count, total = row
    return Histogram(tuple(int(c) for c in cumulative), int(count), float(total))


def ack_latency(conn: Connection, bounds: Sequence[float]) -> Histogram:
    """Raised-to-acknowledged seconds of every alert ever acknowledged."""
    return _histogram(
        conn,
        "SELECT acknowledged_at - raised_at AS d FROM alerts WHERE acknowledged_at IS NOT NULL",
        bounds,
    )


def notify_latency(conn: Connection, bounds: Sequence[float]) -> Histogram:
    """Raised-to-first-successful-delivery seconds of every alert ever delivered.

    alert_notifications.sent_at is set when a channel accepted the message; the first one per
    alert is what "notified" means (it also sets alerts.notified_at).
    """
    return _histogram(
        conn,
        "SELECT MIN(n.sent_at) - a.raised_at AS d FROM alert_notifications n "
        "JOIN alerts a ON a.id = n.alert_id WHERE n.sent_at IS NOT NULL GROUP BY a.id, a.raised_at",
        bounds,
    )


def delivery_attempts(conn: Connection) -> dict[tuple[str, bool], int]:
    """Delivery attempts of alert messages by (channel, succeeded)."""
    rows = conn.execute(
        text("SELECT channel, ok, COUNT(*) FROM alert_delivery_attempts GROUP BY 1, 2")
    )
    return {(r[0], bool(r[1])): int(r[2]) for r in rows}
