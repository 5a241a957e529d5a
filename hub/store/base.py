"""The storage interface of the hub; SQLite implements it now, PostgreSQL can follow.

Everything the hub must not lose (events, alerts, kit state) goes through these methods, so
the rest of the hub never writes SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hub.registry import HomeSpec

__all__ = [
    "AlertRecord",
    "EventRecord",
    "HomeRecord",
    "KitRecord",
    "NewAlert",
    "NewEvent",
    "SensorStateRecord",
    "Store",
    "is_transient",
]


def is_transient(exc: BaseException) -> bool:
    """True for a storage error that says nothing about the data (locked, busy, disk, I/O).

    Such a batch is retried whole until it goes in; any other error is blamed on a message,
    which ingest then isolates and rejects so that the rest is stored.
    """
    return isinstance(exc, sqlite3.OperationalError | OSError)


@dataclass(frozen=True, slots=True)
class HomeRecord:
    """A registered home."""

    id: str
    name: str
    timezone: str
    mahalla: str
    risk_level: str = "medium"


@dataclass(frozen=True, slots=True)
class KitRecord:
    """A registered kit, its home, its sensors (id -> (kind, room)) and its last known state."""

    id: str
    home_id: str
    sensors: dict[str, tuple[str, str]]
    availability: str | None = None
    availability_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    last_heartbeat: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An accepted event on its way into storage."""

    home_id: str
    kit_id: str
    epoch: int
    seq: int
    sensor_id: str
    kind: str
    value: Any
    room: str | None
    occurred_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A stored event."""

    id: int
    home_id: str
    kit_id: str
    epoch: int
    seq: int
    sensor_id: str
    kind: str
    value: Any
    room: str | None
    occurred_at: datetime
    received_at: datetime
    stored_at: datetime


@dataclass(frozen=True, slots=True)
class SensorStateRecord:
    """The last event of one sensor."""

    home_id: str
    kit_id: str
    sensor_id: str
    kind: str
    room: str | None
    value: Any
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert a rule wants raised (or merged into the open one of the same kind)."""

    home_id: str
    kind: str
    severity: str
    raised_at: datetime
    source_event_id: int | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A stored alert."""

    id: int
    home_id: str
    kind: str
    severity: str
    state: str
    raised_at: datetime
    updated_at: datetime
    source_event_id: int | None
    count: int
    detail: dict[str, Any]


class Store(Protocol):
    """What the hub needs from its database. One instance per thread that uses it."""

    def register_home(self, home: HomeSpec, now: datetime) -> None:
        """Insert or update a home with its kits and sensors."""
        ...

    def kit(self, kit_id: str) -> KitRecord | None:
        """Return a registered kit, or None."""
        ...

    def kits(self) -> list[KitRecord]:
        """Return every registered kit."""
        ...

    def homes(self) -> list[HomeRecord]:
        """Return every registered home."""
        ...

    def store_events(self, events: Sequence[NewEvent], stored_at: datetime) -> list[int | None]:
        """Store events once each; return each one's new id, or None when it was a duplicate."""
        ...

    def raise_alert(self, alert: NewAlert) -> tuple[AlertRecord, bool]:
        """Open an alert, or merge into the open one of this home and kind; True if new."""
        ...

    def set_availability(self, kit_id: str, state: str, at: datetime) -> None:
        """Record a kit's availability (online/offline)."""
        ...

    def set_heartbeat(self, kit_id: str, at: datetime, body: dict[str, Any]) -> None:
        """Record a kit's latest heartbeat."""
        ...

    def commit(self) -> None:
        """Make everything since the last commit durable."""
        ...

    def rollback(self) -> None:
        """Drop everything since the last commit."""
        ...

    def events(self, home_id: str | None = None, limit: int | None = None) -> list[EventRecord]:
        """Return stored events, oldest first."""
        ...

    def count_events(self, home_id: str | None = None) -> int:
        """Return how many events are stored."""
        ...

    def alerts(self, home_id: str | None = None) -> list[AlertRecord]:
        """Return alerts, oldest first."""
        ...

    def sensor_states(self, home_id: str) -> list[SensorStateRecord]:
        """Return the last event of every sensor of a home."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...
