"""The alert engine on a manual clock over a real SQLite file: escalation, ack, timeouts,
restarts, grouping, modes, asking the resident, and failures that must never lose an alert."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from hub.alerts.channels import RecordingChannel, SendResult
from hub.alerts.lifecycle import HomeMode, Outcome
from tests.hub.alerts.conftest import T0, Rig, config_dict, home, make_rig, person


def _notifications(rig: Rig, alert_id: int) -> list[tuple[str, str, int, str]]:
    return [
        (n.person_id, n.purpose, n.step, n.status)
        for n in rig.engine.service.notifications(alert_id)
    ]


def test_each_escalation_step_fires_at_its_time(rig: Rig) -> None:
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(0)
    # Step 0: family (first, with worker, informed) and the day worker at once.
    assert sorted(rig.sent_to()) == ["fam-first", "fam-info", "fam-with", "sw-day"]
    assert rig.engine.service.peek(alert_id).state == "notified"
    rig.at(179)
    assert "duty" not in rig.sent_to()
    rig.at(180)
    assert rig.sent_to().count("duty") == 1
    rig.at(599)
    assert "sup" not in rig.sent_to()
    rig.at(600)
    assert rig.sent_to().count("sup") == 1
    steps = [e.detail["step"] for e in rig.engine.service.history(alert_id)
             if e.action == "escalation_step"]
    assert steps == [0, 1, 2]


def test_acknowledgement_stops_escalation(rig: Rig) -> None:
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(0)
    sent = len(rig.channel.sent)
    rig.clock.advance(30)
    view = rig.engine.service.acknowledge(alert_id, "person:sw-day", "going now")
    assert (view.state, view.acknowledged_by) == ("acknowledged", "person:sw-day")
    for t in (180, 300, 600, 1200):
        rig.at(t)
    assert len(rig.channel.sent) == sent  # no duty officer, supervisor or repeat


def test_unacknowledged_alert_is_renotified(rig: Rig) -> None:
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(0)
    rig.at(300)
    repeats = [n for n in _notifications(rig, alert_id) if n[1] == "renotify"]
    # Everyone asked to act is asked again; the informed-only relative is not.
    assert sorted(p for p, *_ in repeats) == ["duty", "fam-first", "fam-with", "sw-day"]
    assert any(subject.startswith("TAKROR") for _, subject, _ in rig.channel.sent)


def test_ack_timeout_without_arrival_reopens_escalation(rig: Rig) -> None:
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(0)
    rig.clock.advance(60)
    rig.engine.service.acknowledge(alert_id, "person:sw-day")
    rig.engine.service.on_the_way(alert_id, "person:sw-day")
    rig.at(60 + 1799)
    assert rig.engine.service.peek(alert_id).state == "acknowledged"
    before = rig.sent_to().count("sw-day")
    rig.at(60 + 1800)
    view = rig.engine.service.peek(alert_id)
    assert view.state == "notified"
    assert rig.sent_to().count("sw-day") == before + 1  # round 2, step 0
    actions = [e.action for e in rig.engine.service.history(alert_id)]
    assert "ack_timeout" in actions
    # The new round escalates again on its own schedule.
    rig.at(60 + 1800 + 180)
    assert rig.sent_to().count("duty") == 1  # acked before step 1 in round 1


def test_arrival_stops_the_ack_timeout(rig: Rig) -> None:
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(0)
    rig.engine.service.acknowledge(alert_id, "person:sw-day")
    rig.clock.advance(600)
    rig.engine.service.arrived(alert_id, "person:sw-day")
    sent = len(rig.channel.sent)
    rig.at(5000)
    assert rig.engine.service.peek(alert_id).state == "acknowledged"
    assert len(rig.channel.sent) == sent
    view = rig.engine.service.resolve(alert_id, "person:sw-day", Outcome.RESIDENT_FINE, "ok")
    assert (view.state, view.outcome) == ("resolved", "resident_fine")


def test_restart_mid_escalation_neither_loses_nor_repeats_a_step(rig: Rig) -> None:
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(0)
    rig.restart()
    rig.at(100)
    rig.restart()
    # Crash between a step's commit and its delivery: the step's rows are there, unsent.
    rig.clock.set(T0 + timedelta(seconds=180))
    rig.engine.escalation.steps_due(rig.clock.now())
    rig.restart()
    rig.at(200)
    rig.restart()
    rig.at(600)
    notes = rig.engine.service.notifications(alert_id)
    first_time = sorted(n.person_id for n in notes if n.purpose in ("alert", "info"))
    assert first_time == ["duty", "fam-first", "fam-info", "fam-with", "sup", "sw-day"]
    # Every message (steps and the 5-minute repeat) went out exactly once.
    assert all(n.status == "sent" and len(n.attempts) == 1 for n in notes)
    assert len(rig.channel.sent) == len(notes)


def test_alert_committed_before_a_crash_is_adopted_on_start(rig: Rig) -> None:
    # No on_alert call ever reached the engine: it finds the alert in the table.
    alert_id = rig.raise_alert("home-2", "fall")
    rig.restart()
    rig.at(1)
    assert rig.engine.service.peek(alert_id).state == "notified"
    assert "sw-day" in rig.sent_to()


def test_many_kits_of_one_mahalla_offline_is_one_area_outage(tmp_path: Path) -> None:
    homes = [home(f"home-{i}", f"kit-{i}") for i in range(1, 6)]
    rig = make_rig(tmp_path, homes=homes)
    for i in range(1, 5):  # four kits go dark within two minutes; kit-5 stays up
        rig.clock.set(T0 + timedelta(seconds=30 * i))
        rig.set_availability(f"kit-{i}", "offline")
    rig.at(500)
    assert rig.engine.service.list_alerts("test") == []  # within the grace period
    rig.at(30 + 600)
    alerts = rig.engine.service.list_alerts("test")
    assert [(a.kind, a.home_id) for a in alerts] == [("area_outage", "area:Navbahor")]
    assert sorted(alerts[0].detail["kits"]) == ["kit-1", "kit-2", "kit-3", "kit-4"]
    assert rig.sent_to() == ["sw-day"]  # one message, not four
    rig.at(2000)
    assert len(rig.engine.service.list_alerts("test")) == 1
    for i in range(1, 5):
        rig.set_availability(f"kit-{i}", "online")
    rig.at(2010)
    assert rig.engine.service.peek(alerts[0].id).outcome == "kit_back_online"


def test_one_kit_offline_past_grace_is_a_kit_offline_alert(rig: Rig) -> None:
    rig.set_availability("kit-2", "offline")
    rig.at(599)
    assert rig.engine.service.list_alerts("test") == []
    rig.at(605)  # the kit scan runs every 5 s
    alerts = rig.engine.service.list_alerts("test")
    assert [(a.kind, a.home_id, a.severity) for a in alerts] == [
        ("kit_offline", "home-2", "medium")
    ]
    rig.at(1200)  # still offline: still one alert
    assert len(rig.engine.service.list_alerts("test")) == 1


def test_inactivity_is_held_while_the_kit_is_offline(rig: Rig) -> None:
    rig.set_availability("kit-2", "offline")
    alert_id = rig.raise_alert("home-2", "unusual_inactivity", "high")
    rig.at(10)
    assert rig.channel.sent == []
    assert rig.engine.service.peek(alert_id).state == "raised"
    rig.set_availability("kit-2", "online")
    rig.at(20)
    assert rig.engine.service.peek(alert_id).state == "suppressed"
    assert rig.channel.sent == []


def test_away_mode_holds_back_inactivity_but_never_the_help_button(rig: Rig) -> None:
    svc = rig.engine.service
    svc.set_mode("home-2", HomeMode.AWAY, T0 + timedelta(days=3), "person:fam-with")
    quiet = rig.raise_alert("home-2", "unusual_inactivity", "high")
    rig.at(1)
    assert svc.peek(quiet).state == "suppressed"
    assert rig.channel.sent == []
    help_id = rig.raise_alert("home-2", "help_button")
    rig.at(2)
    assert svc.peek(help_id).state == "notified"
    assert "sw-day" in rig.sent_to()
    # After the end time, inactivity alerts again.
    rig.at(3 * 86400 + 10)
    again = rig.raise_alert("home-2", "not_up", "high")
    rig.at(3 * 86400 + 11 + 300)
    assert svc.peek(again).state == "notified"


def test_im_ok_cancels_an_inactivity_alert(rig: Rig) -> None:
    alert_id = rig.raise_alert("home-1", "unusual_inactivity", "high")
    rig.at(0)
    assert rig.channel.sent == []
    topic, payload = rig.commands[0]
    assert topic.endswith("/kits/kit-1/commands")
    assert json.loads(payload)["action"] == "ask_ok"
    rig.clock.advance(40)
    assert rig.engine.service.resident_ok("home-1") == [alert_id]
    rig.at(1000)
    assert rig.engine.service.peek(alert_id).state == "cancelled"
    assert rig.channel.sent == []
    assert "cancelled" in [e.action for e in rig.engine.service.history(alert_id)]


def test_no_answer_to_the_ask_starts_escalation(rig: Rig) -> None:
    alert_id = rig.raise_alert("home-1", "not_up", "high")
    rig.at(0)
    rig.at(119)
    assert rig.channel.sent == []
    rig.at(120)
    assert rig.sent_to() == ["fam-first"]
    assert json.loads(rig.commands[-1][1])["action"] == "cancel_ask"
    assert rig.engine.service.peek(alert_id).state == "notified"


def test_help_button_is_never_asked_first(rig: Rig) -> None:
    rig.raise_alert("home-1", "help_button")
    rig.at(0)
    assert rig.commands == []
    assert "sw-day" in rig.sent_to()


def test_home_without_a_rota_falls_through_to_the_duty_officer(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, homes=[home("home-9", "kit-9", mahalla="Unknown")])
    alert_id = rig.raise_alert("home-9", "help_button")
    rig.at(0)
    # Unknown recipient recorded; the next step runs at once instead of after 3 minutes.
    assert rig.sent_to() == ["duty"]
    step0 = next(e for e in rig.engine.service.history(alert_id) if e.action == "escalation_step")
    assert "on_call: mahalla 'Unknown' has no rota" in step0.detail["problems"]


def test_failing_method_retries_then_falls_to_the_next_method(tmp_path: Path) -> None:
    cfg = config_dict()
    cfg["people"][0] = person("sw-day", "mailto://broken@test", "mailto://sw-day@test")
    rig = make_rig(tmp_path, cfg)
    rig.channel.fail_urls.add("mailto://broken@test")
    alert_id = rig.raise_alert("home-2", "fall")
    rig.at(0)
    assert "sw-day" not in rig.sent_to()
    rig.at(5)  # retry after backoff, fails again, then the next method at once
    assert "sw-day" in rig.sent_to()
    note = next(n for n in rig.engine.service.notifications(alert_id) if n.person_id == "sw-day")
    assert [(a.method_index, a.ok) for a in note.attempts] == [(0, False), (0, False), (1, True)]


def test_person_who_cannot_be_reached_escalates_at_once(tmp_path: Path) -> None:
    cfg = config_dict()
    cfg["policies"]["medium"] = {
        "steps": [
            {"after_s": 0, "notify": ["on_call"]},
            {"after_s": 3600, "notify": ["duty_officer"]},
        ]
    }
    rig = make_rig(tmp_path, cfg)
    rig.channel.fail_urls.add("mailto://sw-day@test")
    alert_id = rig.raise_alert("home-2", "night_wandering", "medium")
    rig.at(0)
    rig.at(5)
    # sw-day's only method failed twice: the duty officer is told now, not in an hour.
    assert rig.sent_to() == ["duty"]
    actions = [e.action for e in rig.engine.service.history(alert_id)]
    assert "delivery_failed" in actions
    assert rig.engine.service.peek(alert_id).state == "notified"


def test_nobody_reachable_goes_to_the_supervisor_and_the_alert_stays_open(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    for pid in ("sw-day", "duty", "fam-first", "fam-with", "fam-info", "sup"):
        rig.channel.fail_urls.add(f"mailto://{pid}@test")
    alert_id = rig.raise_alert("home-1", "help_button")
    for t in range(0, 1300, 5):
        rig.at(t)
    view = rig.engine.service.peek(alert_id)
    assert view.state == "raised" and view.is_open
    attempts = [a for n in rig.engine.service.notifications(alert_id) for a in n.attempts]
    assert attempts and not any(a.ok for a in attempts)
    people = {n.person_id for n in rig.engine.service.notifications(alert_id)}
    assert {"sw-day", "duty", "sup"} <= people  # every step was tried
    actions = [e.action for e in rig.engine.service.history(alert_id)]
    assert "delivery_failed" in actions


def test_views_and_changes_are_audited_with_actor_and_time(rig: Rig) -> None:
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(0)
    svc = rig.engine.service
    svc.get_alert(alert_id, "user:aziza")
    svc.list_alerts("user:duty", mahallas=["Navbahor"])
    svc.acknowledge(alert_id, "user:aziza")
    entries = [(e.actor, e.action) for e in svc.history(alert_id)]
    assert ("user:aziza", "view") in entries
    assert ("user:duty", "list") in entries
    assert ("user:aziza", "acknowledge") in entries
    assert all(e.at >= T0 for e in svc.history(alert_id))


def test_a_help_press_during_a_backlog_of_messages_is_sent_next(tmp_path: Path) -> None:
    """Sixty other alerts found together (after an outage, a re-learn) are being sent when a
    help press is raised: its messages go out within the next chunk of sends, not after the
    backlog (at 100,000 homes such a backlog held presses for up to 97 s)."""
    homes = [home(f"home-{i}", f"kit-{i}") for i in range(1, 62)]
    rig = make_rig(tmp_path, homes=homes)
    try:
        for i in range(2, 62):
            rig.raise_alert(f"home-{i}", "not_back", severity="medium")
        pressed: list[int] = []

        class PressWhileSending(RecordingChannel):
            def send(self, url: str, subject: str, body: str) -> SendResult:
                result = super().send(url, subject, body)
                if len(self.sent) == 5 and not pressed:  # the resident presses meanwhile
                    pressed.append(rig.raise_alert("home-1", "help_button"))
                return result

        rig.channel = rig.engine.channel = PressWhileSending()
        rig.at(0)
        recipients = rig.sent_to()
        assert pressed and recipients.count("sw-day") >= 60  # the backlog went out too
        # home-1's family hears of the press within one chunk of sends after it.
        assert recipients.index("fam-first") < 5 + 20 + 4, recipients[:40]
    finally:
        rig.conn.close()
