"""The alert engine's schema (component "alerts" in hub/persistence/migrate.py).

Everything the engine must not forget across a restart is a row here: lifecycle columns on the
core `alerts` table, the audit trail, escalation timers, notifications and every delivery
attempt, acknowledge tokens, home modes, installers' test modes and reported kit outages. Times
are REAL epoch seconds like the core schema. Never edit a released step; add a new one.
"""

from __future__ import annotations

from hub.persistence.connection import Connection
from hub.persistence.migrate import apply_migrations
from hub.persistence.schema_coordination import migrate_coordination
from hub.persistence.schema_core import MIGRATIONS as CORE_MIGRATIONS

__all__ = ["MIGRATIONS", "migrate_alerts"]

MIGRATIONS: tuple[str, ...] = (
    # 1: lifecycle, audit, escalation, notifications, attempts, tokens, modes, outages.
    """
    ALTER TABLE alerts ADD COLUMN mahalla TEXT;
    ALTER TABLE alerts ADD COLUMN progress TEXT;
    ALTER TABLE alerts ADD COLUMN notified_at REAL;
    ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT;
    ALTER TABLE alerts ADD COLUMN acknowledged_at REAL;
    ALTER TABLE alerts ADD COLUMN ack_comment TEXT;
    ALTER TABLE alerts ADD COLUMN on_the_way_at REAL;
    ALTER TABLE alerts ADD COLUMN arrived_at REAL;
    ALTER TABLE alerts ADD COLUMN resolved_at REAL;
    ALTER TABLE alerts ADD COLUMN resolved_by TEXT;
    ALTER TABLE alerts ADD COLUMN outcome TEXT;
    ALTER TABLE alerts ADD COLUMN note TEXT;
    CREATE INDEX alerts_state ON alerts(state);
    CREATE INDEX alerts_mahalla ON alerts(mahalla, state);
    CREATE TABLE alert_audit (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts(id),
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX alert_audit_alert ON alert_audit(alert_id, id);
    CREATE TABLE alert_escalations (
        alert_id INTEGER PRIMARY KEY REFERENCES alerts(id),
        severity TEXT NOT NULL,
        round INTEGER NOT NULL DEFAULT 0,
        round_started_at REAL,
        next_step INTEGER NOT NULL DEFAULT 0,
        next_step_at REAL,
        renotify_at REAL,
        renotify_count INTEGER NOT NULL DEFAULT 0,
        ack_deadline REAL,
        hold TEXT,
        ask_started_at REAL,
        ask_until REAL,
        done INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX alert_escalations_open ON alert_escalations(done, next_step_at);
    CREATE TABLE alert_notifications (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts(id),
        round INTEGER NOT NULL,
        purpose TEXT NOT NULL,
        step INTEGER NOT NULL,
        person_id TEXT NOT NULL,
        target TEXT NOT NULL,
        language TEXT NOT NULL,
        created_at REAL NOT NULL,
        status TEXT NOT NULL,
        method_index INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        sent_at REAL,
        last_error TEXT,
        UNIQUE (alert_id, round, purpose, step, person_id)
    );
    CREATE INDEX alert_notifications_due ON alert_notifications(status, next_attempt_at);
    CREATE TABLE alert_delivery_attempts (
        id INTEGER PRIMARY KEY,
        notification_id INTEGER NOT NULL REFERENCES alert_notifications(id),
        at REAL NOT NULL,
        method_index INTEGER NOT NULL,
        channel TEXT NOT NULL,
        destination TEXT NOT NULL,
        ok INTEGER NOT NULL,
        error TEXT,
        duration_s REAL NOT NULL
    );
    CREATE INDEX alert_delivery_attempts_n ON alert_delivery_attempts(notification_id);
    CREATE TABLE alert_ack_tokens (
        nonce TEXT PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts(id),
        person_id TEXT NOT NULL,
        notification_id INTEGER REFERENCES alert_notifications(id),
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        used_at REAL,
        used_result TEXT
    );
    CREATE TABLE home_modes (
        id INTEGER PRIMARY KEY,
        home_id TEXT NOT NULL,
        mode TEXT NOT NULL,
        starts_at REAL NOT NULL,
        ends_at REAL NOT NULL,
        set_by TEXT NOT NULL,
        set_at REAL NOT NULL,
        ended_at REAL,
        ended_by TEXT
    );
    CREATE INDEX home_modes_home ON home_modes(home_id, ends_at);
    CREATE TABLE kit_outages (
        kit_id TEXT NOT NULL,
        since REAL NOT NULL,
        home_id TEXT NOT NULL,
        mahalla TEXT NOT NULL,
        alert_id INTEGER REFERENCES alerts(id),
        ended_at REAL,
        PRIMARY KEY (kit_id, since)
    );
    CREATE INDEX kit_outages_open ON kit_outages(ended_at);
    """,
    # 2: a delivery attempt is recorded before the send (intent), then its outcome, so a hub
    #    killed mid-send neither forgets the send nor repeats it (docs/alerts.md, "What is
    #    guaranteed"). `at` becomes when the attempt started; `finished_at` when it ended.
    #    outcome: sending (intent committed, send under way) | sent | failed | unknown (the hub
    #    stopped during the send). Earlier rows were written after the send: started at
    #    `at - duration_s`, finished at `at`.
    """
    ALTER TABLE alert_delivery_attempts ADD COLUMN outcome TEXT;
    ALTER TABLE alert_delivery_attempts ADD COLUMN finished_at REAL;
    UPDATE alert_delivery_attempts SET outcome = CASE WHEN ok=1 THEN 'sent' ELSE 'failed' END,
        finished_at = at, at = at - duration_s;
    CREATE INDEX alert_delivery_attempts_open ON alert_delivery_attempts(notification_id)
        WHERE outcome = 'sending';
    """,
    # 3: test mode (docs/install-kit.md, "Test mode"): an installer's walk test of a kit (kit_id
    #    set) or of a whole home (kit_id NULL) for a bounded time. Alerts it covers end in the
    #    state 'test' with the period's id, are delivered to nobody and stay out of the
    #    response report. A period ends by itself at ends_at (ended_by 'system'), or earlier.
    #    Each start, end and expiry is a row of test_mode_audit.
    """
    CREATE TABLE test_modes (
        id INTEGER PRIMARY KEY,
        home_id TEXT NOT NULL,
        kit_id TEXT,
        starts_at REAL NOT NULL,
        ends_at REAL NOT NULL,
        set_by TEXT NOT NULL,
        set_at REAL NOT NULL,
        ended_at REAL,
        ended_by TEXT
    );
    CREATE INDEX test_modes_home ON test_modes(home_id, ends_at);
    ALTER TABLE alerts ADD COLUMN test_mode_id INTEGER REFERENCES test_modes(id);
    CREATE INDEX test_modes_open ON test_modes(ended_at, ends_at);
    CREATE TABLE test_mode_audit (
        id INTEGER PRIMARY KEY,
        test_mode_id INTEGER NOT NULL REFERENCES test_modes(id),
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX test_mode_audit_mode ON test_mode_audit(test_mode_id, id);
    """,
)


def migrate_alerts(db: Connection, source: str = "database") -> int:
    """Bring the core, coordination and alerts schemas up to date on an autocommit
    connection."""
    apply_migrations(db, "core", CORE_MIGRATIONS, source)
    migrate_coordination(db, source)
    return apply_migrations(db, "alerts", MIGRATIONS, source)
