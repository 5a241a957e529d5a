"""What the dashboards do to alerts, through the alert engine's `AlertService` and nothing else.

Acknowledge, on the way, arrived and resolve are the engine's transitions (so a web
acknowledgement stops escalation exactly like a link does); away/holiday/visitor are the
engine's home modes; history is the engine's audit trail. The web keeps no alert state of its own.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from dashboards.accounts import User
from hub.alerts.lifecycle import (
    OPEN_STATES,
    AlertError,
    AlertService,
    AlertView,
    AuditEntry,
    HomeMode,
    ModeView,
    Outcome,
)

__all__ = [
    "CLOSED_STATES",
    "MODES",
    "OPEN",
    "OUTCOMES",
    "Action",
    "AlertActionError",
    "actor_of",
    "alert_dict",
    "apply_action",
    "changes",
    "clear_away",
    "display_actor",
    "phase",
    "set_away",
]

OPEN: Final = frozenset(s.value for s in OPEN_STATES)
CLOSED_STATES: Final = frozenset({"resolved", "cancelled", "suppressed", "test"})
# kit_back_online is the engine's own outcome for outages; a worker picks one of these.
OUTCOMES: Final = tuple(o.value for o in Outcome if o is not Outcome.KIT_BACK_ONLINE)
MODES: Final = tuple(m.value for m in HomeMode)
# Audit actions that are reads, not changes: kept in the trail, not shown as history.
_READS: Final = frozenset({"view", "list"})


class Action(StrEnum):
    """What a worker does with an alert."""

    ACKNOWLEDGE = "acknowledge"
    ON_THE_WAY = "on_the_way"
    ARRIVED = "arrived"
    RESOLVE = "resolve"


class AlertActionError(ValueError):
    """A change the engine refused (wrong state, unknown outcome, a mode ending in the past)."""


def actor_of(user: User) -> str:
    """The engine's actor string for a web user (docs/alerts.md: `user:<name>`)."""
    return f"user:{user.username}"


def display_actor(actor: str | None, names: dict[str, str] | None = None) -> str:
    """An actor as people read it: the username, or the person's name for a link's person."""
    if not actor:
        return ""
    kind, _, value = actor.partition(":")
    if kind == "person" and names:
        return names.get(value, value)
    return value if kind in ("user", "person") else actor


def phase(alert: AlertView) -> str:
    """The state people see: the engine's `progress` (on the way, arrived) while acknowledged."""
    if alert.state == "acknowledged" and alert.progress:
        return alert.progress
    return alert.state


def apply_action(
    service: AlertService,
    alert_id: int,
    action: Action,
    actor: str,
    comment: str = "",
    outcome: str = "",
) -> AlertView:
    """Move an alert on through the engine; raise AlertActionError if it refuses."""
    try:
        if action is Action.ACKNOWLEDGE:
            return service.acknowledge(alert_id, actor, comment or None)
        if action is Action.ON_THE_WAY:
            return service.on_the_way(alert_id, actor)
        if action is Action.ARRIVED:
            return service.arrived(alert_id, actor)
        if outcome not in OUTCOMES:
            raise AlertActionError(f"outcome: one of {', '.join(OUTCOMES)}")
        return service.resolve(alert_id, actor, Outcome(outcome), comment or None)
    except AlertError as exc:
        raise AlertActionError(str(exc)) from None


def changes(service: AlertService, alert_id: int) -> list[AuditEntry]:
    """The alert's history from the engine's audit trail: every change, oldest first."""
    return [e for e in service.history(alert_id) if e.action not in _READS]


def set_away(
    service: AlertService, home_id: str, mode: str, until: datetime, actor: str
) -> ModeView:
    """Put a home in away/holiday/visitor mode until `until` (replacing a mode in force)."""
    if mode not in MODES:
        raise AlertActionError(f"mode: one of {', '.join(MODES)}")
    if until <= service.clock.now():
        raise AlertActionError("until: must be in the future")
    # One mode at a time: a new choice replaces the old one rather than stacking on it.
    service.end_mode(home_id, actor)
    try:
        return service.set_mode(home_id, HomeMode(mode), until, actor)
    except ValueError as exc:
        raise AlertActionError(str(exc)) from None


def clear_away(service: AlertService, home_id: str, actor: str) -> int:
    """End the home's mode now; return how many mode periods ended."""
    return service.end_mode(home_id, actor)


def alert_dict(
    alert: AlertView,
    history: list[AuditEntry] | None = None,
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """JSON form of an alert: the engine's state and progress, and its history when given."""

    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    out: dict[str, Any] = {
        "id": alert.id,
        "home_id": alert.home_id,
        "kind": alert.kind,
        "severity": alert.severity,
        "state": alert.state,
        "progress": alert.progress,
        "phase": phase(alert),
        "raised_at": alert.raised_at.isoformat(),
        "updated_at": alert.updated_at.isoformat(),
        "count": alert.count,
        "notified_at": iso(alert.notified_at),
        "acknowledged_by": display_actor(alert.acknowledged_by, names) or None,
        "acknowledged_at": iso(alert.acknowledged_at),
        "on_the_way_at": iso(alert.on_the_way_at),
        "arrived_at": iso(alert.arrived_at),
        "resolved_at": iso(alert.resolved_at),
        "resolved_by": display_actor(alert.resolved_by, names) or None,
        "outcome": alert.outcome,
        "note": alert.note,
    }
    if history is not None:
        out["history"] = [
            {
                "at": h.at.isoformat(),
                "actor": display_actor(h.actor, names),
                "action": h.action,
                "from_state": h.from_state,
                "to_state": h.to_state,
                "detail": h.detail,
            }
            for h in history
        ]
    return out
