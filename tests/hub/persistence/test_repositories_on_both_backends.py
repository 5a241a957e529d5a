"""The alert repositories run the same SQL on SQLite and PostgreSQL and return the same records.

Each test runs twice (the `db` fixture): once on a SQLite file, once on a real PostgreSQL
server started on loopback (tests/support/postgres.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.persistence import alerts as alerts_repo
from hub.persistence import escalations as escalations_repo
from hub.persistence import kits as kits_repo
from hub.persistence import lifecycle as lifecycle_repo
from hub.persistence import notifications as notifications_repo
from hub.persistence import test_modes as test_modes_repo
from hub.persistence.connection import Connection
from hub.persistence.notifications import Recipient
from hub.persistence.records import NewAlert

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def _register(db: Connection, home_id: str = "home-1", kit_id: str = "kit-1") -> None:
    # The registry's writes belong to the ingest store (not moved yet); the rows it makes:
    db.execute(
        "INSERT INTO homes(id, name, timezone, mahalla, created_at) "
        "VALUES (:id, 'Mavluda opa', 'Asia/Tashkent', 'Navbahor', 0)",
        {"id": home_id},
    )
    db.execute(
        "INSERT INTO kits(id, home_id, created_at) VALUES (:kit, :home, 0)",
        {"kit": kit_id, "home": home_id},
    )


def test_an_alert_is_opened_once_and_repeats_merge_into_it(db: Connection) -> None:
    _register(db)
    first, new = alerts_repo.raise_alert(
        db, NewAlert("home-1", "fall", "critical", T0, None, {"room": "Bathroom"}),
        mahalla="Navbahor",
    )
    again, new_again = alerts_repo.raise_alert(
        db, NewAlert("home-1", "fall", "critical", T0 + timedelta(minutes=1), None, {})
    )
    other, _ = alerts_repo.raise_alert(db, NewAlert("home-1", "help_button", "critical", T0, None))
    assert (new, new_again) == (True, False)
    assert again.id == first.id and again.count == 2
    assert again.updated_at == T0 + timedelta(minutes=1) and again.raised_at == T0
    assert again.detail == {"room": "Bathroom"}  # the first alert's detail is kept
    assert other.id != first.id
    assert [a.alert.kind for a in alerts_repo.to_adopt(db)] == ["fall", "help_button"]
    assert alerts_repo.to_adopt(db)[0].mahalla == "Navbahor"


def test_escalation_timers_round_trip_as_aware_datetimes(db: Connection) -> None:
    _register(db)
    alert, _ = alerts_repo.raise_alert(db, NewAlert("home-1", "fall", "critical", T0, None))
    escalations_repo.start(db, alert.id, "critical")
    escalations_repo.start_round(db, alert.id, 0, T0)
    escalations_repo.record_step(
        db, alert.id, 1, T0 + timedelta(seconds=180), T0 + timedelta(seconds=300)
    )
    esc = escalations_repo.by_alert(db, alert.id)
    assert esc is not None
    assert (esc.next_step, esc.next_step_at, esc.renotify_at) == (
        1, T0 + timedelta(seconds=180), T0 + timedelta(seconds=300),
    )
    assert escalations_repo.steps_due(db, T0 + timedelta(seconds=179)) == []
    assert [e.alert_id for e in escalations_repo.steps_due(db, T0 + timedelta(seconds=180))] == [
        alert.id
    ]
    assert escalations_repo.earliest_due(db) == T0 + timedelta(seconds=180)


def test_a_notification_is_created_once_and_its_interrupted_send_is_found(db: Connection) -> None:
    _register(db)
    alert, _ = alerts_repo.raise_alert(db, NewAlert("home-1", "fall", "critical", T0, None))
    worker = Recipient("sw-day", "on_call", "uz")
    made = [
        notifications_repo.add(
            db, alert_id=alert.id, round_no=0, purpose="alert", step=0, recipient=worker, now=T0
        )
        for _ in range(2)
    ]
    assert made == [True, False]  # ON CONFLICT DO NOTHING on both databases
    (note,) = notifications_repo.due(db, T0)
    assert (note.person_id, note.status, note.alert_state) == ("sw-day", "pending", "raised")
    attempt = notifications_repo.record_intent(db, note.id, T0, 0, "email", "mailto://…")
    (send,) = notifications_repo.interrupted_sends(db)
    assert (send.attempt_id, send.started_at, send.person_id) == (attempt, T0, "sw-day")
    notifications_repo.record_outcome(
        db, attempt, ok=True, error=None, finished_at=T0 + timedelta(seconds=1), duration_s=1.0
    )
    notifications_repo.mark_sent(db, note.id, T0 + timedelta(seconds=1))
    assert notifications_repo.interrupted_sends(db) == []
    assert notifications_repo.anyone_reachable(db, alert.id, 0)
    (view,) = lifecycle_repo.notifications(db, alert.id)
    assert view.status == "sent" and [a.outcome for a in view.attempts] == ["sent"]


def test_lifecycle_lists_by_filters_and_keeps_the_audit(db: Connection) -> None:
    _register(db)
    _register(db, "home-2", "kit-2")
    one, _ = alerts_repo.raise_alert(db, NewAlert("home-1", "fall", "critical", T0, None))
    two, _ = alerts_repo.raise_alert(db, NewAlert("home-2", "not_up", "high", T0, None))
    lifecycle_repo.set_state(
        db, one.id, "acknowledged", T0 + timedelta(seconds=30), acknowledged_by="person:sw-day",
        acknowledged_at=T0 + timedelta(seconds=30),
    )
    lifecycle_repo.audit(
        db, one.id, at=T0, actor="person:sw-day", action="acknowledge", from_state="raised",
        to_state="acknowledged", detail={"comment": None},
    )
    views = lifecycle_repo.list_views(
        db, home_ids=["home-1", "home-2"], mahallas=None, states=["acknowledged"], limit=10
    )
    assert [(v.id, v.acknowledged_by, v.acknowledged_at) for v in views] == [
        (one.id, "person:sw-day", T0 + timedelta(seconds=30))
    ]
    newest_first = lifecycle_repo.list_views(
        db, home_ids=None, mahallas=None, states=None, limit=10
    )
    assert [v.id for v in newest_first] == [two.id, one.id]
    (entry,) = lifecycle_repo.history(db, one.id)
    assert (entry.at, entry.action, entry.to_state) == (T0, "acknowledge", "acknowledged")


def test_a_kits_test_mode_covers_its_own_and_kitless_alerts_not_another_kits(
    db: Connection,
) -> None:
    _register(db)
    period = test_modes_repo.add(
        db, home_id="home-1", kit_id="kit-1", starts_at=T0, ends_at=T0 + timedelta(hours=1),
        set_by="person:installer", set_at=T0,
    )
    at = T0 + timedelta(minutes=5)
    found = test_modes_repo.covering(db, "home-1", "kit-1", at)
    assert found is not None and found.id == period
    assert test_modes_repo.covering(db, "home-1", None, at) is not None
    assert test_modes_repo.covering(db, "home-1", "kit-9", at) is None
    assert test_modes_repo.current(db, "home-1", None, at) is None  # no whole-home period
    assert test_modes_repo.next_end(db) == T0 + timedelta(hours=1)


def test_an_outage_is_recorded_once_and_read_back_by_the_same_moment(db: Connection) -> None:
    _register(db)
    alert, _ = alerts_repo.raise_alert(db, NewAlert("home-1", "kit_offline", "medium", T0, None))
    since = T0 - timedelta(minutes=15, microseconds=123457)
    for _ in range(2):
        kits_repo.record_outage(
            db, kit_id="kit-1", since=since, home_id="home-1", mahalla="Navbahor",
            alert_id=alert.id,
        )
    assert kits_repo.reported_outages(db) == {("kit-1", since)}
    assert kits_repo.alert_has_open_outage(db, alert.id)
    kits_repo.end_outage(db, "kit-1", since, T0)
    assert not kits_repo.alert_has_open_outage(db, alert.id)


def test_an_area_alert_is_routed_by_the_mahalla_it_is_given(db: Connection) -> None:
    # An area alert (cold spell, outage) has no home row to take its mahalla from.
    _register(db)
    alert, _ = alerts_repo.raise_alert(
        db, NewAlert("area:Navbahor", "cold_area", "high", T0, None, {})
    )
    alerts_repo.set_mahalla(db, alert.id, "Navbahor")
    row = db.execute("SELECT mahalla FROM alerts WHERE id = :id", {"id": alert.id}).fetchone()
    assert row[0] == "Navbahor"
