"""Installers' test mode in the alert engine: covered alerts page nobody, are marked as tests,
stay out of the response report, and the mode ends by itself on the clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hub.alerts.report import response_report
from hub.alerts.testmode import MAX_DURATION_S, TestModeError, TestModes
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.store.base import NewAlert, NewEvent
from mehr.contract import SensorKind
from tests.hub.alerts.conftest import T0, Rig, make_rig


def _two_kit_home() -> HomeSpec:
    return HomeSpec(
        id="home-1",
        name="Home home-1",
        mahalla="Navbahor",
        kits=[
            KitSpec(
                id=kit,
                sensors=[SensorSpec(id="help", kind=SensorKind.HELP_BUTTON, room="Bedroom")],
            )
            for kit in ("kit-1", "kit-1b")
        ],
    )


def _press(rig: Rig, kit_id: str, seq: int) -> int:
    """A help press from one kit, stored as ingest stores it (event, then its alert)."""
    store = SqliteStore(rig.db_path)
    try:
        now = rig.clock.now()
        (event_id,) = store.store_events(
            [NewEvent("home-1", kit_id, 1, seq, "help", "help_button", "pressed", "Bedroom",
                      now, now)],
            now,
        )
        assert event_id is not None
        record, _ = store.raise_alert(
            NewAlert("home-1", "help_button", "critical", now, event_id, {"sensor": "help"})
        )
        store.commit()
    finally:
        store.close()
    return record.id


def _state(rig: Rig, alert_id: int) -> str:
    return str(rig.engine.service.peek(alert_id).state)


def test_help_press_in_home_test_mode_pages_nobody_and_is_marked_as_test(rig: Rig) -> None:
    modes = TestModes(rig.conn, rig.clock)
    period = modes.start("home-1", "installer:ali", duration_s=1800)
    alert_id = rig.raise_alert("home-1", "help_button")
    for t in (0, 200, 700, 1200):  # past every escalation step and re-notification
        rig.at(t)
    assert rig.channel.sent == []
    assert _state(rig, alert_id) == "test"
    (entry,) = [e for e in rig.engine.service.history(alert_id) if e.action == "test"]
    assert "installer:ali" in entry.detail["reason"]
    assert [a["id"] for a in modes.test_alerts(period.id)] == [alert_id]
    # Out of the workers' lists, still findable when asked for.
    assert rig.engine.service.list_alerts("worker") == []
    assert [v.id for v in rig.engine.service.list_alerts("installer", states=["test"])] == [
        alert_id
    ]


def test_test_mode_ends_by_itself_audited_and_the_next_press_pages(rig: Rig) -> None:
    modes = TestModes(rig.conn, rig.clock)
    period = modes.start("home-1", "installer:ali", duration_s=600)
    assert rig.engine.next_due() is not None and rig.engine.next_due() <= period.ends_at
    rig.at(599)
    assert modes.current("home-1") is not None
    rig.at(600)
    assert modes.current("home-1") is None
    trail = modes.audit_trail(period.id)
    assert [(a["actor"], a["action"]) for a in trail] == [
        ("installer:ali", "start"), ("system", "expired"),
    ]
    assert trail[1]["at"] == period.ends_at.isoformat()
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(601)
    assert _state(rig, alert_id) == "notified"
    assert "sw-day" in rig.sent_to()


def test_a_press_raised_before_the_end_stays_a_test_even_if_adopted_after(rig: Rig) -> None:
    TestModes(rig.conn, rig.clock).start("home-1", "installer:ali", duration_s=600)
    rig.clock.set(T0 + timedelta(seconds=599))
    alert_id = rig.raise_alert("home-1", "fall")
    rig.at(900)  # the engine gets to it only after the mode ended
    assert _state(rig, alert_id) == "test"
    assert rig.channel.sent == []


def test_response_report_is_the_same_before_and_after_a_walk_test(rig: Rig) -> None:
    real = rig.raise_alert("home-2", "help_button")
    rig.at(0)
    rig.engine.service.acknowledge(real, "person:sw-day", None)
    window = (T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    before = response_report(rig.conn, *window)
    TestModes(rig.conn, rig.clock).start("home-1", "installer:ali")
    for kind in ("help_button", "fall", "help_button"):
        rig.raise_alert("home-1", kind)
        rig.at(60)
    assert response_report(rig.conn, *window) == before


def test_kit_test_mode_covers_its_own_kit_but_another_kit_of_the_home_pages(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path, homes=[_two_kit_home()])
    try:
        TestModes(rig.conn, rig.clock).start("home-1", "installer:ali", kit_id="kit-1")
        under_test = _press(rig, "kit-1", 1)
        rig.at(0)
        assert _state(rig, under_test) == "test"
        assert rig.channel.sent == []
        other = _press(rig, "kit-1b", 1)
        rig.at(1)
        assert _state(rig, other) == "notified"
        assert rig.channel.sent
    finally:
        rig.conn.close()


def test_test_mode_refuses_unknown_kits_and_unbounded_durations(rig: Rig) -> None:
    modes = TestModes(rig.conn, rig.clock)
    with pytest.raises(TestModeError, match="not registered"):
        modes.start("home-1", "installer:ali", kit_id="kit-9")
    with pytest.raises(TestModeError, match="belongs to home"):
        modes.start("home-1", "installer:ali", kit_id="kit-2")
    with pytest.raises(TestModeError, match="at most 4 h"):
        modes.start("home-1", "installer:ali", duration_s=MAX_DURATION_S + 1)


def test_installer_ending_test_mode_early_makes_the_next_press_real(rig: Rig) -> None:
    modes = TestModes(rig.conn, rig.clock)
    period = modes.start("home-1", "installer:ali", kit_id="kit-1")
    rig.at(120)
    assert modes.end("home-1", "installer:ali", kit_id="kit-1") == 1
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(121)
    assert _state(rig, alert_id) == "notified"
    assert [a["action"] for a in modes.audit_trail(period.id)] == ["start", "end"]
