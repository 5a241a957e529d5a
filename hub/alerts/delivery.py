"""Delivery: send each due notification through its person's contact methods, with retries.

Every send is preceded by a committed attempt row (the intent) that the outcome then
completes. An intent found without an outcome after a restart is the send the hub was killed
in: it is marked "unknown", audited, and never sent again automatically (docs/alerts.md,
"What is guaranteed"). A person no method reaches moves the escalation on (Escalator).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from hub.alerts.channels import AlertActions, Channel, SendResult, redact_url, send_message
from hub.alerts.config import AlertsConfig, ContactMethod, Language
from hub.alerts.escalation import Escalator
from hub.alerts.lifecycle import SYSTEM, AlertService
from hub.alerts.messages import MessageFacts, render
from hub.alerts.severity import AREA_OUTAGE
from hub.alerts.telegram import SCHEME as TELEGRAM_SCHEME
from hub.alerts.tokens import TokenSigner
from hub.coordination import EVERY_HOME, Ownership
from hub.persistence import alerts as alerts_repo
from hub.persistence import kits as kits_repo
from hub.persistence import notifications as notifications_repo
from hub.persistence.connection import Connection
from hub.persistence.notifications import Notification
from mehr.clock import Clock

__all__ = ["Deliverer", "SendsInFlight"]

_LOGGER = logging.getLogger(__name__)
_ACKABLE: Final = ("alert", "renotify")
_UNACKED: Final = ("raised", "notified")
_UNKNOWN_ERROR: Final = "the hub stopped during this send: whether it arrived is unknown"
# Due notifications read per round: the few of other hubs' homes (due at most until their
# partitions are taken over) are skipped; this many leaves room for ours behind them.
_DUE_READ: Final = 500
# Sends between two looks for alerts raised meanwhile (deliver_due), and the reads of what is
# due one call makes at most (a look that found new alerts reads again).
_SEND_CHUNK: Final = 20
_MAX_READS: Final = 1_000


class SendsInFlight:
    """The attempts this process is sending right now.

    The alert engine's two lanes (hub/alerts/engine.py) send at the same time. An intent
    without an outcome is a send a process was killed in, unless one of them is making it:
    the other lane's recovery must not mark it "unknown".
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: set[int] = set()

    def add(self, attempt_id: int) -> None:
        with self._lock:
            self._ids.add(attempt_id)

    def discard(self, attempt_id: int) -> None:
        with self._lock:
            self._ids.discard(attempt_id)

    def __contains__(self, attempt_id: object) -> bool:
        with self._lock:
            return attempt_id in self._ids


