"""Delivery intent and outcome on a manual clock: the attempt is on record before the send, and
a send the hub died in is marked unknown, audited, never repeated, and escalation goes on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hub.alerts.channels import RecordingChannel, SendResult
from hub.alerts.engine import open_alerts_db
from hub.persistence.migrate import apply_migrations
from hub.persistence.schema_alerts import MIGRATIONS
from hub.persistence.schema_core import MIGRATIONS as CORE_MIGRATIONS
from tests.hub.alerts.conftest import Rig, make_rig


class Killed(BaseException):
    """Stands for SIGKILL inside a send: nothing after it in the engine runs."""


class KillingChannel(RecordingChannel):
    """Records like RecordingChannel; the first send to a URL in `kill_urls` kills the hub."""

    def __init__(self, kill_urls: set[str]) -> None:
        super().__init__()
        self.kill_urls = kill_urls

    def send(self, url: str, subject: str, body: str) -> SendResult:
        """Die inside the send for a chosen URL (once), else record."""
        if url in self.kill_urls:
            self.kill_urls.discard(url)
            raise Killed(url)
        return super().send(url, subject, body)


def _killing_rig(tmp_path: Path, url: str, cfg: dict[str, object] | None = None) -> Rig:
    rig = make_rig(tmp_path, cfg)  # type: ignore[arg-type]
    rig.channel = KillingChannel({url})
    rig.engine.channel = rig.channel
    return rig


def test_the_attempt_is_committed_before_the_channel_is_called(rig: Rig) -> None:
    seen: list[tuple[str, int]] = []

    class Spy(RecordingChannel):
        def send(self, url: str, subject: str, body: str) -> SendResult:
            # Another connection, as a restarted hub would have: the intent must be on disk.
            other = sqlite3.connect(rig.db_path)
            try:
                seen.extend(
                    other.execute(
                        "SELECT outcome, ok FROM alert_delivery_attempts WHERE outcome='sending'"
                    ).fetchall()
                )
            finally:
                other.close()
            return super().send(url, subject, body)

    rig.engine.channel = Spy()
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(0)
    assert seen and all(row == ("sending", 0) for row in seen)
    attempts = [a for n in rig.engine.service.notifications(alert_id) for a in n.attempts]
    assert attempts and all(a.outcome == "sent" and a.ok for a in attempts)
    assert all(a.finished_at is not None and a.finished_at >= a.at for a in attempts)


def test_a_send_the_hub_died_in_is_unknown_audited_and_never_repeated(tmp_path: Path) -> None:
    rig = _killing_rig(tmp_path, "mailto://sw-day@test")
    alert_id = rig.raise_alert("home-1", "help_button")
    with pytest.raises(Killed):
        rig.at(0)
    rig.restart()
    rig.at(1)
    assert "sw-day" not in rig.sent_to(), "the step is not sent to the worker again"
    note = next(n for n in rig.engine.service.notifications(alert_id) if n.person_id == "sw-day")
    assert note.status == "unknown"
    ((outcome, ok, error),) = [(a.outcome, a.ok, a.error) for a in note.attempts]
    assert (outcome, ok) == ("unknown", False) and "unknown" in (error or "")
    (entry,) = [e for e in rig.engine.service.history(alert_id)
                if e.action == "delivery_outcome_unknown"]
    assert entry.detail["person"] == "sw-day" and entry.detail["channel"] == "email"
    # The rest of the step (family before and after the worker in it) went out exactly once.
    assert sorted(rig.sent_to()) == ["fam-first", "fam-info", "fam-with"]
    # Escalation goes on on schedule: the duty officer at 180 s, not before.
    rig.at(179)
    assert "duty" not in rig.sent_to()
    rig.at(180)
    assert rig.sent_to().count("duty") == 1
    # The re-notify cadence (a reminder, marked as a repeat) still includes the worker.
    rig.at(300)
    assert rig.sent_to().count("sw-day") == 1
    rig.restart()
    rig.at(301)
    assert rig.sent_to().count("sw-day") == 1, "a second restart changes nothing"
    rig.conn.close()


def test_unknown_outcome_with_no_step_left_falls_back_to_the_supervisor(tmp_path: Path) -> None:
    rig = _killing_rig(tmp_path, "mailto://sw-day@test")
    alert_id = rig.raise_alert("home-1", "night_wandering", "medium")  # one step: on call
    with pytest.raises(Killed):
        rig.at(0)
    rig.restart()
    rig.at(1)
    assert rig.sent_to() == ["sup"], "nobody is confirmed reached: the supervisor is told"
    actions = [e.action for e in rig.engine.service.history(alert_id)]
    assert actions.index("delivery_outcome_unknown") < actions.index("fallback")
    rig.conn.close()


def test_an_acknowledged_alert_keeps_its_unknown_attempt_on_record(tmp_path: Path) -> None:
    rig = _killing_rig(tmp_path, "mailto://sw-day@test")
    alert_id = rig.raise_alert("home-1", "help_button")
    with pytest.raises(Killed):
        rig.at(0)
    # The worker got it after all and acknowledged through the link while the hub was down.
    rig.restart()
    rig.engine.service.acknowledge(alert_id, "person:sw-day")
    rig.at(1)
    note = next(n for n in rig.engine.service.notifications(alert_id) if n.person_id == "sw-day")
    assert [a.outcome for a in note.attempts] == ["unknown"]
    assert "sw-day" not in rig.sent_to()
    rig.conn.close()


def test_attempts_recorded_before_the_intent_migration_keep_their_outcome(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db, isolation_level=None)
    apply_migrations(conn, "core", CORE_MIGRATIONS)
    apply_migrations(conn, "alerts", MIGRATIONS[:1])
    conn.execute(
        "INSERT INTO alerts(home_id, kind, severity, state, raised_at, updated_at, detail) "
        "VALUES ('home-1','fall','critical','notified',100,100,'{}')"
    )
    conn.execute(
        "INSERT INTO alert_notifications(alert_id, round, purpose, step, person_id, target, "
        "language, created_at, status) VALUES (1,0,'alert',0,'sw','on_call','uz',100,'sent')"
    )
    conn.executemany(
        "INSERT INTO alert_delivery_attempts(notification_id, at, method_index, channel, "
        "destination, ok, error, duration_s) VALUES (1,?,0,'email','mailto://***',?,?,?)",
        [(102.0, 0, "refused", 2.0), (110.0, 1, None, 0.5)],
    )
    conn.close()
    migrated = open_alerts_db(db)
    rows = migrated.execute(
        "SELECT outcome, at, finished_at FROM alert_delivery_attempts ORDER BY id"
    ).fetchall()
    migrated.close()
    assert [tuple(r) for r in rows] == [("failed", 100.0, 102.0), ("sent", 109.5, 110.0)]

