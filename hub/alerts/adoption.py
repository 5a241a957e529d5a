"""Adoption: take each newly raised alert into the engine, and ask the resident first.

An alert without an escalation row is adopted once: routed (mahalla, severity), audited, then
ended as a test (an installer's test mode covers it), suppressed (a home mode), held (an
inactivity alert while a kit of the home is offline), put to the resident ("are you fine?")
or escalated at once. Scanning for unadopted rows means none is lost across a crash.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from hub.alerts.config import AlertsConfig
from hub.alerts.escalation import Escalator
from hub.alerts.lifecycle import SYSTEM, AlertService, AlertState
from hub.alerts.severity import INACTIVITY_KINDS, KIT_OFFLINE, severity_for
from hub.alerts.testmode import TestModes
from hub.coordination import EVERY_HOME, Ownership
from hub.persistence import alerts as alerts_repo
from hub.persistence import escalations as escalations_repo
from hub.persistence import events as events_repo
from hub.persistence import kits as kits_repo
from hub.persistence.alerts import AlertToAdopt
from hub.persistence.connection import Connection
from mehr.contract import PROTOCOL_VERSION, Command, CommandAction, TopicKind, encode, topic_for

__all__ = ["Adopter", "Publish"]

_LOGGER = logging.getLogger(__name__)

Publish = Callable[[str, bytes], None]


class Adopter:
    """Adopts new alerts and runs the "ask the resident first" window."""

    def __init__(
        self,
        conn: Connection,
        config: AlertsConfig,
        service: AlertService,
        test_modes: TestModes,
        escalator: Escalator,
        publish: Publish | None,
        ownership: Ownership = EVERY_HOME,
        *,
        critical_only: bool = False,
    ) -> None:
        self.ownership = ownership
        self.critical_only = critical_only
        self.conn = conn
        self.config = config
        self.service = service
        self.test_modes = test_modes
        self.escalator = escalator
        self.publish = publish

    def adopt_new(self, now: datetime) -> int:
        """Adopt every raised alert without an escalation row (each in its own transaction);
        return how many were looked at (0: none was waiting)."""
        # Those of homes another hub holds are left to it.
        owns = self.ownership.owns
        waiting = [
            a
            for a in alerts_repo.to_adopt(self.conn, self.critical_only)
            if owns(a.alert.home_id)
        ]
        for item in waiting:
            try:
                self._adopt(item, now)
            except Exception:
                _LOGGER.exception("adopting alert #%s failed; will retry", item.alert.id)
        return len(waiting)

    def _adopt(self, item: AlertToAdopt, now: datetime) -> None:
        alert = item.alert
        alert_id, kind, home_id = alert.id, alert.kind, alert.home_id
        severity = severity_for(kind, alert.severity)
        svc = self.service
        publish_ask = False
        with svc.tx():
            if not escalations_repo.start(self.conn, alert_id, severity.value):
                return  # adopted meanwhile by the hub that held the home before us
            alerts_repo.set_routing(self.conn, alert_id, item.mahalla, severity.value)
            svc.audit(alert_id, SYSTEM, "raised", None, "raised", now, kind=kind)
            if self._is_test(item):
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
            if kind in INACTIVITY_KINDS and kits_repo.home_has_offline_kit(self.conn, home_id):
                escalations_repo.hold_for_offline_kit(self.conn, alert_id)
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
                escalations_repo.start_asking(self.conn, alert_id, now, until)
                svc.audit(alert_id, SYSTEM, "ask_resident", until=until.isoformat())
                publish_ask = True
            else:
                self.escalator.start_round(alert_id, 0, now)
        if publish_ask:
            self._command(home_id, CommandAction.ASK_OK, now)

    def _is_test(self, item: AlertToAdopt) -> bool:
        """End the alert as a test if an installer's test mode covers it (docs/alerts.md).

        Decided by when the alert was raised, not when it is adopted: a press after the test
        mode ended pages even if the engine gets to it late. Runs inside _adopt's transaction.
        """
        alert = item.alert
        source_kit = item.source_kit
        if source_kit is None and alert.kind == KIT_OFFLINE:
            source_kit = alert.detail.get("kit")
        period = self.test_modes.covering(alert.home_id, source_kit, alert.raised_at)
        if period is None:
            return False
        alerts_repo.mark_test(self.conn, alert.id, period.id)
        self.service.close_without_alerting(
            alert.id,
            SYSTEM,
            AlertState.TEST,
            f"test mode of {period.scope} until {period.ends_at.isoformat()} "
            f"(set by {period.set_by}): shown to the installer, delivered to nobody",
        )
        _LOGGER.info(
            "alert #%s (%s) in home %s is a test: %s is in test mode",
            alert.id, alert.kind, alert.home_id, period.scope,
        )
        return True

    # -- ask the resident first -----------------------------------------------------------------

    def asks_due(self, now: datetime) -> None:
        """An answer cancels the alert; a window run out starts the escalation."""
        for esc in escalations_repo.asking(self.conn):
            if not self.ownership.owns(esc.home_id):
                continue
            # The contract has no "I'm OK" event yet; until it does, an `ok_button` event (or
            # AlertService.resident_ok) is the answer. See docs/alerts.md.
            assert esc.ask_started_at is not None and esc.ask_until is not None  # set together
            if events_repo.resident_answered(self.conn, esc.home_id, esc.ask_started_at):
                self.service.resident_ok(esc.home_id)
                continue
            if esc.ask_until <= now:
                with self.service.tx():
                    claimed = escalations_repo.claim(self.conn, esc)
                    if claimed:
                        self.escalator.start_round(esc.alert_id, 0, now)
                        self.service.audit(
                            esc.alert_id, SYSTEM, "resident_no_answer", at=now,
                            window_s=self.config.ask_first.window_s,
                        )
                if claimed:
                    self._command(esc.home_id, CommandAction.CANCEL_ASK, now)

    def _command(self, home_id: str, action: CommandAction, now: datetime) -> None:
        if self.publish is None:
            return
        params: dict[str, str | int | float | bool] = {}
        if action is CommandAction.ASK_OK:
            params["timeout_s"] = int(self.config.ask_first.window_s)
        for kit_id in kits_repo.kit_ids_of_home(self.conn, home_id):
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
