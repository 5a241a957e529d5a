"""Retention of raw events (component "retention" in hub/persistence/migrate.py): old events
become one row per home and hour, in small transactions.

Raw events are what the detectors read (the routine learns from 28 days); past the retention
window each hour of a home keeps how many events it stored and its signs of life per place
(kitchen, bathroom, bedroom, living room, entrance, other: what the routine rules reason
about), enough for activity-over-months views and reports, at a fraction of the bytes.
Events an alert points at (`alerts.source_event_id`) are kept with the alert. The newest event
is never removed, so event ids keep growing (the routine scan follows the table by id).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hub.persistence.connection import Connection
from hub.persistence.migrate import apply_migrations
from hub.persistence.sqlite_store import SqlStore

__all__ = [
    "MIGRATIONS",
    "PLACES",
    "RetentionBatch",
    "delete_old_summaries",
    "migrate_retention",
    "summarise_old_events",
]

MIGRATIONS: tuple[str, ...] = (
    # 1: hourly summaries of events past the raw-event retention window.
    """
    CREATE TABLE event_hours (
        id INTEGER PRIMARY KEY,
        home_id TEXT NOT NULL,
        hour_s REAL NOT NULL,
        events INTEGER NOT NULL,
        kitchen INTEGER NOT NULL,
        bathroom INTEGER NOT NULL,
        bedroom INTEGER NOT NULL,
        living INTEGER NOT NULL,
        entrance INTEGER NOT NULL,
        other INTEGER NOT NULL,
        UNIQUE (home_id, hour_s)
    );
    """,
)

_HOUR_S = 3600.0
# Sign-of-life values as SqliteStore.activity_events reads them (a motion start, a door, a
# press, a mat sat on or left): the summary's `active` count.
_ALWAYS_ACTIVE = frozenset({"door", "help_button", "ok_button", "occupancy"})
_ACTIVE_WHEN_TRUE = frozenset({"motion", "appliance"})
# The places of mehr.vocabulary.Place, as the summary's columns (a sensor without one: other).
PLACES = ("kitchen", "bathroom", "bedroom", "living", "entrance", "other")


def migrate_retention(db: Connection, source: str = "database") -> int:
    """Bring the retention schema up to date on an autocommit connection."""
    return apply_migrations(db, "retention", MIGRATIONS, source)


@dataclass(frozen=True, slots=True)
class RetentionBatch:
    """What one small transaction did, and where the next one starts."""

    summarised: int  # events folded into hourly counts and deleted
    scanned: int  # events looked at (folded or not)
    next_after_id: int  # continue after this id
    at_end: bool  # reached the newest event


def summarise_old_events(
    store: SqlStore, after_id: int, cutoff_s: float, batch: int
) -> RetentionBatch:
    """Fold the events among the next `batch` ids above `after_id` that were stamped and
    stored before `cutoff_s` into `event_hours` and delete them, in one transaction the caller
    commits. The others (stored within the window, a kit clock ahead, an alert's own event)
    are left as they are.
    """
    conn = store.connection
    rows = conn.execute(
        "SELECT e.id, e.home_id, s.place, e.kind, e.value, e.occurred_at, e.stored_at "
        "FROM events e LEFT JOIN sensors s ON s.kit_id = e.kit_id AND s.id = e.sensor_id "
        "WHERE e.id > :after AND e.id < (SELECT MAX(id) FROM events) ORDER BY e.id "
        "LIMIT :batch",
        {"after": after_id, "batch": batch},
    ).fetchall()
    if not rows:
        return RetentionBatch(0, 0, after_id, True)
    first, last = int(rows[0][0]), int(rows[-1][0])
    keep = {
        int(r[0])
        for r in conn.execute(
            "SELECT source_event_id FROM alerts WHERE source_event_id >= :lo "
            "AND source_event_id <= :hi",
            {"lo": first, "hi": last},
        )
    }
    events: Counter[tuple[str, float]] = Counter()
    alive: dict[tuple[str, float], Counter[str]] = {}
    folded = 0
    for r in rows:
        if float(r[5]) >= cutoff_s or float(r[6]) >= cutoff_s or int(r[0]) in keep:
            continue
        kind, value = str(r[3]), str(r[4])
        key = (str(r[1]), (float(r[5]) // _HOUR_S) * _HOUR_S)
        events[key] += 1
        per_place = alive.setdefault(key, Counter())
        if kind in _ALWAYS_ACTIVE or (kind in _ACTIVE_WHEN_TRUE and value == "true"):
            per_place[r[2] if r[2] in PLACES else "other"] += 1
        folded += 1
    if folded:
        # The write lock from here to the caller's commit: one batch of upserts and a delete.
        store._begin()  # the store's own transaction (same package)
        for (home, hour), count in events.items():
            conn.execute(
                "INSERT INTO event_hours(home_id, hour_s, events, kitchen, bathroom, bedroom, "
                "living, entrance, other) VALUES (:home, :hour, :events, :kitchen, :bathroom, "
                ":bedroom, :living, :entrance, :other) ON CONFLICT(home_id, hour_s) DO UPDATE "
                "SET events = event_hours.events + excluded.events, "
                "kitchen = event_hours.kitchen + excluded.kitchen, "
                "bathroom = event_hours.bathroom + excluded.bathroom, "
                "bedroom = event_hours.bedroom + excluded.bedroom, "
                "living = event_hours.living + excluded.living, "
                "entrance = event_hours.entrance + excluded.entrance, "
                "other = event_hours.other + excluded.other",
                {"home": home, "hour": hour, "events": count}
                | {place: alive[(home, hour)][place] for place in PLACES},
            )
        conn.execute(
            "DELETE FROM events WHERE id >= :lo AND id <= :hi AND occurred_at < :cutoff "
            "AND stored_at < :cutoff AND id NOT IN ("
            "SELECT source_event_id FROM alerts WHERE source_event_id >= :lo "
            "AND source_event_id <= :hi)",
            {"lo": first, "hi": last, "cutoff": cutoff_s},
        )
    return RetentionBatch(folded, len(rows), last, len(rows) < batch)


def delete_old_summaries(store: SqlStore, cutoff_s: float, batch: int) -> int:
    """Delete up to `batch` hourly summaries older than `cutoff_s`; the caller commits."""
    store._begin()  # the store's own transaction (same package)
    cur = store.connection.execute(
        "DELETE FROM event_hours WHERE id IN (SELECT id FROM event_hours WHERE hour_s < :cut "
        "ORDER BY id LIMIT :batch)",
        {"cut": cutoff_s, "batch": batch},
    )
    return max(0, int(cur.rowcount))
