"""The alert lifecycle over the database: list, view, acknowledge, on the way, arrived, resolve.

`AlertService` is what the web app and the JSON API call; the engine uses it too. Each call is
one transaction and writes an audit row (actor, time). One instance per connection, one
connection per thread.

    raised -> notified -> acknowledged [-> progress on_the_way -> arrived] -> resolved
    any open state -> resolved | cancelled ("I'm OK")      raised -> suppressed (mode, outage)
    raised -> test (an installer's test mode covered it: delivered to nobody, not reported)
    acknowledged -> notified (ack timed out without "arrived": escalation re-opens)
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from hub.alerts.config import AlertsConfig
from hub.alerts.severity import severity_for
from hub.alerts.tokens import TokenSigner
from hub.persistence.timestamps import from_epoch as _req_dt
from hub.persistence.timestamps import from_epoch_or_none as _dt
from hub.persistence.timestamps import to_epoch as _ts
from mehr.clock import Clock

__all__ = [
    "OPEN_STATES",
    "AlertError",
    "AlertNotFoundError",
    "AlertService",
    "AlertState",
    "AlertView",
    "AttemptView",
    "AuditEntry",
    "HomeMode",
    "InvalidTransitionError",
    "LinkAck",
    "ModeView",
    "NotificationView",
    "Outcome",
    "Progress",
    "TokenError",
    "TokenInfo",
    "TokenProblem",
]

_LOGGER = logging.getLogger(__name__)


class AlertState(StrEnum):
    """The coarse state of an alert (the core `alerts.state` column)."""

    RAISED = "raised"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    SUPPRESSED = "suppressed"
    TEST = "test"  # raised during an installer's test mode: shown to the installer only


# The same three states the core store merges repeats into (hub/store/sqlite.py), so
# "on the way" and "arrived" live in `progress`, not in `state`.
OPEN_STATES: Final = (AlertState.RAISED, AlertState.NOTIFIED, AlertState.ACKNOWLEDGED)
_UNACKED: Final = (AlertState.RAISED.value, AlertState.NOTIFIED.value)


class Progress(StrEnum):
    """Where the acknowledging worker is."""

    ON_THE_WAY = "on_the_way"
    ARRIVED = "arrived"


class Outcome(StrEnum):
    """How an alert ended."""

    INCIDENT_CONFIRMED = "incident_confirmed"
    FALSE_ALARM = "false_alarm"
    RESIDENT_FINE = "resident_fine"
    TAKEN_TO_HOSPITAL = "taken_to_hospital"
    KIT_BACK_ONLINE = "kit_back_online"
    OTHER = "other"


class HomeMode(StrEnum):
    """Modes a family or worker sets with an end time; inactivity is not alerted in any."""

    AWAY = "away"
    HOLIDAY = "holiday"
    VISITOR = "visitor"


class AlertError(Exception):
    """Root of the alert engine's errors."""


class AlertNotFoundError(AlertError, LookupError):
    """No such alert."""


class InvalidTransitionError(AlertError, ValueError):
    """The alert is not in a state that allows this change."""


class TokenProblem(StrEnum):
    """Why an acknowledge link does not work."""

    INVALID = "invalid"
    EXPIRED = "expired"
    USED = "used"


