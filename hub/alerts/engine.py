"""The alert engine's due work: adopt new alerts, escalate, deliver, re-notify, time out acks,
ask the resident first, and turn offline kits into kit_offline or one area_outage alert.

All state is rows (hub/alerts/schema.py), so `run_due()` after a restart carries on exactly
where the last one stopped: a step is marked fired in the same transaction that creates its
notifications, and every send is preceded by a committed attempt row (the intent) that the
outcome then completes. An intent found without an outcome after a restart is the send the
hub was killed in: it is marked "unknown", audited, and never sent again automatically
(docs/alerts.md, "What is guaranteed").
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hub.alerts.channels import AlertActions, Channel, SendResult, redact_url, send_message
from hub.alerts.config import AlertsConfig, FamilyPreference, Person, Policy, Target
from hub.alerts.gateways import telegram_poller, with_gateways
from hub.alerts.lifecycle import (
    AlertService,
    AlertState,
    Outcome,
)
from hub.alerts.messages import MessageFacts, render
from hub.alerts.schema import migrate_alerts
from hub.alerts.severity import (
    AREA_OUTAGE,
    INACTIVITY_KINDS,
    KIT_OFFLINE,
    SEVERITY_BY_KIND,
    Severity,
    severity_for,
)
from hub.alerts.telegram import SCHEME as TELEGRAM_SCHEME
from hub.alerts.testmode import TestModes
from hub.alerts.tokens import TokenSigner
from hub.store.base import AlertRecord
from mehr.catalogue import LANGUAGES, text
from mehr.clock import Clock
from mehr.contract import PROTOCOL_VERSION, Command, CommandAction, TopicKind, encode, topic_for

__all__ = ["SYSTEM", "AlertEngine", "AlertRunner", "open_alerts_db"]

_LOGGER = logging.getLogger(__name__)
SYSTEM = "system"
_FALLBACK_STEP = -1
_ACKABLE = ("alert", "renotify")
_UNKNOWN_ERROR = "the hub stopped during this send: whether it arrived is unknown"

Publish = Callable[[str, bytes], None]


def open_alerts_db(path: Path) -> sqlite3.Connection:
    """Open the hub's database for the alert engine (WAL, autocommit) and migrate it."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    migrate_alerts(conn, str(path))
    return conn


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True, slots=True)
class _Recipient:
    person: Person
    target: Target


