"""A home's answered and unanswered check-in prompts, read from the alerts' audit rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.alerts.prompts import prompt_answers
from hub.persistence.schema_alerts import migrate_alerts
from hub.persistence.sqlite_store import SqliteStore
from hub.store.base import NewAlert
from tests.hub.factories import home_spec

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _ask(store: SqliteStore, at: datetime, outcome: str | None) -> None:
    record, _ = store.raise_alert(
        NewAlert("home-1", "unusual_inactivity", "high", at, source_event_id=None, detail={})
    )
    store.commit()
    conn = store.connection
    conn.execute(
        "INSERT INTO alert_audit(alert_id, at, actor, action) VALUES (?,?,?,?)",
        (record.id, at.timestamp(), "system", "ask_resident"),
    )
    if outcome == "no_answer":
        conn.execute(
            "INSERT INTO alert_audit(alert_id, at, actor, action) VALUES (?,?,?,?)",
            (record.id, at.timestamp() + 120, "system", "resident_no_answer"),
        )
    conn.execute(
        "INSERT INTO alert_escalations(alert_id, severity, hold, ask_started_at, done) "
        "VALUES (?,?,?,?,?)",
        (
            record.id,
            "high",
            "asking" if outcome is None else None,
            at.timestamp(),
            int(bool(outcome)),
        ),
    )
    conn.execute("UPDATE alerts SET state='closed' WHERE id=?", (record.id,))
    store.commit()


def test_answers_are_counted_per_home_since_a_time(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.db")
    migrate_alerts(store.connection, "test")
    store.register_home(home_spec(), T0)
    _ask(store, T0 - timedelta(days=40), "no_answer")  # too old to count
    _ask(store, T0, "answered")
    _ask(store, T0 + timedelta(days=1), "answered")
    _ask(store, T0 + timedelta(days=2), "no_answer")
    _ask(store, T0 + timedelta(days=3), None)  # still waiting for the answer
    assert prompt_answers(store.connection, "home-1", T0 - timedelta(days=28)) == (2, 1)
    assert prompt_answers(store.connection, "home-2", T0 - timedelta(days=28)) == (0, 0)


def test_a_hub_without_an_alert_engine_has_no_answers(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.db")
    assert prompt_answers(store.connection, "home-1", T0) == (0, 0)