class TokenError(AlertError, ValueError):
    """An acknowledge link that is forged, expired or already used."""

    def __init__(self, problem: TokenProblem) -> None:
        super().__init__(f"acknowledge link {problem.value}")
        self.problem = problem


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert with its lifecycle, as pages and the API show it."""

    id: int
    home_id: str
    kind: str
    severity: str
    state: str
    progress: str | None
    mahalla: str | None
    raised_at: datetime
    updated_at: datetime
    count: int
    detail: dict[str, Any]
    notified_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_comment: str | None
    on_the_way_at: datetime | None
    arrived_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    outcome: str | None
    note: str | None

    @property
    def is_open(self) -> bool:
        """True while someone still has to act."""
        return self.state in OPEN_STATES


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One view or change of an alert."""

    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One delivery attempt: recorded before the send (intent), completed with its outcome."""

    at: datetime  # when the attempt started (its intent was committed)
    method_index: int
    channel: str
    destination: str
    ok: bool
    error: str | None
    # sending (under way) | sent | failed | unknown (the hub stopped during the send)
    outcome: str
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class NotificationView:
    """One message to one person, with its attempts."""

    id: int
    person_id: str
    target: str
    purpose: str
    round: int
    step: int
    status: str  # pending | sent | failed | cancelled | unknown (see docs/alerts.md)
    sent_at: datetime | None
    last_error: str | None
    attempts: list[AttemptView]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What an acknowledge link is for (shown by GET before anyone acknowledges)."""

    alert: AlertView
    person_id: str
    person_name: str
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class LinkAck:
    """What using an acknowledge link did: acknowledged, or someone else had been first."""

    alert: AlertView
    acknowledged: bool
    person_id: str


@dataclass(frozen=True, slots=True)
class ModeView:
    """A home mode period."""

    id: int
    home_id: str
    mode: str
    starts_at: datetime
    ends_at: datetime
    set_by: str


