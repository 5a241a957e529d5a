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
    "AlertView",
    "AttemptView",
    "AuditEntry",
    "EventRecord",
    "HomeRecord",
    "KitRecord",
    "ModeView",
    "NewAlert",
    "NewEvent",
    "NotificationView",
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


# -- the alert lifecycle, as pages, the API and the engine read it ---------------------------------


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert with its lifecycle, as pages and the API show it."""

    id: int
    home_id: str
    kind: str
    severity: str
    state: str
    progress: str | None
    mahalla: str | None
    raised_at: datetime
    updated_at: datetime
    count: int
    detail: dict[str, Any]
    notified_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_comment: str | None
    on_the_way_at: datetime | None
    arrived_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    outcome: str | None
    note: str | None

    @property
    def is_open(self) -> bool:
        """True while someone still has to act."""
        return self.state in ("raised", "notified", "acknowledged")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One view or change of an alert."""

    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One delivery attempt: recorded before the send (intent), completed with its outcome."""

    at: datetime  # when the attempt started (its intent was committed)
    method_index: int
    channel: str
    destination: str
    ok: bool
    error: str | None
    # sending (under way) | sent | failed | unknown (the hub stopped during the send)
    outcome: str
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class NotificationView:
    """One message to one person, with its attempts."""

    id: int
    person_id: str
    target: str
    purpose: str
    round: int
    step: int
    status: str  # pending | sent | failed | cancelled | unknown (see docs/alerts.md)
    sent_at: datetime | None
    last_error: str | None
    attempts: list[AttemptView]


@dataclass(frozen=True, slots=True)
class ModeView:
    """A home mode period."""

    id: int
    home_id: str
    mode: str
    starts_at: datetime
    ends_at: datetime
    set_by: str
