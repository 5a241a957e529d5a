"""AlertService.reassign (the supervisor's "give this alert to another worker", issue #15):
the new holder gets a fresh ack timeout, escalation of an unassigned alert stops, it is audited
with who, to whom and why; an alert someone has reached, a closed one, or no reason is refused."""

from __future__ import annotations

import pytest

from hub.alerts.lifecycle import InvalidTransitionError, Outcome
from tests.hub.alerts.conftest import Rig


def test_reassigning_an_unassigned_alert_stops_escalation_and_is_audited(rig: Rig) -> None:
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(0)
    rig.clock.advance(30)
    view = rig.engine.service.reassign(alert_id, "user:sup", "user:sw-night", "sw-day is ill")
    assert (view.state, view.acknowledged_by, view.progress) == (
        "acknowledged", "user:sw-night", None
    )
    rig.at(30 + 600)  # past every escalation step of round 1
    assert rig.sent_to().count("duty") == 0
    [entry] = [e for e in rig.engine.service.history(alert_id) if e.action == "reassign"]
    assert entry.actor == "user:sup"
    assert (entry.from_state, entry.to_state) == ("notified", "acknowledged")
    assert entry.detail == {"to": "user:sw-night", "previous": None, "comment": "sw-day is ill"}


def test_the_new_holder_gets_a_fresh_ack_timeout_and_the_old_progress_is_cleared(
    rig: Rig,
) -> None:
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(0)
    rig.engine.service.acknowledge(alert_id, "person:sw-day")
    rig.engine.service.on_the_way(alert_id, "person:sw-day")
    rig.clock.advance(1000)  # the old holder's timeout would fire at 1800
    view = rig.engine.service.reassign(alert_id, "user:sup", "user:sw-night", "car broke down")
    assert (view.progress, view.on_the_way_at) == (None, None)
    rig.at(1000 + 1799)
    assert rig.engine.service.peek(alert_id).state == "acknowledged"
    rig.at(1000 + 1800)  # the new holder never arrived: escalation re-opens it
    assert rig.engine.service.peek(alert_id).state == "notified"


def test_a_reached_or_closed_alert_the_same_holder_or_no_reason_is_refused(rig: Rig) -> None:
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(0)
    service = rig.engine.service
    with pytest.raises(InvalidTransitionError):
        service.reassign(alert_id, "user:sup", "user:sw-night", "   ")
    service.acknowledge(alert_id, "user:sw-night")
    with pytest.raises(InvalidTransitionError):
        service.reassign(alert_id, "user:sup", "user:sw-night", "again")
    service.arrived(alert_id, "user:sw-night")  # someone is with the resident
    with pytest.raises(InvalidTransitionError):
        service.reassign(alert_id, "user:sup", "user:sw-day", "not needed")
    service.resolve(alert_id, "user:sw-night", Outcome.RESIDENT_FINE, None)
    with pytest.raises(InvalidTransitionError):
        service.reassign(alert_id, "user:sup", "user:sw-day", "too late")
    assert service.peek(alert_id).acknowledged_by == "user:sw-night"
