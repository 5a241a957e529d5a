"""Typed records in and out of the persistence layer: what the hub stores and reads back.

Frozen dataclasses with aware datetimes; repositories build them from rows in one place each
(`hub.persistence.alerts.alert_from_row` for alerts), so callers never see a database row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "AlertRecord",
    "EventRecord",
    "HomeRecord",
    "KitRecord",
    "NewAlert",
    "NewEvent",
    "SensorStateRecord",
]


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