class AlertService:
    """Lifecycle operations on alerts, each one transaction with an audit row."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        config: AlertsConfig,
        clock: Clock,
        signer: TokenSigner | None = None,
    ) -> None:
        if conn.isolation_level is not None:
            raise ValueError("AlertService needs an autocommit connection (isolation_level=None)")
        conn.row_factory = sqlite3.Row
        self.conn = conn
        self.config = config
        self.clock = clock
        self.signer = signer
        self._depth = 0

    # -- plumbing -------------------------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (nested calls join the outer one)."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    def audit(
        self,
        alert_id: int,
        actor: str,
        action: str,
        from_state: str | None = None,
        to_state: str | None = None,
        at: datetime | None = None,
        **detail: Any,
    ) -> None:
        """Record one view or change of an alert."""
        self.conn.execute(
            "INSERT INTO alert_audit(alert_id, at, actor, action, from_state, to_state, detail) "
            "VALUES (?,?,?,?,?,?,?)",
            (
                alert_id,
                _ts(at or self.clock.now()),
                actor,
                action,
                from_state,
                to_state,
                json.dumps(detail, default=str, separators=(",", ":")),
            ),
        )

    @staticmethod
    def view_from_row(r: sqlite3.Row) -> AlertView:
        """Build an AlertView from an `alerts` row."""
        return AlertView(
            id=r["id"],
            home_id=r["home_id"],
            kind=r["kind"],
            severity=severity_for(r["kind"], r["severity"]).value,
            state=r["state"],
            progress=r["progress"],
            mahalla=r["mahalla"],
            raised_at=_req_dt(r["raised_at"]),
            updated_at=_req_dt(r["updated_at"]),
            count=r["count"],
            detail=json.loads(r["detail"]),
            notified_at=_dt(r["notified_at"]),
            acknowledged_by=r["acknowledged_by"],
            acknowledged_at=_dt(r["acknowledged_at"]),
            ack_comment=r["ack_comment"],
            on_the_way_at=_dt(r["on_the_way_at"]),
            arrived_at=_dt(r["arrived_at"]),
            resolved_at=_dt(r["resolved_at"]),
            resolved_by=r["resolved_by"],
            outcome=r["outcome"],
            note=r["note"],
        )

    def _row(self, alert_id: int) -> sqlite3.Row:
        row = self.conn.execute("SELECT * FROM alerts WHERE id=?", (alert_id,)).fetchone()
        if row is None:
            raise AlertNotFoundError(f"no alert #{alert_id}")
        return row  # type: ignore[no-any-return]

    def _set_state(
        self,
        alert_id: int,
        state: AlertState,
        now: datetime,
        **columns: object,
    ) -> None:
        sets = ["state=?", "updated_at=?", *(f"{name}=?" for name in columns)]
        self.conn.execute(
            f"UPDATE alerts SET {', '.join(sets)} WHERE id=?",
            (state.value, _ts(now), *columns.values(), alert_id),
        )

    def _stop_escalation(self, alert_id: int) -> None:
        self.conn.execute(
            "UPDATE alert_escalations SET done=1, next_step_at=NULL, renotify_at=NULL, "
            "ack_deadline=NULL, hold=NULL WHERE alert_id=?",
            (alert_id,),
        )
        self.conn.execute(
            "UPDATE alert_notifications SET status='cancelled', next_attempt_at=NULL "
            "WHERE alert_id=? AND status='pending' AND purpose!='info'",
            (alert_id,),
        )

    # -- reading --------------------------------------------------------------------------------

    def list_alerts(
        self,
        actor: str,
        *,
        home_ids: Sequence[str] | None = None,
        mahallas: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        limit: int = 200,
    ) -> list[AlertView]:
        """Alerts newest first, filtered by home, mahalla and state; each listing is audited.

        Alerts of an installer's test mode are left out unless `states` asks for 'test'.
        """
        where: list[str] = [] if states is not None else [f"state != '{AlertState.TEST}'"]
        params: list[Any] = []
        for column, values in (("home_id", home_ids), ("mahalla", mahallas), ("state", states)):
            if values is not None:
                if not values:
                    return []
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        sql = "SELECT * FROM alerts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self.conn.execute(sql, (*params, limit)).fetchall()
        views = [self.view_from_row(r) for r in rows]
        if views:
            now = _ts(self.clock.now())
            with self.tx():
                self.conn.executemany(
                    "INSERT INTO alert_audit(alert_id, at, actor, action) VALUES (?,?,?,'list')",
                    [(v.id, now, actor) for v in views],
                )
        return views

    def get_alert(self, alert_id: int, actor: str) -> AlertView:
        """One alert; the view is audited."""
        with self.tx():
            view = self.view_from_row(self._row(alert_id))
            self.audit(alert_id, actor, "view")
        return view

    def peek(self, alert_id: int) -> AlertView:
        """One alert without an audit row (for the engine's own use, never for people)."""
        return self.view_from_row(self._row(alert_id))

    def history(self, alert_id: int) -> list[AuditEntry]:
        """Every view and change of an alert, oldest first."""
        rows = self.conn.execute(
            "SELECT * FROM alert_audit WHERE alert_id=? ORDER BY id", (alert_id,)
        ).fetchall()
        return [
            AuditEntry(
                at=_req_dt(r["at"]),
                actor=r["actor"],
                action=r["action"],
                from_state=r["from_state"],
                to_state=r["to_state"],
                detail=json.loads(r["detail"]),
            )
            for r in rows
        ]

    def notifications(self, alert_id: int) -> list[NotificationView]:
        """Every message of an alert with every delivery attempt."""
        rows = self.conn.execute(
            "SELECT * FROM alert_notifications WHERE alert_id=? ORDER BY id", (alert_id,)
        ).fetchall()
        attempts: dict[int, list[AttemptView]] = {}
        for a in self.conn.execute(
            "SELECT a.* FROM alert_delivery_attempts a JOIN alert_notifications n "
            "ON n.id=a.notification_id WHERE n.alert_id=? ORDER BY a.id",
            (alert_id,),
        ):
            attempts.setdefault(a["notification_id"], []).append(
                AttemptView(
                    at=_req_dt(a["at"]),
                    method_index=a["method_index"],
                    channel=a["channel"],
                    destination=a["destination"],
                    ok=bool(a["ok"]),
                    error=a["error"],
                    outcome=a["outcome"],
                    finished_at=_dt(a["finished_at"]),
                )
            )
        return [
            NotificationView(
                id=r["id"],
                person_id=r["person_id"],
                target=r["target"],
                purpose=r["purpose"],
                round=r["round"],
                step=r["step"],
                status=r["status"],
                sent_at=_dt(r["sent_at"]),
                last_error=r["last_error"],
                attempts=attempts.get(r["id"], []),
            )
            for r in rows
        ]

    # -- changes --------------------------------------------------------------------------------

    def acknowledge(self, alert_id: int, actor: str, comment: str | None = None) -> AlertView:
        """Someone takes the alert: escalation stops; an ack timeout may re-open it."""
        now = self.clock.now()
        with self.tx():
            row = self._row(alert_id)
            if row["state"] not in _UNACKED:
                raise InvalidTransitionError(
                    f"alert #{alert_id} is {row['state']}"
                    + (f" by {row['acknowledged_by']}" if row["acknowledged_by"] else "")
                )
            self._set_state(
                alert_id,
                AlertState.ACKNOWLEDGED,
                now,
                acknowledged_by=actor,
                acknowledged_at=_ts(now),
                ack_comment=comment,
            )
            policy = self.config.policies[severity_for(row["kind"], row["severity"])]
            deadline = (
                _ts(now + timedelta(seconds=policy.ack_timeout_s))
                if policy.ack_timeout_s
                else None
            )
            self.conn.execute(
                "UPDATE alert_escalations SET next_step_at=NULL, renotify_at=NULL, "
                "ack_deadline=? WHERE alert_id=?",
                (deadline, alert_id),
            )
            self.conn.execute(
                "UPDATE alert_notifications SET status='cancelled', next_attempt_at=NULL "
                "WHERE alert_id=? AND status='pending' AND purpose!='info'",
                (alert_id,),
            )
            self.audit(
                alert_id, actor, "acknowledge", row["state"], "acknowledged", now, comment=comment
            )
            return self.view_from_row(self._row(alert_id))

    def on_the_way(self, alert_id: int, actor: str) -> AlertView:
        """The acknowledging worker is on the way (the ack timeout still runs until arrival)."""
        now = self.clock.now()
        with self.tx():
            row = self._row(alert_id)
            if row["state"] != AlertState.ACKNOWLEDGED or row["progress"] is not None:
                raise InvalidTransitionError(
                    f"alert #{alert_id} is {row['state']}/{row['progress'] or '-'}"
                )
            self._set_state(
                alert_id,
                AlertState.ACKNOWLEDGED,
                now,
                progress=Progress.ON_THE_WAY.value,
                on_the_way_at=_ts(now),
            )
            self.audit(alert_id, actor, "on_the_way", "acknowledged", "acknowledged", now)
            return self.view_from_row(self._row(alert_id))

    def arrived(self, alert_id: int, actor: str) -> AlertView:
        """Someone is with the resident: the ack timeout stops; an unacknowledged alert is taken."""
        now = self.clock.now()
        with self.tx():
            row = self._row(alert_id)
            if row["state"] not in (*_UNACKED, AlertState.ACKNOWLEDGED.value) or (
                row["progress"] == Progress.ARRIVED
            ):
                raise InvalidTransitionError(
                    f"alert #{alert_id} is {row['state']}/{row['progress'] or '-'}"
                )
            extra: dict[str, object] = {}
            if row["state"] != AlertState.ACKNOWLEDGED:
                extra = {"acknowledged_by": actor, "acknowledged_at": _ts(now)}
            self._set_state(
                alert_id,
                AlertState.ACKNOWLEDGED,
                now,
                progress=Progress.ARRIVED.value,
                arrived_at=_ts(now),
                **extra,
            )
            self._stop_escalation(alert_id)
            self.audit(alert_id, actor, "arrived", row["state"], "acknowledged", now)
            return self.view_from_row(self._row(alert_id))

    def resolve(
        self, alert_id: int, actor: str, outcome: Outcome, note: str | None = None
    ) -> AlertView:
        """Close an open alert with its outcome."""
        now = self.clock.now()
        with self.tx():
            row = self._row(alert_id)
            if row["state"] not in OPEN_STATES:
                raise InvalidTransitionError(f"alert #{alert_id} is already {row['state']}")
            self._set_state(
                alert_id,
                AlertState.RESOLVED,
                now,
                resolved_at=_ts(now),
                resolved_by=actor,
                outcome=Outcome(outcome).value,
                note=note,
            )
            self._stop_escalation(alert_id)
            self.audit(
                alert_id, actor, "resolve", row["state"], "resolved", now,
                outcome=outcome, note=note,
            )
            return self.view_from_row(self._row(alert_id))

    def close_without_alerting(
        self, alert_id: int, actor: str, state: AlertState, reason: str
    ) -> None:
        """Cancel ("I'm OK") or suppress (mode, kit outage) an open alert, with the reason."""
        now = self.clock.now()
        with self.tx():
            row = self._row(alert_id)
            if row["state"] not in OPEN_STATES:
                return
            self._set_state(alert_id, state, now, resolved_at=_ts(now), resolved_by=actor)
            self._stop_escalation(alert_id)
            self.audit(alert_id, actor, state.value, row["state"], state.value, now, reason=reason)

    def resident_ok(self, home_id: str, actor: str = "resident") -> list[int]:
        """The resident pressed "I'm OK": cancel the alerts that are asking them; return ids."""
        rows = self.conn.execute(
            "SELECT e.alert_id FROM alert_escalations e JOIN alerts a ON a.id=e.alert_id "
            "WHERE a.home_id=? AND e.hold='asking' AND e.done=0",
            (home_id,),
        ).fetchall()
        ids = [int(r[0]) for r in rows]
        for alert_id in ids:
            self.close_without_alerting(
                alert_id, actor, AlertState.CANCELLED, "resident answered I'm OK"
            )
        return ids

    # -- acknowledge links ----------------------------------------------------------------------

    def _token_row(self, token: str, allow_used: bool = False) -> sqlite3.Row:
        if self.signer is None:
            raise TokenError(TokenProblem.INVALID)
        signed = self.signer.verify(token)
        if signed is None:
            raise TokenError(TokenProblem.INVALID)
        row = self.conn.execute(
            "SELECT * FROM alert_ack_tokens WHERE nonce=?", (signed.nonce,)
        ).fetchone()
        if row is None:
            raise TokenError(TokenProblem.INVALID)
        if row["used_at"] is not None and not allow_used:
            raise TokenError(TokenProblem.USED)
        if self.clock.now().timestamp() >= row["expires_at"]:
            raise TokenError(TokenProblem.EXPIRED)
        return row  # type: ignore[no-any-return]

    def _token_info(self, row: sqlite3.Row) -> TokenInfo:
        person = self.config.person(row["person_id"])
        return TokenInfo(
            alert=self.view_from_row(self._row(row["alert_id"])),
            person_id=row["person_id"],
            person_name=person.name if person else row["person_id"],
            expires_at=_req_dt(row["expires_at"]),
            used_at=_dt(row["used_at"]),
        )

    def token_info(self, token: str, address: str = "") -> TokenInfo:
        """What a link is for, without using it; audited as a view by the link's person."""
        with self.tx():
            row = self._token_row(token)
            self.audit(
                row["alert_id"], f"person:{row['person_id']}", "view", via="ack_link",
                address=address,
            )
            return self._token_info(row)

    def check_token(self, token: str) -> TokenInfo:
        """Whose token this is and for which alert, used or not; raises for a forged or expired
        one. Not audited: a channel checks who pressed a button before anything is done."""
        return self._token_info(self._token_row(token, allow_used=True))

    def acknowledge_with_token(
        self, token: str, comment: str | None = None, address: str = "", via: str = "ack_link"
    ) -> LinkAck:
        """Use a token once: acknowledge as its person (if someone was first, say who).

        The one implementation behind the acknowledge link and Telegram's button (`via`)."""
        now = self.clock.now()
        with self.tx():
            row = self._token_row(token)
            # Single use: only the first UPDATE matches, even with two requests in flight.
            used = self.conn.execute(
                "UPDATE alert_ack_tokens SET used_at=? WHERE nonce=? AND used_at IS NULL",
                (_ts(now), row["nonce"]),
            )
            if used.rowcount != 1:
                raise TokenError(TokenProblem.USED)
            actor = f"person:{row['person_id']}"
            alert = self._row(row["alert_id"])
            acknowledged = alert["state"] in _UNACKED
            if acknowledged:
                view = self.acknowledge(row["alert_id"], actor, comment)
                result = "acknowledged"
            else:
                view = self.view_from_row(alert)
                result = f"already {alert['state']}"
                self.audit(row["alert_id"], actor, "ack_link_late", detail=result)
            self.conn.execute(
                "UPDATE alert_ack_tokens SET used_result=? WHERE nonce=?", (result, row["nonce"])
            )
            self.audit(
                row["alert_id"], actor, "ack_link_used", address=address, result=result, via=via
            )
            return LinkAck(view, acknowledged, row["person_id"])

    def on_the_way_with_token(
        self, token: str, address: str = "", via: str = "ack_link"
    ) -> LinkAck:
        """On my way, as the token's person: an alert nobody has taken is acknowledged first
        (using the token, once); after their own acknowledgement the token may say "on my
        way" too. `acknowledged` is False when the alert is someone else's or closed."""
        with self.tx():
            row = self._token_row(token, allow_used=True)
            actor = f"person:{row['person_id']}"
            alert = self._row(row["alert_id"])
            if alert["state"] in _UNACKED:
                taken = self.acknowledge_with_token(token, None, address, via)
                if not taken.acknowledged:
                    return taken
                alert = self._row(row["alert_id"])
            mine = (
                alert["state"] == AlertState.ACKNOWLEDGED and alert["acknowledged_by"] == actor
            )
            if mine and alert["progress"] is None:
                view = self.on_the_way(row["alert_id"], actor)
                self.audit(row["alert_id"], actor, "on_the_way_link", address=address, via=via)
                return LinkAck(view, True, row["person_id"])
            return LinkAck(self.view_from_row(alert), mine, row["person_id"])

    # -- modes ----------------------------------------------------------------------------------

    def set_mode(
        self,
        home_id: str,
        mode: HomeMode,
        until: datetime,
        actor: str,
        starts_at: datetime | None = None,
    ) -> ModeView:
        """Set away/holiday/visitor mode for a home until `until`."""
        now = self.clock.now()
        start = starts_at or now
        if until <= start:
            raise ValueError("a mode needs an end time after its start")
        with self.tx():
            cur = self.conn.execute(
                "INSERT INTO home_modes(home_id, mode, starts_at, ends_at, set_by, set_at) "
                "VALUES (?,?,?,?,?,?)",
                (home_id, HomeMode(mode).value, _ts(start), _ts(until), actor, _ts(now)),
            )
        return ModeView(int(cur.lastrowid or 0), home_id, mode.value, start, until, actor)

    def end_mode(self, home_id: str, actor: str) -> int:
        """End every current or future mode of a home now; return how many."""
        now = _ts(self.clock.now())
        with self.tx():
            cur = self.conn.execute(
                "UPDATE home_modes SET ended_at=?, ended_by=? WHERE home_id=? AND ended_at IS "
                "NULL AND ends_at > ?",
                (now, actor, home_id, now),
            )
        return cur.rowcount

    def active_mode(self, home_id: str, at: datetime | None = None) -> ModeView | None:
        """The mode in force for a home at `at` (default now), or None."""
        moment = _ts(at or self.clock.now())
        r = self.conn.execute(
            "SELECT * FROM home_modes WHERE home_id=? AND starts_at<=? AND ends_at>? "
            "AND (ended_at IS NULL OR ended_at>?) ORDER BY ends_at DESC LIMIT 1",
            (home_id, moment, moment, moment),
        ).fetchone()
        if r is None:
            return None
        return ModeView(
            r["id"], r["home_id"], r["mode"], _req_dt(r["starts_at"]), _req_dt(r["ends_at"]),
            r["set_by"],
        )
