"""The tail of the events table for the routine scan's memory: what arrived since it last looked.

One indexed range query on the events' primary key per pass (not a query per home), so the
scan knows which homes had signs of life without reading any home's history again.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.persistence.connection import Connection
from hub.persistence.event_index_terms import each_index

__all__ = [
    "TailRow",
    "activity_after",
    "event_identity",
    "first_event_after",
    "last_event_id",
]


@dataclass(frozen=True, slots=True)
class TailRow:
    """One stored event as the scan's memory needs it."""

    id: int
    home_id: str
    occurred_s: float
    # The sign of life as `SqliteStore.activity_events` names it ('vacated' for a mat left),
    # None for events that are not one (a motion sensor's OFF, a temperature).
    activity: str | None
    place: str | None  # the sensor's registered place, None if it has none


def last_event_id(conn: Connection) -> int:
    """The newest event's id (0 for an empty table): where a fresh tail starts."""
    row = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
    return int(row[0])


def event_identity(conn: Connection, event_id: int) -> str:
    """What makes event `event_id` itself (its kit, epoch, sequence and time), '' when there is
    none: ids are reused after a restore or a lost commit, the event's identity is not."""
    row = conn.execute(
        "SELECT kit_id, epoch, seq, occurred_at FROM events WHERE id = :id", {"id": event_id}
    ).fetchone()
    return "" if row is None else f"{row[0]}|{row[1]}|{row[2]}|{float(row[3])!r}"


def activity_after(conn: Connection, after_id: int, limit: int) -> list[TailRow]:
    """Up to `limit` events with an id above `after_id`, oldest id first."""
    rows = conn.execute(
        "SELECT e.id, e.home_id, e.occurred_at, "
        "CASE WHEN e.kind IN ('motion', 'appliance') AND e.value = 'true' THEN e.kind "
        "WHEN e.kind = 'occupancy' AND e.value = 'false' THEN 'vacated' "
        "WHEN e.kind IN ('door', 'help_button', 'ok_button', 'occupancy') THEN e.kind "
        "ELSE NULL END, s.place "
        "FROM events e LEFT JOIN sensors s ON s.kit_id = e.kit_id AND s.id = e.sensor_id "
        "WHERE e.id > :after ORDER BY e.id LIMIT :limit",
        {"after": after_id, "limit": limit},
    )
    return [TailRow(int(r[0]), r[1], float(r[2]), r[3], r[4]) for r in rows]


def first_event_after(conn: Connection, home_id: str, when_s: float, up_to_id: int) -> float | None:
    """The earliest event of a home stamped after `when_s` (a kit clock ahead) among those
    with an id up to `up_to_id` (later ones reach the scan through the tail), or None."""
    halves = each_index(
        "SELECT MIN(occurred_at) AS t FROM events WHERE home_id = :home AND occurred_at > :when "
        "AND id <= :up_to AND"
    )
    row = conn.execute(
        f"SELECT MIN(t) FROM ({halves}) AS firsts",
        {"home": home_id, "when": when_s, "up_to": up_to_id},
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])
