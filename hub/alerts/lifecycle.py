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

import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from hub.alerts.config import AlertsConfig
from hub.alerts.severity import severity_for
from hub.alerts.tokens import TokenSigner
from hub.persistence import lifecycle as repo
from hub.persistence.connection import Connection
from hub.persistence.database import write_transaction
from hub.persistence.lifecycle import AckToken
from hub.persistence.records import (
    AlertView,
    AttemptView,
    AuditEntry,
    ModeView,
    NotificationView,
)
from mehr.clock import Clock

__all__ = [
    "OPEN_STATES",
    "SYSTEM",
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
# The actor of everything the engine does by itself (audit rows, test-mode expiry).
SYSTEM: Final = "system"


class AlertState(StrEnum):
    """The coarse state of an alert (the core `alerts.state` column)."""

    RAISED = "raised"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    SUPPRESSED = "suppressed"
    TEST = "test"  # raised during an installer's test mode: shown to the installer only


# The same three states the core store merges repeats into (hub/persistence/sqlite_store.py), so
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


def _refuse_unless_open_and_unreached(row: AlertView) -> None:
    """Arriving at, or handing on, an alert needs it open and nobody with the resident yet."""
    if row.state not in (*_UNACKED, AlertState.ACKNOWLEDGED.value) or (
        row.progress == Progress.ARRIVED
    ):
        raise InvalidTransitionError(f"alert #{row.id} is {row.state}/{row.progress or '-'}")


class AlertService:
    """Lifecycle operations on alerts, each one transaction with an audit row."""

    def __init__(
        self,
        conn: Connection,
        config: AlertsConfig,
        clock: Clock,
        signer: TokenSigner | None = None,
        write_first: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> None:
        if isinstance(conn, sqlite3.Connection):
            if conn.isolation_level is not None:
                raise ValueError(
                    "AlertService needs an autocommit connection (isolation_level=None)"
                )
            conn.row_factory = sqlite3.Row
        self.conn = conn
        self.config = config
        self.clock = clock
        self.signer = signer
        # Around each transaction of the engine's critical lane: it goes before the hub's next
        # routine batch on SQLite's one write lock (hub/write_priority.py).
        self._write_first = write_first or nullcontext
        self._depth = 0

    # -- plumbing -------------------------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """One write transaction (nested calls join the outer one)."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        with self._write_first(), write_transaction(self.conn):
            self._depth = 1
            try:
                yield self.conn
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
        repo.audit(
            self.conn,
            alert_id,
            at=at or self.clock.now(),
            actor=actor,
            action=action,
            from_state=from_state,
            to_state=to_state,
            detail=detail,
        )

    @staticmethod
    def view_from_row(r: Any) -> AlertView:
        """Build an AlertView from an `alerts` row (its severity decided as everywhere)."""
        return _with_severity(repo.view_from_row(r))

    def _row(self, alert_id: int) -> AlertView:
        found = repo.view(self.conn, alert_id)
        if found is None:
            raise AlertNotFoundError(f"no alert #{alert_id}")
        return _with_severity(found)

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
        views = [
            _with_severity(v)
            for v in repo.list_views(
                self.conn, home_ids=home_ids, mahallas=mahallas, states=states, limit=limit
            )
        ]
        if views:
            with self.tx():
                repo.audit_listing(self.conn, [v.id for v in views], actor, self.clock.now())
        return views

    def get_alert(self, alert_id: int, actor: str) -> AlertView:
        """One alert; the view is audited."""
        with self.tx():
            view = self._row(alert_id)
            self.audit(alert_id, actor, "view")
        return view

    def peek(self, alert_id: int) -> AlertView:
        """One alert without an audit row (for the engine's own use, never for people)."""
        return self._row(alert_id)

    def history(self, alert_id: int) -> list[AuditEntry]:
        """Every view and change of an alert, oldest first."""
        return repo.history(self.conn, alert_id)

    def notifications(self, alert_id: int) -> list[NotificationView]:
        """Every message of an alert with every delivery attempt."""
        return repo.notifications(self.conn, alert_id)

    # -- changes --------------------------------------------------------------------------------

    def acknowledge(self, alert_id: int, actor: str, comment: str | None = None) -> AlertView:
        """Someone takes the alert: escalation stops; an ack timeout may re-open it."""
        now = self.clock.now()
        with self.tx():
            row = self._row(alert_id)
            if row.state not in _UNACKED:
                raise InvalidTransitionError(
                    f"alert #{alert_id} is {row.state}"
                    + (f" by {row.acknowledged_by}" if row.acknowledged_by else "")
                )
            repo.set_state(self.conn,
                alert_id,
                AlertState.ACKNOWLEDGED,
                now,
                acknowledged_by=actor,
                acknowledged_at=now,
                ack_comment=comment,
            )
            self._await_arrival(row, now)
            self.audit(
                alert_id, actor, "acknowledge", row.state, "acknowledged", now, comment=comment
            )
            return self._row(alert_id)

    def _await_arrival(self, row: AlertView, now: datetime) -> None:
        """Someone holds the alert now: stop its pending messages and give them the policy's
        acknowledge timeout to arrive before escalation re-opens it."""
        policy = self.config.policies[severity_for(row.kind, row.severity)]
        deadline = now + timedelta(seconds=policy.ack_timeout_s) if policy.ack_timeout_s else None
        repo.wait_for_arrival(self.conn, row.id, deadline)
        repo.cancel_pending_notifications(self.conn, row.id)

    def reassign(self, alert_id: int, actor: str, to_actor: str, reason: str) -> AlertView:
        """A supervisor hands an open alert nobody has reached to another worker.

        The new holder starts from "acknowledged" with no progress and a fresh ack timeout, so
        if they do not arrive in time escalation re-opens the alert as it would for anyone.
        """
        if not reason.strip():
            raise InvalidTransitionError("a reassignment needs a reason")
        now = self.clock.now()
        with self.tx():
            row = self._row(alert_id)
            # Once someone is with the resident the alert is theirs to close: handing it on
            # then would send a second person to a home that already has one.
            _refuse_unless_open_and_unreached(row)
            if row.acknowledged_by == to_actor:
                raise InvalidTransitionError(f"alert #{alert_id} is already held by {to_actor}")
            repo.set_state(self.conn,
                alert_id,
                AlertState.ACKNOWLEDGED,
                now,
                acknowledged_by=to_actor,
                acknowledged_at=now,
                progress=None,
                on_the_way_at=None,
            )
            self._await_arrival(row, now)
            self.audit(
                alert_id, actor, "reassign", row.state, "acknowledged", now,
                to=to_actor, previous=row.acknowledged_by, comment=reason.strip(),
            )  # fmt: skip
            return self._row(alert_id)

    def on_the_way(self, alert_id: int, actor: str) -> AlertView:
        """The acknowledging worker is on the way (the ack timeout still runs until arrival)."""
        now = self.clock.now()
        with self.tx():
            row = self._row(alert_id)
            if row.state != AlertState.ACKNOWLEDGED or row.progress is not None:
                raise InvalidTransitionError(
                    f"alert #{alert_id} is {row.state}/{row.progress or '-'}"
                )
            repo.set_state(self.conn,
                alert_id,
                AlertState.ACKNOWLEDGED,
                now,
                progress=Progress.ON_THE_WAY.value,
                on_the_way_at=now,
            )
            self.audit(alert_id, actor, "on_the_way", "acknowledged", "acknowledged", now)
            return self._row(alert_id)

    def arrived(self, alert_id: int, actor: str) -> AlertView:
        """Someone is with the resident: the ack timeout stops; an unacknowledged alert is taken."""
        now = self.clock.now()
        with self.tx():
            row = self._row(alert_id)
            _refuse_unless_open_and_unreached(row)
            extra: dict[str, str | datetime | None] = {}
            if row.state != AlertState.ACKNOWLEDGED:
                extra = {"acknowledged_by": actor, "acknowledged_at": now}
            repo.set_state(self.conn,
                alert_id,
                AlertState.ACKNOWLEDGED,
                now,
                progress=Progress.ARRIVED.value,
                arrived_at=now,
                **extra,
            )
            repo.stop_escalation(self.conn, alert_id)
            self.audit(alert_id, actor, "arrived", row.state, "acknowledged", now)
            return self._row(alert_id)

    def resolve(
        self, alert_id: int, actor: str, outcome: Outcome, note: str | None = None
    ) -> AlertView:
        """Close an open alert with its outcome."""
        now = self.clock.now()
        with self.tx():
            row = self._row(alert_id)
            if row.state not in OPEN_STATES:
                raise InvalidTransitionError(f"alert #{alert_id} is already {row.state}")
            repo.set_state(self.conn,
                alert_id,
                AlertState.RESOLVED,
                now,
                resolved_at=now,
                resolved_by=actor,
                outcome=Outcome(outcome).value,
                note=note,
            )
            repo.stop_escalation(self.conn, alert_id)
            self.audit(
                alert_id, actor, "resolve", row.state, "resolved", now,
                outcome=outcome, note=note,
            )
            return self._row(alert_id)

    def close_without_alerting(
        self, alert_id: int, actor: str, state: AlertState, reason: str
    ) -> None:
        """Cancel ("I'm OK") or suppress (mode, kit outage) an open alert, with the reason."""
        now = self.clock.now()
        with self.tx():
            row = self._row(alert_id)
            if row.state not in OPEN_STATES:
                return
            repo.set_state(self.conn, alert_id, state, now, resolved_at=now, resolved_by=actor)
            repo.stop_escalation(self.conn, alert_id)
            self.audit(alert_id, actor, state.value, row.state, state.value, now, reason=reason)

    def resident_ok(self, home_id: str, actor: str = "resident") -> list[int]:
        """The resident pressed "I'm OK": cancel the alerts that are asking them; return ids."""
        ids = repo.waiting_for_resident(self.conn, home_id)
        for alert_id in ids:
            self.close_without_alerting(
                alert_id, actor, AlertState.CANCELLED, "resident answered I'm OK"
            )
        return ids

    # -- acknowledge links ----------------------------------------------------------------------

    def _token_row(self, token: str, allow_used: bool = False) -> AckToken:
        if self.signer is None:
            raise TokenError(TokenProblem.INVALID)
        signed = self.signer.verify(token)
        if signed is None:
            raise TokenError(TokenProblem.INVALID)
        row = repo.token(self.conn, signed.nonce)
        if row is None:
            raise TokenError(TokenProblem.INVALID)
        if row.used_at is not None and not allow_used:
            raise TokenError(TokenProblem.USED)
        if self.clock.now() >= row.expires_at:
            raise TokenError(TokenProblem.EXPIRED)
        return row

    def _token_info(self, row: AckToken) -> TokenInfo:
        person = self.config.person(row.person_id)
        return TokenInfo(
            alert=self._row(row.alert_id),
            person_id=row.person_id,
            person_name=person.name if person else row.person_id,
            expires_at=row.expires_at,
            used_at=row.used_at,
        )

    def token_info(self, token: str, address: str = "") -> TokenInfo:
        """What a link is for, without using it; audited as a view by the link's person."""
        with self.tx():
            row = self._token_row(token)
            self.audit(
                row.alert_id, f"person:{row.person_id}", "view", via="ack_link",
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
            if not repo.take_token(self.conn, row.nonce, now):
                raise TokenError(TokenProblem.USED)
            actor = f"person:{row.person_id}"
            alert = self._row(row.alert_id)
            acknowledged = alert.state in _UNACKED
            if acknowledged:
                view = self.acknowledge(row.alert_id, actor, comment)
                result = "acknowledged"
            else:
                view = alert
                result = f"already {alert.state}"
                self.audit(row.alert_id, actor, "ack_link_late", detail=result)
            repo.token_result(self.conn, row.nonce, result)
            self.audit(
                row.alert_id, actor, "ack_link_used", address=address, result=result, via=via
            )
            return LinkAck(view, acknowledged, row.person_id)

    def on_the_way_with_token(
        self, token: str, address: str = "", via: str = "ack_link"
    ) -> LinkAck:
        """On my way, as the token's person: an alert nobody has taken is acknowledged first
        (using the token, once); after their own acknowledgement the token may say "on my
        way" too. `acknowledged` is False when the alert is someone else's or closed."""
        with self.tx():
            row = self._token_row(token, allow_used=True)
            actor = f"person:{row.person_id}"
            alert = self._row(row.alert_id)
            if alert.state in _UNACKED:
                taken = self.acknowledge_with_token(token, None, address, via)
                if not taken.acknowledged:
                    return taken
                alert = self._row(row.alert_id)
            mine = (
                alert.state == AlertState.ACKNOWLEDGED and alert.acknowledged_by == actor
            )
            if mine and alert.progress is None:
                view = self.on_the_way(row.alert_id, actor)
                self.audit(row.alert_id, actor, "on_the_way_link", address=address, via=via)
                return LinkAck(view, True, row.person_id)
            return LinkAck(alert, mine, row.person_id)

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
            mode_id = repo.add_mode(
                self.conn, home_id, HomeMode(mode).value, start, until, actor, now
            )
        return ModeView(mode_id, home_id, mode.value, start, until, actor)

    def end_mode(self, home_id: str, actor: str) -> int:
        """End every current or future mode of a home now; return how many."""
        with self.tx():
            return repo.end_modes(self.conn, home_id, actor, self.clock.now())

    def active_mode(self, home_id: str, at: datetime | None = None) -> ModeView | None:
        """The mode in force for a home at `at` (default now), or None."""
        return repo.active_mode(self.conn, home_id, at or self.clock.now())


def _with_severity(view: AlertView) -> AlertView:
    """The view with its severity decided as everywhere (a stored one if valid, else by kind)."""
    severity = severity_for(view.kind, view.severity).value
    return view if severity == view.severity else replace(view, severity=severity)