class AlertEngine:
    """Runs the alert engine's due work on one connection; call `run_due()` repeatedly."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        config: AlertsConfig,
        clock: Clock,
        channel: Channel,
        signer: TokenSigner | None = None,
        public_base_url: str = "http://127.0.0.1:8000",
        publish: Publish | None = None,
    ) -> None:
        self.service = AlertService(conn, config, clock, signer)
        self.conn = conn
        self.config = config
        self.clock = clock
        # SMS gateways with an account (eskiz://) get their own channel; see gateways.py.
        self.channel = with_gateways(channel, config.gateways, clock)
        self.signer = signer
        self.public_base_url = public_base_url.rstrip("/")
        self.publish = publish
        self.test_modes = TestModes(conn, clock)
        self._last_scan: datetime | None = None
        self._gave_up = False
        self._recovered = False

    # -- the loop body --------------------------------------------------------------------------

    def run_due(self) -> datetime | None:
        """Do everything that is due now; return when something is next due (None: nothing)."""
        now = self.clock.now()
        if not self._recovered:
            # Sends a previous process was killed in. Only at start: while this engine runs,
            # an intent without an outcome is its own send under way.
            self._resolve_interrupted_sends(now)
            self._recovered = True
        # Before adopting: an alert raised after a test mode's end must see it ended. (The
        # decision itself goes by the alert's raised_at, so a late pass changes nothing.)
        self._end_test_modes(now)
        self._adopt_new(now)
        if self._last_scan is None or (now - self._last_scan).total_seconds() >= (
            self.config.grouping.scan_every_s
        ):
            self._last_scan = now
            self._scan_kits(now)
            self._adopt_new(now)
        self._asks_due(now)
        self._ack_timeouts_due(now)
        self._steps_due(now)
        self._renotify_due(now)
        if self._deliver_due():
            # A person who could not be reached moved the next step to now: run it at once.
            self._steps_due(self.clock.now())
            self._deliver_due()
        return self.next_due()

    def next_due(self) -> datetime | None:
        """The earliest time any timer or retry is due."""
        row = self.conn.execute(
            "SELECT MIN(t) FROM ("
            " SELECT MIN(next_step_at) t FROM alert_escalations WHERE done=0 AND hold IS NULL"
            " UNION ALL SELECT MIN(renotify_at) FROM alert_escalations WHERE done=0"
            " UNION ALL SELECT MIN(ack_deadline) FROM alert_escalations WHERE done=0"
            " UNION ALL SELECT MIN(ask_until) FROM alert_escalations WHERE done=0"
            "   AND hold='asking'"
            " UNION ALL SELECT MIN(next_attempt_at) FROM alert_notifications"
            "   WHERE status='pending')"
        ).fetchone()
        due = None if row[0] is None else _dt(row[0])
        test_end = self.test_modes.next_end()
        if test_end is not None:
            due = test_end if due is None else min(due, test_end)
        scan = (self._last_scan or self.clock.now()) + timedelta(
            seconds=self.config.grouping.scan_every_s
        )
        return scan if due is None else min(due, scan)

    # -- adoption -------------------------------------------------------------------------------

    def _adopt_new(self, now: datetime) -> None:
        # Alerts without an escalation row: new from ingest, detectors or the kit scan, or
        # committed just before a crash. Scanning for them means none is ever lost.
        rows = self.conn.execute(
            "SELECT a.*, h.mahalla AS home_mahalla, h.timezone AS home_tz, "
            "ev.kit_id AS source_kit FROM alerts a LEFT JOIN homes h ON h.id=a.home_id "
            "LEFT JOIN events ev ON ev.id=a.source_event_id WHERE a.state='raised' AND NOT EXISTS "
            "(SELECT 1 FROM alert_escalations e WHERE e.alert_id=a.id) ORDER BY a.id"
        ).fetchall()
        for row in rows:
            try:
                self._adopt(row, now)
            except Exception:
                _LOGGER.exception("adopting alert #%s failed; will retry", row["id"])

    def _adopt(self, row: sqlite3.Row, now: datetime) -> None:
        alert_id, kind, home_id = row["id"], row["kind"], row["home_id"]
        severity = severity_for(kind, row["severity"])
        mahalla = row["mahalla"] or row["home_mahalla"]
        svc = self.service
        publish_ask = False
        with svc.tx():
            self.conn.execute(
                "UPDATE alerts SET mahalla=?, severity=? WHERE id=?",
                (mahalla, severity.value, alert_id),
            )
            self.conn.execute(
                "INSERT INTO alert_escalations(alert_id, severity) VALUES (?,?)",
                (alert_id, severity.value),
            )
            svc.audit(alert_id, SYSTEM, "raised", None, "raised", now, kind=kind)
            if self._is_test(row):
                return
            mode = svc.active_mode(home_id, now)
            if mode is not None and kind in self.config.modes.suppress_kinds:
                svc.close_without_alerting(
                    alert_id,
                    SYSTEM,
                    AlertState.SUPPRESSED,
                    f"{mode.mode} mode until {mode.ends_at.isoformat()} (set by {mode.set_by})",
                )
                return
            if kind in INACTIVITY_KINDS and self._home_has_offline_kit(home_id):
                self.conn.execute(
                    "UPDATE alert_escalations SET hold='kit_offline' WHERE alert_id=?",
                    (alert_id,),
                )
                svc.audit(alert_id, SYSTEM, "held", reason="a kit of this home is offline")
                return
            contacts = self.config.home(home_id)
            if (
                kind in self.config.ask_first.kinds
                and contacts is not None
                and contacts.ask_first
                and self.publish is not None
            ):
                until = now + timedelta(seconds=self.config.ask_first.window_s)
                self.conn.execute(
                    "UPDATE alert_escalations SET hold='asking', ask_started_at=?, ask_until=? "
                    "WHERE alert_id=?",
                    (_ts(now), _ts(until), alert_id),
                )
                svc.audit(alert_id, SYSTEM, "ask_resident", until=until.isoformat())
                publish_ask = True
            else:
                self._start_round(alert_id, 0, now)
        if publish_ask:
            self._command(home_id, CommandAction.ASK_OK, now)

    def _is_test(self, row: sqlite3.Row) -> bool:
        """End the alert as a test if an installer's test mode covers it (docs/alerts.md).

        Decided by when the alert was raised, not when it is adopted: a press after the test
        mode ended pages even if the engine gets to it late. Runs inside _adopt's transaction.
        """
        source_kit = row["source_kit"]
        if source_kit is None and row["kind"] == KIT_OFFLINE:
            source_kit = json.loads(row["detail"] or "{}").get("kit")
        period = self.test_modes.covering(row["home_id"], source_kit, _dt(row["raised_at"]))
        if period is None:
            return False
        self.conn.execute(
            "UPDATE alerts SET test_mode_id=? WHERE id=?", (period.id, row["id"])
        )
        self.service.close_without_alerting(
            row["id"],
            SYSTEM,
            AlertState.TEST,
            f"test mode of {period.scope} until {period.ends_at.isoformat()} "
            f"(set by {period.set_by}): shown to the installer, delivered to nobody",
        )
        _LOGGER.info(
            "alert #%s (%s) in home %s is a test: %s is in test mode",
            row["id"], row["kind"], row["home_id"], period.scope,
        )
        return True

    def _end_test_modes(self, now: datetime) -> None:
        for period in self.test_modes.expire_due(now):
            _LOGGER.info(
                "test mode of %s ended by itself at %s", period.scope, period.ends_at.isoformat()
            )

    def _start_round(self, alert_id: int, round_no: int, now: datetime) -> None:
        self.conn.execute(
            "UPDATE alert_escalations SET round=?, round_started_at=?, next_step=0, "
            "next_step_at=?, renotify_at=NULL, renotify_count=0, ack_deadline=NULL, hold=NULL, "
            "done=0 WHERE alert_id=?",
            (round_no, _ts(now), _ts(now), alert_id),
        )

    def _home_has_offline_kit(self, home_id: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM kits WHERE home_id=? AND availability='offline' LIMIT 1", (home_id,)
        ).fetchone()
        return row is not None

    def _command(self, home_id: str, action: CommandAction, now: datetime) -> None:
        if self.publish is None:
            return
        params: dict[str, str | int | float | bool] = {}
        if action is CommandAction.ASK_OK:
            params["timeout_s"] = int(self.config.ask_first.window_s)
        for (kit_id,) in self.conn.execute("SELECT id FROM kits WHERE home_id=?", (home_id,)):
            command = Command(
                v=PROTOCOL_VERSION,
                id=f"c-{secrets.token_hex(6)}",
                ts=now,
                action=action,
                params=params,
            )
            try:
                self.publish(topic_for(home_id, kit_id, TopicKind.COMMANDS), encode(command))
            except Exception:
                # The window still runs out and escalation starts: a lost ask costs minutes.
                _LOGGER.exception("publishing %s to kit %s failed", action.value, kit_id)

    # -- ask the resident first -----------------------------------------------------------------

    def _asks_due(self, now: datetime) -> None:
        rows = self.conn.execute(
            "SELECT e.alert_id, e.ask_started_at, e.ask_until, a.home_id FROM alert_escalations e"
            " JOIN alerts a ON a.id=e.alert_id WHERE e.done=0 AND e.hold='asking'"
        ).fetchall()
        for row in rows:
            # The contract has no "I'm OK" event yet; until it does, an `ok_button` event (or
            # AlertService.resident_ok) is the answer. See docs/alerts.md.
            answered = self.conn.execute(
                "SELECT 1 FROM events WHERE home_id=? AND kind='ok_button' AND received_at>=? "
                "LIMIT 1",
                (row["home_id"], row["ask_started_at"]),
            ).fetchone()
            if answered is not None:
                self.service.resident_ok(row["home_id"])
                continue
            if row["ask_until"] <= _ts(now):
                with self.service.tx():
                    self._start_round(row["alert_id"], 0, now)
                    self.service.audit(
                        row["alert_id"], SYSTEM, "resident_no_answer", at=now,
                        window_s=self.config.ask_first.window_s,
                    )
                self._command(row["home_id"], CommandAction.CANCEL_ASK, now)

    # -- escalation -----------------------------------------------------------------------------

    def _policy(self, severity: str) -> Policy:
        return self.config.policies[severity_for("", severity)]

    def _steps_due(self, now: datetime) -> None:
        for _ in range(1000):  # a step that reaches nobody falls through at once; bounded
            rows = self.conn.execute(
                "SELECT e.*, a.state, a.home_id, a.mahalla, a.kind FROM alert_escalations e "
                "JOIN alerts a ON a.id=e.alert_id WHERE e.done=0 AND e.hold IS NULL "
                "AND e.next_step_at IS NOT NULL AND e.next_step_at<=? ORDER BY e.next_step_at",
                (_ts(now),),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                try:
                    self._fire_step(row, now)
                except Exception:
                    _LOGGER.exception("escalation step of alert #%s failed", row["alert_id"])
                    with self.service.tx():  # do not spin on it; try again in a minute
                        self.conn.execute(
                            "UPDATE alert_escalations SET next_step_at=? WHERE alert_id=?",
                            (_ts(now) + 60, row["alert_id"]),
                        )

    def _fire_step(self, esc: sqlite3.Row, now: datetime) -> None:
        alert_id = esc["alert_id"]
        policy = self._policy(esc["severity"])
        index = esc["next_step"]
        svc = self.service
        with svc.tx():
            if esc["state"] not in ("raised", "notified") or index >= len(policy.steps):
                self.conn.execute(
                    "UPDATE alert_escalations SET next_step_at=NULL WHERE alert_id=?", (alert_id,)
                )
                return
            step = policy.steps[index]
            recipients, problems = self._recipients(esc, step.notify, now)
            already = {
                r[0]
                for r in self.conn.execute(
                    "SELECT person_id FROM alert_notifications WHERE alert_id=? AND round=? "
                    "AND purpose IN ('alert','info')",
                    (alert_id, esc["round"]),
                )
            }
            created = []
            for rec in recipients:
                if rec.person.id in already:
                    continue
                already.add(rec.person.id)
                purpose = "info" if rec.target is Target.FAMILY_INFORMED else "alert"
                self._add_notification(alert_id, esc["round"], purpose, index, rec, now)
                created.append(rec.person.id)
            nxt = index + 1
            fall_through = not created
            if nxt < len(policy.steps):
                due = esc["round_started_at"] + policy.steps[nxt].after_s
                next_at: float | None = _ts(now) if fall_through else max(due, _ts(now))
            else:
                next_at = None
            renotify_at = esc["renotify_at"]
            if renotify_at is None and policy.renotify_every_s and created:
                renotify_at = _ts(now) + policy.renotify_every_s
            self.conn.execute(
                "UPDATE alert_escalations SET next_step=?, next_step_at=?, renotify_at=? "
                "WHERE alert_id=?",
                (nxt, next_at, renotify_at, alert_id),
            )
            svc.audit(
                alert_id, SYSTEM, "escalation_step", at=now, round=esc["round"], step=index,
                notify=created, problems=problems,
            )
            if next_at is None and not self._anyone_reachable(alert_id, esc["round"]):
                self._fallback(alert_id, esc["round"], now, "no step reached anyone")

    def _anyone_reachable(self, alert_id: int, round_no: int) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM alert_notifications WHERE alert_id=? AND round=? AND purpose='alert' "
            "AND status IN ('pending','sent') LIMIT 1",
            (alert_id, round_no),
        ).fetchone()
        return row is not None

    def _fallback(self, alert_id: int, round_no: int, now: datetime, why: str) -> None:
        """Nobody could be reached in this round: tell the district supervisor (once a round)."""
        person = self.config.person(self.config.district.supervisor)
        if person is None:  # the config validator makes this impossible; stay defensive
            return
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO alert_notifications(alert_id, round, purpose, step, person_id, "
            "target, language, created_at, status, next_attempt_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                alert_id, round_no, "alert", _FALLBACK_STEP, person.id, "fallback",
                person.languages[0].value, _ts(now), "pending", _ts(now),
            ),
        )
        if cur.rowcount:
            self.service.audit(alert_id, SYSTEM, "fallback", at=now, person=person.id, why=why)

    def _add_notification(
        self, alert_id: int, round_no: int, purpose: str, step: int, rec: _Recipient, now: datetime
    ) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO alert_notifications(alert_id, round, purpose, step, person_id, "
            "target, language, created_at, status, next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                alert_id, round_no, purpose, step, rec.person.id, rec.target.value,
                rec.person.languages[0].value, _ts(now), "pending", _ts(now),
            ),
        )

    def _recipients(
        self, esc: sqlite3.Row, targets: list[Target], now: datetime
    ) -> tuple[list[_Recipient], list[str]]:
        """Who each target means for this alert now, and why a target reached nobody."""
        cfg = self.config
        local = now.astimezone(ZoneInfo(cfg.district.timezone))
        mahalla = cfg.mahalla(esc["mahalla"] or "")
        contacts = cfg.home(esc["home_id"])
        out: list[_Recipient] = []
        problems: list[str] = []

        def add(person_ids: list[str], target: Target) -> None:
            for pid in person_ids:
                person = cfg.person(pid)
                if person is None:
                    problems.append(f"{target.value}: unknown person {pid!r}")
                else:
                    out.append(_Recipient(person, target))

        for target in targets:
            if target is Target.ON_CALL:
                if mahalla is None:
                    problems.append(f"on_call: mahalla {esc['mahalla']!r} has no rota")
                    continue
                on = [s.person for s in mahalla.rota if s.covers(local)]
                if not on:
                    problems.append(f"on_call: nobody on shift in {mahalla.name}")
                add(on, target)
            elif target is Target.DUTY_OFFICER:
                on = [s.person for s in cfg.district.duty_officers if s.covers(local)]
                if not on:
                    problems.append("duty_officer: nobody on shift")
                add(on, target)
            elif target is Target.SUPERVISOR:
                sup = (mahalla.supervisor if mahalla else None) or cfg.district.supervisor
                add([sup], target)
            else:
                if esc["kind"] == AREA_OUTAGE:
                    continue  # an area has no one family
                if contacts is None:
                    problems.append(f"{target.value}: home {esc['home_id']!r} has no contacts")
                    continue
                wanted = {
                    Target.FAMILY_FIRST: FamilyPreference.FIRST,
                    Target.FAMILY_WITH_WORKER: FamilyPreference.WITH_WORKER,
                    Target.FAMILY_INFORMED: FamilyPreference.INFORMED,
                }[target]
                add([f.person for f in contacts.family if f.preference is wanted], target)
        return out, problems

    def _renotify_due(self, now: datetime) -> None:
        rows = self.conn.execute(
            "SELECT e.*, a.state FROM alert_escalations e JOIN alerts a ON a.id=e.alert_id "
            "WHERE e.done=0 AND e.hold IS NULL AND e.renotify_at IS NOT NULL AND e.renotify_at<=?",
            (_ts(now),),
        ).fetchall()
        for esc in rows:
            policy = self._policy(esc["severity"])
            alert_id = esc["alert_id"]
            with self.service.tx():
                if esc["state"] not in ("raised", "notified") or not policy.renotify_every_s:
                    self.conn.execute(
                        "UPDATE alert_escalations SET renotify_at=NULL WHERE alert_id=?",
                        (alert_id,),
                    )
                    continue
                count = esc["renotify_count"] + 1
                people = self.conn.execute(
                    "SELECT DISTINCT person_id, target, language FROM alert_notifications "
                    "WHERE alert_id=? AND round=? AND purpose='alert'",
                    (alert_id, esc["round"]),
                ).fetchall()
                for p in people:
                    self.conn.execute(
                        "INSERT OR IGNORE INTO alert_notifications(alert_id, round, purpose, step,"
                        " person_id, target, language, created_at, status, next_attempt_at) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (
                            alert_id, esc["round"], "renotify", count, p["person_id"],
                            p["target"], p["language"], _ts(now), "pending", _ts(now),
                        ),
                    )
                self.conn.execute(
                    "UPDATE alert_escalations SET renotify_at=?, renotify_count=? "
                    "WHERE alert_id=?",
                    (_ts(now) + policy.renotify_every_s, count, alert_id),
                )
                self.service.audit(
                    alert_id, SYSTEM, "renotify", at=now, n=count,
                    people=[p["person_id"] for p in people],
                )

    def _ack_timeouts_due(self, now: datetime) -> None:
        rows = self.conn.execute(
            "SELECT e.alert_id, e.round, a.acknowledged_by, a.state, a.progress "
            "FROM alert_escalations e JOIN alerts a ON a.id=e.alert_id WHERE e.done=0 "
            "AND e.ack_deadline IS NOT NULL AND e.ack_deadline<=?",
            (_ts(now),),
        ).fetchall()
        for row in rows:
            with self.service.tx():
                if row["state"] != "acknowledged" or row["progress"] == "arrived":
                    self.conn.execute(
                        "UPDATE alert_escalations SET ack_deadline=NULL WHERE alert_id=?",
                        (row["alert_id"],),
                    )
                    continue
                self.conn.execute(
                    "UPDATE alerts SET state='notified', progress=NULL, updated_at=? WHERE id=?",
                    (_ts(now), row["alert_id"]),
                )
                self._start_round(row["alert_id"], row["round"] + 1, now)
                self.service.audit(
                    row["alert_id"], SYSTEM, "ack_timeout", "acknowledged", "notified", now,
                    acknowledged_by=row["acknowledged_by"], progress=row["progress"],
                )

    # -- delivery -------------------------------------------------------------------------------

    def _deliver_due(self) -> bool:
        """Send what is due; True if someone could not be reached (escalation moved)."""
        self._gave_up = False
        for _ in range(100):
            now = self.clock.now()
            rows = self.conn.execute(
                "SELECT n.*, a.state AS alert_state FROM alert_notifications n JOIN alerts a "
                "ON a.id=n.alert_id WHERE n.status='pending' AND n.next_attempt_at<=? "
                "ORDER BY n.next_attempt_at, n.id LIMIT 50",
                (_ts(now),),
            ).fetchall()
            if not rows:
                break
            for row in rows:
                try:
                    self._deliver(row)
                except Exception:
                    _LOGGER.exception("delivering notification #%s failed", row["id"])
                    with self.service.tx():
                        self.conn.execute(
                            "UPDATE alert_notifications SET next_attempt_at=? WHERE id=?",
                            (_ts(self.clock.now()) + 60, row["id"]),
                        )
        return self._gave_up

    def _facts(
        self, alert_id: int, link: str | None, repeat: bool, buttons: bool = False
    ) -> MessageFacts:
        view = self.service.peek(alert_id)
        contacts = self.config.home(view.home_id)
        home = self.conn.execute(
            "SELECT name, timezone FROM homes WHERE id=?", (view.home_id,)
        ).fetchone()
        zone = home["timezone"] if home else self.config.district.timezone
        if view.kind == AREA_OUTAGE:
            resident, address = view.mahalla or "?", ""
        elif contacts is not None:
            resident, address = contacts.resident, contacts.address
        else:
            resident, address = (home["name"] if home and home["name"] else view.home_id), ""
        detail = view.detail
        explanation = detail.get("explanation") or detail.get("why")
        kits = detail.get("kits")
        return MessageFacts(
            kind=view.kind,
            resident=resident,
            address=address,
            happened_at=view.raised_at,
            timezone=zone,
            link=link,
            room=detail.get("room"),
            explanation=explanation if isinstance(explanation, dict | str) else None,
            kits=len(kits) if view.kind == AREA_OUTAGE and isinstance(kits, list) else None,
            repeat=repeat,
            buttons=buttons,
        )

    def _link(self, row: sqlite3.Row, now: datetime) -> tuple[str | None, str | None]:
        """Issue an acknowledge link and its token (call inside the transaction that records
        the intent); (None, None) for a message with nothing to acknowledge."""
        if self.signer is None or row["purpose"] not in _ACKABLE:
            return None, None
        expires = now + timedelta(seconds=self.config.token_ttl_s)
        token, nonce = self.signer.issue(expires)
        self.conn.execute(
            "INSERT INTO alert_ack_tokens(nonce, alert_id, person_id, notification_id, "
            "issued_at, expires_at) VALUES (?,?,?,?,?,?)",
            (nonce, row["alert_id"], row["person_id"], row["id"], _ts(now), _ts(expires)),
        )
        return f"{self.public_base_url}/ack/{token}", token

    def _deliver(self, row: sqlite3.Row) -> None:
        now = self.clock.now()
        if row["purpose"] in _ACKABLE and row["alert_state"] not in ("raised", "notified"):
            with self.service.tx():
                self.conn.execute(
                    "UPDATE alert_notifications SET status='cancelled', next_attempt_at=NULL "
                    "WHERE id=?",
                    (row["id"],),
                )
            return
        if self._open_intent(row["id"]) is not None:
            # An earlier send of this notification never recorded its outcome (its outcome
            # write failed): it may have arrived, so it is not sent again.
            self._resolve_interrupted_sends(now, notification_id=row["id"])
            return
        person = self.config.person(row["person_id"])
        methods = person.methods if person else []
        index = row["method_index"]
        if index >= len(methods):
            reason = "unknown person" if person is None else "no contact method left"
            self._give_up(row, now, reason)
            return
        method = methods[index]
        language = person.languages[0] if person else self.config.people[0].languages[0]
        destination = redact_url(method.url)
        # The intent: committed before the send, so a send the hub is killed in is on record
        # and is not repeated after the restart.
        with self.service.tx():
            link, token = self._link(row, now)
            cur = self.conn.execute(
                "INSERT INTO alert_delivery_attempts(notification_id, at, method_index, channel, "
                "destination, ok, error, duration_s, outcome) VALUES (?,?,?,?,?,0,NULL,0,"
                "'sending')",
                (row["id"], _ts(now), index, method.method_kind.value, destination),
            )
            attempt_id = cur.lastrowid
        # The Telegram bot carries the token in its buttons, so its text carries no link.
        actions = None
        if token is not None and method.url.split("://", 1)[0].lower() == TELEGRAM_SCHEME:
            actions = AlertActions(token, language, self._has_phone(row["alert_id"]))
        message = render(
            self._facts(
                row["alert_id"], None if actions else link, row["purpose"] == "renotify",
                buttons=actions is not None,
            ),
            language,
            method.method_kind,
        )
        started = self.clock.now()
        try:
            result = send_message(
                self.channel, method.url, message.subject, message.body, actions
            )
        except Exception as exc:  # a channel bug is one failed attempt, not a stuck message
            _LOGGER.exception("channel raised for notification #%s", row["id"])
            result = SendResult(False, f"{type(exc).__name__}: {exc}"[:300])
        done = self.clock.now()
        _LOGGER.info(
            "notification #%s to %s via %s: %s",
            row["id"], row["person_id"], method.method_kind.value,
            "sent" if result.ok else f"failed ({result.error})",
        )
        with self.service.tx():
            self.conn.execute(
                "UPDATE alert_delivery_attempts SET outcome=?, ok=?, error=?, finished_at=?, "
                "duration_s=? WHERE id=?",
                (
                    "sent" if result.ok else "failed", int(result.ok), result.error, _ts(done),
                    (done - started).total_seconds(), attempt_id,
                ),
            )
            if result.ok:
                self.conn.execute(
                    "UPDATE alert_notifications SET status='sent', sent_at=?, attempts=attempts+1,"
                    " next_attempt_at=NULL, last_error=NULL WHERE id=?",
                    (_ts(done), row["id"]),
                )
                state = self.conn.execute(
                    "SELECT state FROM alerts WHERE id=?", (row["alert_id"],)
                ).fetchone()[0]
                if state == "raised":
                    self.conn.execute(
                        "UPDATE alerts SET state='notified', notified_at=?, updated_at=? "
                        "WHERE id=?",
                        (_ts(done), _ts(done), row["alert_id"]),
                    )
                    self.service.audit(
                        row["alert_id"], SYSTEM, "notified", "raised", "notified", done,
                        person=row["person_id"],
                    )
                return
            attempts = row["attempts"] + 1
            delivery = self.config.delivery
            if attempts < delivery.attempts_per_method:
                backoff = delivery.backoff_s[min(attempts - 1, len(delivery.backoff_s) - 1)]
                self.conn.execute(
                    "UPDATE alert_notifications SET attempts=?, next_attempt_at=?, last_error=? "
                    "WHERE id=?",
                    (attempts, _ts(done) + backoff, result.error, row["id"]),
                )
                return
            # This method is used up: the person's next method at once.
            self.conn.execute(
                "UPDATE alert_notifications SET attempts=0, method_index=?, next_attempt_at=?, "
                "last_error=? WHERE id=?",
                (index + 1, _ts(done), result.error, row["id"]),
            )
            self.service.audit(
                row["alert_id"], SYSTEM, "method_failed", at=done, person=row["person_id"],
                method=index, error=result.error,
            )

    def _has_phone(self, alert_id: int) -> bool:
        row = self.conn.execute("SELECT home_id FROM alerts WHERE id=?", (alert_id,)).fetchone()
        contacts = self.config.home(row[0]) if row else None
        return bool(contacts and contacts.phone)

    def _open_intent(self, notification_id: int) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM alert_delivery_attempts WHERE notification_id=? "
            "AND outcome='sending' LIMIT 1",
            (notification_id,),
        ).fetchone()
        return None if row is None else int(row[0])

    def _resolve_interrupted_sends(
        self, now: datetime, notification_id: int | None = None
    ) -> None:
        """Each intent without an outcome becomes "unknown": audited, never sent again.

        SMTP, webhooks, Telegram and SMS gateways cannot be asked whether a message arrived, so
        the hub cannot tell a send that went from one that did not. Sending again would give a
        worker the same step twice (two links, two calls to the same home); not sending keeps
        the record honest and the escalation going: later steps fire on schedule, re-notify
        repeats still come, and a round in which nobody is confirmed reached still falls back
        to the supervisor.
        """
        where = "d.outcome='sending'"
        args: tuple[int, ...] = ()
        if notification_id is not None:
            where += " AND d.notification_id=?"
            args = (notification_id,)
        rows = self.conn.execute(
            "SELECT d.id AS attempt_id, d.at AS started_at, d.method_index AS attempt_method, "
            "d.channel, d.destination, n.id, n.alert_id, n.round, n.purpose, n.person_id, "
            "n.status, n.method_index FROM alert_delivery_attempts d JOIN alert_notifications n "
            f"ON n.id=d.notification_id WHERE {where} ORDER BY d.id",
            args,
        ).fetchall()
        for row in rows:
            with self.service.tx():
                self.conn.execute(
                    "UPDATE alert_delivery_attempts SET outcome='unknown', error=?, "
                    "finished_at=? WHERE id=? AND outcome='sending'",
                    (_UNKNOWN_ERROR, _ts(now), row["attempt_id"]),
                )
                if row["status"] == "pending" and row["method_index"] == row["attempt_method"]:
                    self.conn.execute(
                        "UPDATE alert_notifications SET status='unknown', next_attempt_at=NULL, "
                        "last_error=? WHERE id=?",
                        (_UNKNOWN_ERROR, row["id"]),
                    )
                self.service.audit(
                    row["alert_id"], SYSTEM, "delivery_outcome_unknown", at=now,
                    person=row["person_id"], purpose=row["purpose"], channel=row["channel"],
                    destination=row["destination"], attempted_at=_dt(row["started_at"]),
                    rule="not sent again on this channel; escalation continues on schedule",
                )
                _LOGGER.warning(
                    "notification #%s to %s via %s: the hub stopped during the send; outcome "
                    "unknown, not sent again", row["id"], row["person_id"], row["channel"],
                )
                if row["purpose"] in _ACKABLE:
                    self._after_unknown(row["alert_id"], row["round"], row["person_id"], now)

    def _after_unknown(self, alert_id: int, round_no: int, person_id: str, now: datetime) -> None:
        """No step left and nobody confirmed reached: the supervisor, as for failures."""
        esc = self.conn.execute(
            "SELECT e.done, e.next_step_at, a.state FROM alert_escalations e JOIN alerts a "
            "ON a.id=e.alert_id WHERE e.alert_id=?",
            (alert_id,),
        ).fetchone()
        if esc is None or esc["done"] or esc["state"] not in ("raised", "notified"):
            return
        if esc["next_step_at"] is not None or self._anyone_reachable(alert_id, round_no):
            return
        if person_id == self.config.district.supervisor:
            return  # the fallback is this very person: telling them again is the repeat
        self._fallback(alert_id, round_no, now, "nobody confirmed reached")

    def _give_up(self, row: sqlite3.Row, now: datetime, reason: str) -> None:
        """Every method of this person failed: record it and escalate to the next step now."""
        alert_id = row["alert_id"]
        self._gave_up = True
        with self.service.tx():
            self.conn.execute(
                "UPDATE alert_notifications SET status='failed', next_attempt_at=NULL, "
                "last_error=COALESCE(last_error, ?) WHERE id=?",
                (reason, row["id"]),
            )
            self.service.audit(
                alert_id, SYSTEM, "delivery_failed", at=now, person=row["person_id"],
                reason=reason,
            )
            if row["purpose"] not in _ACKABLE:
                return
            esc = self.conn.execute(
                "SELECT e.*, a.state FROM alert_escalations e JOIN alerts a ON a.id=e.alert_id "
                "WHERE e.alert_id=?",
                (alert_id,),
            ).fetchone()
            if esc is None or esc["state"] not in ("raised", "notified") or esc["done"]:
                return
            if esc["next_step_at"] is not None:
                self.conn.execute(
                    "UPDATE alert_escalations SET next_step_at=? WHERE alert_id=?",
                    (_ts(now), alert_id),
                )
            elif not self._anyone_reachable(alert_id, esc["round"]):
                self._fallback(alert_id, esc["round"], now, "every notification failed")

    # -- kit availability -----------------------------------------------------------------------

    def _raise(
        self, home_id: str, kind: str, mahalla: str, now: datetime, detail: dict[str, Any]
    ) -> tuple[int, bool]:
        """Open an alert or merge into the open one of this home and kind (as the core does)."""
        row = self.conn.execute(
            "SELECT id FROM alerts WHERE home_id=? AND kind=? AND state IN "
            "('raised','notified','acknowledged') ORDER BY id DESC LIMIT 1",
            (home_id, kind),
        ).fetchone()
        if row is not None:
            self.conn.execute(
                "UPDATE alerts SET count=count+1, updated_at=? WHERE id=?", (_ts(now), row["id"])
            )
            return int(row["id"]), False
        severity = SEVERITY_BY_KIND.get(kind, Severity.MEDIUM)
        cur = self.conn.execute(
            "INSERT INTO alerts(home_id, kind, severity, state, raised_at, updated_at, detail, "
            "mahalla) VALUES (?,?,?,?,?,?,?,?)",
            (
                home_id, kind, severity.value, "raised", _ts(now), _ts(now),
                json.dumps(detail, separators=(",", ":")), mahalla,
            ),
        )
        return int(cur.lastrowid or 0), True

    def _scan_kits(self, now: datetime) -> None:
        grouping = self.config.grouping
        kits = self.conn.execute(
            "SELECT k.id, k.home_id, k.availability, k.availability_at, h.mahalla "
            "FROM kits k JOIN homes h ON h.id=k.home_id"
        ).fetchall()
        offline = {
            k["id"]: k
            for k in kits
            if k["availability"] == "offline" and k["availability_at"] is not None
        }
        with self.service.tx():
            # 1. Outages that ended: a kit back online closes its kit_offline alert, and the
            #    last kit of an area back closes the area outage.
            ended_alerts: set[int] = set()
            for o in self.conn.execute(
                "SELECT * FROM kit_outages WHERE ended_at IS NULL"
            ).fetchall():
                k = offline.get(o["kit_id"])
                if k is None or k["availability_at"] != o["since"]:
                    self.conn.execute(
                        "UPDATE kit_outages SET ended_at=? WHERE kit_id=? AND since=?",
                        (_ts(now), o["kit_id"], o["since"]),
                    )
                    if o["alert_id"] is not None:
                        ended_alerts.add(o["alert_id"])
            for alert_id in ended_alerts:
                still = self.conn.execute(
                    "SELECT 1 FROM kit_outages WHERE alert_id=? AND ended_at IS NULL LIMIT 1",
                    (alert_id,),
                ).fetchone()
                state = self.conn.execute(
                    "SELECT state FROM alerts WHERE id=?", (alert_id,)
                ).fetchone()
                if still is None and state is not None and state[0] in (
                    "raised", "notified", "acknowledged"
                ):
                    self.service.resolve(
                        alert_id, SYSTEM, Outcome.KIT_BACK_ONLINE, "every kit is back online"
                    )
            # 2. Inactivity held back while a kit was offline: the silence was the outage.
            for held in self.conn.execute(
                "SELECT e.alert_id, a.home_id FROM alert_escalations e JOIN alerts a "
                "ON a.id=e.alert_id WHERE e.done=0 AND e.hold='kit_offline'"
            ).fetchall():
                if not self._home_has_offline_kit(held["home_id"]):
                    self.service.close_without_alerting(
                        held["alert_id"], SYSTEM, AlertState.SUPPRESSED,
                        "raised while a kit was offline; the kit is back, the detectors "
                        "will raise it again if the silence goes on",
                    )
            # 3. New outages, grouped by mahalla.
            reported = {
                (r["kit_id"], r["since"])
                for r in self.conn.execute("SELECT kit_id, since FROM kit_outages")
            }
            new_by_mahalla: dict[str, list[sqlite3.Row]] = {}
            for k in offline.values():
                if (k["id"], k["availability_at"]) not in reported:
                    new_by_mahalla.setdefault(k["mahalla"] or "", []).append(k)
            for mahalla, new in new_by_mahalla.items():
                self._group_outages(mahalla, new, now, grouping.offline_grace_s)

    def _group_outages(
        self, mahalla: str, new: list[sqlite3.Row], now: datetime, grace_s: float
    ) -> None:
        grouping = self.config.grouping
        area_home = f"area:{mahalla}"
        area = self.conn.execute(
            "SELECT id, detail FROM alerts WHERE home_id=? AND kind=? AND state IN "
            "('raised','notified','acknowledged') ORDER BY id DESC LIMIT 1",
            (area_home, AREA_OUTAGE),
        ).fetchone()
        if area is not None:
            # The outage grows: more kits join the open incident, nobody is told again.
            detail = json.loads(area["detail"])
            for k in new:
                self._record_outage(k, mahalla, area["id"])
                detail.setdefault("kits", []).append(k["id"])
                detail.setdefault("homes", []).append(k["home_id"])
            self.conn.execute(
                "UPDATE alerts SET detail=?, count=count+?, updated_at=? WHERE id=?",
                (json.dumps(detail, separators=(",", ":")), len(new), _ts(now), area["id"]),
            )
            self.service.audit(
                area["id"], SYSTEM, "outage_grew", at=now, kits=[k["id"] for k in new]
            )
            return
        eligible = [k for k in new if k["availability_at"] <= _ts(now) - grace_s]
        if not eligible:
            return
        first = min(k["availability_at"] for k in eligible)
        cluster = [
            k for k in new if abs(k["availability_at"] - first) <= grouping.area_outage_window_s
        ]
        if mahalla and len(cluster) >= grouping.area_outage_min_kits:
            detail = {
                "kits": [k["id"] for k in cluster],
                "homes": sorted({k["home_id"] for k in cluster}),
                "since": _dt(first).isoformat(),
                "explanation": {
                    lang: text("explain_area_outage", lang, mahalla=mahalla, n=len(cluster))
                    for lang in LANGUAGES
                },
            }
            alert_id, _ = self._raise(area_home, AREA_OUTAGE, mahalla, now, detail)
            for k in cluster:
                self._record_outage(k, mahalla, alert_id)
            return
        zone = ZoneInfo(self.config.district.timezone)
        for k in eligible:
            local_since = _dt(k["availability_at"]).astimezone(zone).strftime("%H:%M")
            detail = {
                "kit": k["id"],
                "since": _dt(k["availability_at"]).isoformat(),
                "explanation": {
                    lang: text("explain_kit_offline", lang, at=local_since)
                    for lang in LANGUAGES
                },
            }
            alert_id, _ = self._raise(k["home_id"], KIT_OFFLINE, mahalla, now, detail)
            self._record_outage(k, mahalla, alert_id)

    def _record_outage(self, kit: sqlite3.Row, mahalla: str, alert_id: int) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO kit_outages(kit_id, since, home_id, mahalla, alert_id) "
            "VALUES (?,?,?,?,?)",
            (kit["id"], kit["availability_at"], kit["home_id"], mahalla, alert_id),
        )


class AlertRunner:
    """Runs an AlertEngine in its own thread on its own connection; woken by new alerts."""

    def __init__(
        self,
        db_path: Path,
        config: AlertsConfig,
        clock: Clock,
        channel: Channel,
        signer: TokenSigner | None,
        public_base_url: str,
        publish: Publish | None = None,
        max_idle_s: float = 1.0,
    ) -> None:
        self._args = (config, clock, channel, signer, public_base_url, publish)
        self.db_path = db_path
        # Button presses under Telegram alerts, when the district has a bot (and the channel
        # delivers for real: the demo's recording channel never polls Telegram).
        self.telegram = telegram_poller(
            channel, config, lambda: open_alerts_db(db_path), clock, signer
        )
        self.clock = clock
        self.max_idle_s = max_idle_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.errors = 0
        # Counts finished passes, so a caller driving a manual clock can wait for one.
        self._started_passes = 0  # passes that have begun (read the clock)
        self._finished = 0  # number of the last pass that has finished
        self._passed = threading.Condition()

    def start(self) -> None:
        """Open the database, migrate, and start the loop; raise if that fails."""
        self._thread = threading.Thread(target=self._run, name="hub-alerts", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError("alert engine failed to start") from self._error
        if self.telegram is not None:
            self.telegram.start()

    def wake(self, alert: AlertRecord | None = None) -> None:
        """Run the due work now (called for each new alert, from the ingest thread)."""
        self._wake.set()

    def run_pass(self, timeout: float = 30.0) -> bool:
        """Run the due work now and wait until a pass that started after this call finished.

        For callers that move a manual clock (scenarios, tests): when this returns, everything
        due at the clock's current time has been done. False if it timed out.
        """
        with self._passed:
            # The pass running now (if any) may have read the clock before this call: wait for
            # the next one to begin and end. Setting the wake flag makes sure there is one.
            target = self._started_passes + 1
            self._wake.set()
            return self._passed.wait_for(lambda: self._finished >= target, timeout)

    def stop(self) -> None:
        """Finish the current pass and stop."""
        if self.telegram is not None:
            self.telegram.stop()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            conn = open_alerts_db(self.db_path)
            engine = AlertEngine(conn, *self._args)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise
        self._ready.set()
        try:
            while not self._stop.is_set():
                with self._passed:
                    self._wake.clear()
                    self._started_passes += 1
                    this_pass = self._started_passes
                try:
                    due = engine.run_due()
                except Exception:
                    # The rows stay; the next pass picks them up. Never let the hub lose alerts.
                    self.errors += 1
                    _LOGGER.exception("alert engine pass failed; retrying")
                    due = None
                with self._passed:
                    self._finished = this_pass
                    self._passed.notify_all()
                wait = self.max_idle_s
                if due is not None:
                    wait = min(wait, max(0.01, (due - self.clock.now()).total_seconds()))
                self._wake.wait(wait)
        finally:
            conn.close()
