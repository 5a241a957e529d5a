"""Opening an alert, adopting it, firing a step and sending a message are decided by the
database, not by a process-local lock: two hubs (two connections) racing get one of each.

Each test runs on SQLite and on PostgreSQL. On PostgreSQL `race` leaves the first hub's
transaction open until the second is waiting on its lock, then commits: the interleaving in
which a read-then-write check lets both through. On SQLite the single writer orders them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.persistence import alerts as alerts_repo
from hub.persistence import escalations as escalations_repo
from hub.persistence import notifications as notifications_repo
from hub.persistence import test_modes as test_modes_repo
from hub.persistence.connection import Connection
from hub.persistence.notifications import Recipient
from hub.persistence.records import NewAlert
from tests.hub.persistence.multi import HubsDatabase

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def _press(at: datetime) -> NewAlert:
    return NewAlert("home-1", "help_button", "critical", at, None, {"room": "Hall"})


def _open_alerts(db: HubsDatabase) -> list[tuple[int, int]]:
    with db.transactions()() as conn:
        rows = conn.execute(
            "SELECT id, count FROM alerts WHERE state IN ('raised', 'notified', 'acknowledged')"
        ).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def test_two_hubs_raising_one_alert_at_once_open_it_once(hubs_db: HubsDatabase) -> None:
    first, second = hubs_db.race(
        lambda conn: alerts_repo.raise_alert(conn, _press(T0)),
        lambda conn: alerts_repo.raise_alert(conn, _press(T0 + timedelta(seconds=1))),
    )
    (alert_a, new_a), (alert_b, new_b) = first, second
    assert (new_a, new_b) == (True, False)
    assert alert_b.id == alert_a.id and alert_b.count == 2
    assert _open_alerts(hubs_db) == [(alert_a.id, 2)]


def test_a_closed_alert_does_not_take_the_next_one(hubs_db: HubsDatabase) -> None:
    with hubs_db.transactions()() as conn:
        first, _ = alerts_repo.raise_alert(conn, _press(T0))
        conn.execute("UPDATE alerts SET state = 'resolved' WHERE id = :id", {"id": first.id})
        again, new = alerts_repo.raise_alert(conn, _press(T0 + timedelta(hours=1)))
    assert new and again.id != first.id and again.count == 1


def _raised(db: HubsDatabase) -> int:
    with db.transactions()() as conn:
        alert, _ = alerts_repo.raise_alert(conn, _press(T0))
    return alert.id


def test_an_alert_is_adopted_by_one_hub_only(hubs_db: HubsDatabase) -> None:
    alert_id = _raised(hubs_db)
    adopted = hubs_db.race(
        lambda conn: escalations_repo.start(conn, alert_id, "critical"),
        lambda conn: escalations_repo.start(conn, alert_id, "critical"),
    )
    assert adopted == (True, False)


def test_a_step_both_hubs_saw_due_is_fired_by_one(hubs_db: HubsDatabase) -> None:
    alert_id = _raised(hubs_db)
    with hubs_db.transactions()() as conn:
        escalations_repo.start(conn, alert_id, "critical")
        escalations_repo.start_round(conn, alert_id, 0, T0)
    # Both hubs read the due step before either fires it (a takeover race).
    with hubs_db.transactions()() as conn:
        (seen_by_a,) = escalations_repo.steps_due(conn, T0)
    with hubs_db.transactions()() as conn:
        (seen_by_b,) = escalations_repo.steps_due(conn, T0)

    def fire(seen: escalations_repo.Escalation) -> object:
        def run(conn: Connection) -> bool:
            if not escalations_repo.claim(conn, seen):
                return False
            escalations_repo.record_step(conn, alert_id, seen.next_step + 1, None, None)
            return True

        return run

    assert hubs_db.race(fire(seen_by_a), fire(seen_by_b)) == (True, False)
    with hubs_db.transactions()() as conn:
        esc = escalations_repo.by_alert(conn, alert_id)
    assert esc is not None and esc.next_step == 1


def test_a_message_both_hubs_saw_due_is_sent_by_one(hubs_db: HubsDatabase) -> None:
    alert_id = _raised(hubs_db)
    with hubs_db.transactions()() as conn:
        notifications_repo.add(
            conn, alert_id=alert_id, round_no=0, purpose="alert", step=0,
            recipient=Recipient("worker-1", "on_call", "uz"), now=T0,
        )
    with hubs_db.transactions()() as conn:
        (seen_by_a,) = notifications_repo.due(conn, T0)
    with hubs_db.transactions()() as conn:
        (seen_by_b,) = notifications_repo.due(conn, T0)
    assert seen_by_a.home_id == "home-1"

    def send(seen: notifications_repo.Notification) -> object:
        def run(conn: Connection) -> bool:
            if not notifications_repo.claim_attempt(conn, seen, T0):
                return False
            notifications_repo.record_intent(conn, seen.id, T0, 0, "webhook", "http://x")
            return True

        return run

    assert hubs_db.race(send(seen_by_a), send(seen_by_b)) == (True, False)
    with hubs_db.transactions()() as conn:
        attempts = conn.execute("SELECT COUNT(*) FROM alert_delivery_attempts").fetchone()[0]
        assert notifications_repo.due(conn, T0 + timedelta(hours=1)) == []
    assert attempts == 1


def test_a_test_mode_both_hubs_saw_run_out_is_ended_once(hubs_db: HubsDatabase) -> None:
    with hubs_db.transactions()() as conn:
        period = test_modes_repo.add(
            conn, home_id="home-1", kit_id=None, starts_at=T0,
            ends_at=T0 + timedelta(minutes=30), set_by="installer", set_at=T0,
        )
    later = T0 + timedelta(minutes=31)
    ended = hubs_db.race(
        lambda conn: test_modes_repo.end(conn, period, "system", later),
        lambda conn: test_modes_repo.end(conn, period, "system", later),
    )
    assert ended == (True, False)
