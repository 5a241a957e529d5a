"""Alert rules that fire on a single stored event (help button, digital fall sensor)."""

from __future__ import annotations

from hub.store.base import NewAlert, NewEvent

__all__ = ["CRITICAL", "alert_for_event"]

CRITICAL = "critical"


def alert_for_event(event: NewEvent, event_id: int) -> NewAlert | None:
    """Return the alert one event raises at once, or None.

    A help-button press and a digital fall alarm always alert, whatever mode the home is in:
    the person may be on the floor right now.
    """
    if event.kind == "help_button" and event.value == "pressed":
        kind = "help_button"
    elif event.kind == "fall" and event.value == "detected":
        kind = "fall"
    else:
        return None
    return NewAlert(
        home_id=event.home_id,
        kind=kind,
        severity=CRITICAL,
        raised_at=event.received_at,
        source_event_id=event_id,
        detail={
            "sensor": event.sensor_id,
            "room": event.room,
            "occurred_at": event.occurred_at.isoformat(),
        },
    )
