"""What the InfluxDB sink tails: rows committed after a known position, in commit order.

The sink keeps its position (last event id, last heartbeat time, last alert id) in memory and
asks for what came after it; JSON columns are handed over as stored, so a row that does not
decode is the sink's to count, not a reason to stall the tail here.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.persistence.connection import Connection

__all__ = [
    "AlertRow",
    "EventRow",
    "HeartbeatRow",
    "TailPosition",
    "alerts_after",
    "events_after",
    "heartbeats_after",
    "tail_position",
]


@dataclass(frozen=True, slots=True)
class TailPosition:
    """The current end of the tailed tables."""

    last_event_id: int
    last_alert_id: int
    last_heartbeat_s: float


@dataclass(frozen=True, slots=True)
class EventRow:
    """A stored event as the sink writes it (times in epoch seconds)."""

    id: int
    home_id: str
    kit_id: str
    sensor_id: str
    kind: str
    value_json: str
    room: str | None
    occurred_s: float


@dataclass(frozen=True, slots=True)
class HeartbeatRow:
    """A kit's latest heartbeat."""

    kit_id: str
    home_id: str
    body_json: str | None
    at_s: float


@dataclass(frozen=True, slots=True)
class AlertRow:
    """A raised alert with its detail (detector evidence)."""

    id: int
    home_id: str
    kind: str
    detail_json: str
    raised_s: float


def tail_position(conn: Connection) -> TailPosition:
    """Where the tables end now (history before it is not replayed)."""
    row = conn.execute(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM events), "
        "(SELECT COALESCE(MAX(id), 0) FROM alerts), "
        "(SELECT COALESCE(MAX(last_heartbeat_at), 0) FROM kits)"
    ).fetchone()
    return TailPosition(int(row[0]), int(row[1]), float(row[2]))


def events_after(conn: Connection, after_id: int, limit: int = 50_000) -> list[EventRow]:
    """Events stored after `after_id`, in id order, at most `limit`."""
    rows = conn.execute(
        "SELECT id, home_id, kit_id, sensor_id, kind, value, room, occurred_at FROM events "
        "WHERE id > :after ORDER BY id LIMIT :limit",
        {"after": after_id, "limit": limit},
    )
    return [EventRow(*r) for r in rows]


def heartbeats_after(conn: Connection, after_s: float) -> list[HeartbeatRow]:
    """Kits whose latest heartbeat is newer than `after_s`."""
    rows = conn.execute(
        "SELECT id, home_id, last_heartbeat, last_heartbeat_at FROM kits "
        "WHERE last_heartbeat_at > :after",
        {"after": after_s},
    )
    return [HeartbeatRow(*r) for r in rows]


def alerts_after(conn: Connection, after_id: int) -> list[AlertRow]:
    """Alerts raised after `after_id`, in id order."""
    rows = conn.execute(
        "SELECT id, home_id, kind, detail, raised_at FROM alerts WHERE id > :after ORDER BY id",
        {"after": after_id},
    )
    return [AlertRow(*r) for r in rows]
