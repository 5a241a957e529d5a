"""The storage interface of the hub; `SqlStore` implements it on SQLite and PostgreSQL.

Everything the hub must not lose (events, alerts, kit state) goes through these methods, so
the rest of the hub never writes SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from hub.persistence.database import is_transient_error
from hub.persistence.records import (
    AlertRecord,
    EventRecord,
    HomeRecord,
    KitRecord,
    NewAlert,
    NewEvent,
    SensorStateRecord,
)
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
    return is_transient_error(exc)


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

    def kit_registrations(self, page: int = 5000) -> Iterator[KitRecord]:
        """Every registered kit's home and sensors, without its state."""
        ...

    def last_kit_change(self) -> int:
        """Where the registry's changes stand now (read before reading the kits)."""
        ...

    def kit_changes_after(self, seq: int) -> list[tuple[int, str]]:
        """The kits whose registration changed after `seq`, as (seq, kit id), oldest first."""
        ...

    def homes_in_test_mode(self, at: datetime) -> frozenset[str]:
        """Homes with a kit in test mode at `at` (an installer walk-testing it)."""
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

    def newest_event_id(self, kit_id: str) -> int:
        """The id of the kit's last stored event (0: none)."""
        ...

    def sensors_heard_after(self, kit_id: str, after_id: int) -> dict[str, datetime]:
        """Each of the kit's sensors with an event stored after event `after_id`: the first
        such event's time."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...