class Deliverer:
    """Sends due notifications on one connection; `channel` may be swapped (tests do)."""

    def __init__(
        self,
        conn: Connection,
        config: AlertsConfig,
        clock: Clock,
        channel: Channel,
        service: AlertService,
        escalator: Escalator,
        signer: TokenSigner | None,
        public_base_url: str,
        ownership: Ownership = EVERY_HOME,
        *,
        critical_only: bool = False,
        in_flight: SendsInFlight | None = None,
    ) -> None:
        self.ownership = ownership
        self.critical_only = critical_only
        self.in_flight = in_flight or SendsInFlight()
        self.conn = conn
        self.config = config
        self.clock = clock
        self.channel = channel
        self.service = service
        self.escalator = escalator
        self.signer = signer
        self.public_base_url = public_base_url
        self._gave_up = False

    def deliver_due(self, between: Callable[[], bool] | None = None) -> bool:
        """Send what is due, a critical alert's first; True if someone could not be reached
        (escalation moved).

        `between` runs after every `_SEND_CHUNK` sends (the engine adopts the alerts raised
        meanwhile); when it made something due, what is due is read again, a critical alert's
        first: a help press raised while hundreds of other alerts' messages go out is sent next,
        not after them. At 100,000 homes, 931 alerts found together held presses raised
        meanwhile for up to 97 s.
        """
        self._gave_up = False
        for _ in range(_MAX_READS):
            due = [
                note
                for note in notifications_repo.due(
                    self.conn, self.clock.now(), _DUE_READ, self.critical_only
                )
                if self.ownership.owns(note.home_id)
            ]
            if not due:
                break
            for sent, note in enumerate(due):
                if sent and sent % _SEND_CHUNK == 0 and between is not None and between():
                    break  # read again: the new alerts' messages may come first
                try:
                    self._deliver(note)
                except Exception:
                    _LOGGER.exception("delivering notification #%s failed", note.id)
                    with self.service.tx():
                        notifications_repo.retry_at(
                            self.conn, note.id, self.clock.now() + timedelta(seconds=60)
                        )
        return self._gave_up

    def _deliver(self, note: Notification) -> None:
        now = self.clock.now()
        if note.purpose in _ACKABLE and note.alert_state not in _UNACKED:
            with self.service.tx():
                notifications_repo.cancel(self.conn, note.id)
            return
        if notifications_repo.open_intent(self.conn, note.id) is not None:
            # An earlier send of this notification never recorded its outcome (its outcome
            # write failed): it may have arrived, so it is not sent again.
            self.resolve_interrupted_sends(now, notification_id=note.id)
            return
        person = self.config.person(note.person_id)
        methods = person.methods if person else []
        index = note.method_index
        if index >= len(methods):
            reason = "unknown person" if person is None else "no contact method left"
            self._give_up(note, now, reason)
            return
        method = methods[index]
        language = person.languages[0] if person else self.config.people[0].languages[0]
        destination = redact_url(method.url)
        # The intent: committed before the send, so a send the hub is killed in is on record
        # and is not repeated after the restart.
        attempt_id: int | None = None
        try:
            with self.service.tx():
                # Claimed in the same transaction as the intent: of two hubs (or two lanes of
                # this engine) holding one reading of this due row, only one sends it.
                claimed = notifications_repo.claim_attempt(self.conn, note, now)
                if claimed:
                    link, token = self._link(note, now)
                    attempt_id = notifications_repo.record_intent(
                        self.conn, note.id, now, index, method.method_kind.value, destination
                    )
                    # Marked before the intent commits, so the other lane never reads it as
                    # a send a killed process left behind.
                    self.in_flight.add(attempt_id)
            if attempt_id is not None:
                self._send(note, method, language, link, token, attempt_id)
        finally:
            if attempt_id is not None:
                self.in_flight.discard(attempt_id)

    def _send(
        self,
        note: Notification,
        method: ContactMethod,
        language: Language,
        link: str | None,
        token: str | None,
        attempt_id: int,
    ) -> None:
        """Make one claimed attempt and record its outcome."""
        index = note.method_index
        # The Telegram bot carries the token in its buttons, so its text carries no link.
        actions = None
        if token is not None and method.url.split("://", 1)[0].lower() == TELEGRAM_SCHEME:
            actions = AlertActions(token, language, self._has_phone(note.alert_id))
        message = render(
            self._facts(
                note.alert_id, None if actions else link, note.purpose == "renotify",
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
            _LOGGER.exception("channel raised for notification #%s", note.id)
            result = SendResult(False, f"{type(exc).__name__}: {exc}"[:300])
        done = self.clock.now()
        _LOGGER.info(
            "notification #%s to %s via %s: %s",
            note.id, note.person_id, method.method_kind.value,
            "sent" if result.ok else f"failed ({result.error})",
        )
        with self.service.tx():
            notifications_repo.record_outcome(
                self.conn, attempt_id, ok=result.ok, error=result.error, finished_at=done,
                duration_s=(done - started).total_seconds(),
            )
            if result.ok:
                self._sent(note, done)
                return
            attempts = note.attempts + 1
            delivery = self.config.delivery
            if attempts < delivery.attempts_per_method:
                backoff = delivery.backoff_s[min(attempts - 1, len(delivery.backoff_s) - 1)]
                notifications_repo.retry_later(
                    self.conn, note.id, attempts, done + timedelta(seconds=backoff), result.error
                )
                return
            # This method is used up: the person's next method at once.
            notifications_repo.next_method(self.conn, note.id, index + 1, done, result.error)
            self.service.audit(
                note.alert_id, SYSTEM, "method_failed", at=done, person=note.person_id,
                method=index, error=result.error,
            )

    def _sent(self, note: Notification, done: datetime) -> None:
        notifications_repo.mark_sent(self.conn, note.id, done)
        # Conditional in the database: the engine's two lanes may reach two people of one alert
        # at the same moment, and only the first moves it on and says so.
        if alerts_repo.mark_notified(self.conn, note.alert_id, done):
            self.service.audit(
                note.alert_id, SYSTEM, "notified", "raised", "notified", done,
                person=note.person_id,
            )

    def _facts(
        self, alert_id: int, link: str | None, repeat: bool, buttons: bool = False
    ) -> MessageFacts:
        view = self.service.peek(alert_id)
        contacts = self.config.home(view.home_id)
        home = kits_repo.home_label(self.conn, view.home_id)
        zone = home.timezone if home else self.config.district.timezone
        if view.kind == AREA_OUTAGE:
            resident, address = view.mahalla or "?", ""
        elif contacts is not None:
            resident, address = contacts.resident, contacts.address
        else:
            resident, address = (home.name if home and home.name else view.home_id), ""
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

    def _link(self, note: Notification, now: datetime) -> tuple[str | None, str | None]:
        """Issue an acknowledge link and its token (call inside the transaction that records
        the intent); (None, None) for a message with nothing to acknowledge."""
        if self.signer is None or note.purpose not in _ACKABLE:
            return None, None
        expires = now + timedelta(seconds=self.config.token_ttl_s)
        token, nonce = self.signer.issue(expires)
        notifications_repo.issue_token(
            self.conn, nonce=nonce, alert_id=note.alert_id, person_id=note.person_id,
            notification_id=note.id, issued_at=now, expires_at=expires,
        )
        return f"{self.public_base_url}/ack/{token}", token

    def _has_phone(self, alert_id: int) -> bool:
        alert = alerts_repo.alert_by_id(self.conn, alert_id)
        contacts = self.config.home(alert.home_id) if alert else None
        return bool(contacts and contacts.phone)

    def _give_up(self, note: Notification, now: datetime, reason: str) -> None:
        """Every method of this person failed: record it and escalate to the next step now."""
        with self.service.tx():
            if not notifications_repo.claim_attempt(self.conn, note, now):
                return  # another hub got to this reading of it first
            self._gave_up = True
            notifications_repo.mark_failed(self.conn, note.id, reason)
            self.service.audit(
                note.alert_id, SYSTEM, "delivery_failed", at=now, person=note.person_id,
                reason=reason,
            )
            if note.purpose in _ACKABLE:
                self.escalator.after_give_up(note.alert_id, now)

    def resolve_interrupted_sends(
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
        for send in notifications_repo.interrupted_sends(self.conn, notification_id):
            if not self.ownership.owns(send.home_id):
                continue  # another live hub's send, perhaps under way right now
            with self.service.tx():
                # Decided inside the transaction, against the rows as they are now: the list
                # was read before it, and the other lane of this engine may have been sending
                # one of them, and finished meanwhile.
                if send.attempt_id in self.in_flight or not notifications_repo.mark_attempt_unknown(
                    self.conn, send.attempt_id, _UNKNOWN_ERROR, now
                ):
                    continue
                notifications_repo.mark_unknown(
                    self.conn, send.notification_id, send.attempt_method, _UNKNOWN_ERROR
                )
                self.service.audit(
                    send.alert_id, SYSTEM, "delivery_outcome_unknown", at=now,
                    person=send.person_id, purpose=send.purpose, channel=send.channel,
                    destination=send.destination, attempted_at=send.started_at,
                    rule="not sent again on this channel; escalation continues on schedule",
                )
                _LOGGER.warning(
                    "notification #%s to %s via %s: the hub stopped during the send; outcome "
                    "unknown, not sent again", send.notification_id, send.person_id, send.channel,
                )
                if send.purpose in _ACKABLE:
                    self.escalator.after_unknown(send.alert_id, send.round, send.person_id, now)
