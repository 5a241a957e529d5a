"""Escalation: fire each alert's policy steps on time, re-notify, re-open an acknowledgement
that timed out, and fall back to the district supervisor when a round reaches nobody.

Each step is marked fired in the same transaction that creates its notifications, so a restart
neither loses nor repeats one. Delivery (hub/alerts/delivery.py) sends what this creates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from hub.alerts.config import AlertsConfig, FamilyPreference, Person, Policy, Target
from hub.alerts.lifecycle import SYSTEM, AlertService
from hub.alerts.severity import AREA_OUTAGE, severity_for
from hub.coordination import EVERY_HOME, Ownership
from hub.persistence import alerts as alerts_repo
from hub.persistence import escalations as escalations_repo
from hub.persistence import notifications as notifications_repo
from hub.persistence.connection import Connection
from hub.persistence.escalations import Escalation
from hub.persistence.notifications import Recipient

__all__ = ["FALLBACK_STEP", "Escalator"]

_LOGGER = logging.getLogger(__name__)
FALLBACK_STEP: Final = -1
_UNACKED: Final = ("raised", "notified")
_FAMILY_PREFERENCE: Final = {
    Target.FAMILY_FIRST: FamilyPreference.FIRST,
    Target.FAMILY_WITH_WORKER: FamilyPreference.WITH_WORKER,
    Target.FAMILY_INFORMED: FamilyPreference.INFORMED,
}


@dataclass(frozen=True, slots=True)
class _Recipient:
    person: Person
    target: Target


class Escalator:
    """The escalation timers of every adopted alert, on one connection."""

    def __init__(
        self,
        conn: Connection,
        config: AlertsConfig,
        service: AlertService,
        ownership: Ownership = EVERY_HOME,
        *,
        critical_only: bool = False,
    ) -> None:
        self.ownership = ownership
        self.critical_only = critical_only
        self.conn = conn
        self.config = config
        self.service = service

    def policy(self, severity: str) -> Policy:
        """The escalation policy of a stored severity."""
        return self.config.policies[severity_for("", severity)]

    def start_round(self, alert_id: int, round_no: int, now: datetime) -> None:
        """Begin a round of steps now (inside the caller's transaction)."""
        escalations_repo.start_round(self.conn, alert_id, round_no, now)

    # -- steps ----------------------------------------------------------------------------------

    def steps_due(self, now: datetime) -> None:
        """Fire every step due by `now` (a step that reaches nobody falls through at once)."""
        for _ in range(1000):  # bounded: each pass fires at least one step or returns
            due = [
                esc
                for esc in escalations_repo.steps_due(self.conn, now, self.critical_only)
                if self.ownership.owns(esc.home_id)
            ]
            if not due:
                return
            for esc in due:
                try:
                    self._fire_step(esc, now)
                except Exception:
                    _LOGGER.exception("escalation step of alert #%s failed", esc.alert_id)
                    with self.service.tx():  # do not spin on it; try again in a minute
                        escalations_repo.set_next_step_at(
                            self.conn, esc.alert_id, now + timedelta(seconds=60)
                        )

    def _fire_step(self, esc: Escalation, now: datetime) -> None:
        alert_id = esc.alert_id
        policy = self.policy(esc.severity)
        index = esc.next_step
        with self.service.tx():
            if not escalations_repo.claim(self.conn, esc):
                return  # fired meanwhile by another hub (a takeover race): never twice
            if esc.alert_state not in _UNACKED or index >= len(policy.steps):
                escalations_repo.set_next_step_at(self.conn, alert_id, None)
                return
            step = policy.steps[index]
            recipients, problems = self._recipients(esc, step.notify, now)
            already = notifications_repo.people_told(self.conn, alert_id, esc.round)
            created = []
            for rec in recipients:
                if rec.person.id in already:
                    continue
                already.add(rec.person.id)
                purpose = "info" if rec.target is Target.FAMILY_INFORMED else "alert"
                notifications_repo.add(
                    self.conn,
                    alert_id=alert_id,
                    round_no=esc.round,
                    purpose=purpose,
                    step=index,
                    recipient=Recipient(
                        rec.person.id, rec.target.value, rec.person.languages[0].value
                    ),
                    now=now,
                )
                created.append(rec.person.id)
            nxt = index + 1
            fall_through = not created
            next_at: datetime | None = None
            if nxt < len(policy.steps):
                assert esc.round_started_at is not None  # set when the round started
                due = esc.round_started_at + timedelta(seconds=policy.steps[nxt].after_s)
                next_at = now if fall_through else max(due, now)
            renotify_at = esc.renotify_at
            if renotify_at is None and policy.renotify_every_s and created:
                renotify_at = now + timedelta(seconds=policy.renotify_every_s)
            escalations_repo.record_step(self.conn, alert_id, nxt, next_at, renotify_at)
            self.service.audit(
                alert_id,
                SYSTEM,
                "escalation_step",
                at=now,
                round=esc.round,
                step=index,
                notify=created,
                problems=problems,
            )
            if next_at is None and not self.anyone_reachable(alert_id, esc.round):
                self.fallback(alert_id, esc.round, now, "no step reached anyone")

    def anyone_reachable(self, alert_id: int, round_no: int) -> bool:
        """True if someone alerted in this round was reached or may still be."""
        return notifications_repo.anyone_reachable(self.conn, alert_id, round_no)

    def fallback(self, alert_id: int, round_no: int, now: datetime, why: str) -> None:
        """Nobody could be reached in this round: tell the district supervisor (once a round)."""
        person = self.config.person(self.config.district.supervisor)
        if person is None:  # the config validator makes this impossible; stay defensive
            return
        created = notifications_repo.add(
            self.conn,
            alert_id=alert_id,
            round_no=round_no,
            purpose="alert",
            step=FALLBACK_STEP,
            recipient=Recipient(person.id, "fallback", person.languages[0].value),
            now=now,
        )
        if created:
            self.service.audit(alert_id, SYSTEM, "fallback", at=now, person=person.id, why=why)

    def _recipients(
        self, esc: Escalation, targets: list[Target], now: datetime
    ) -> tuple[list[_Recipient], list[str]]:
        """Who each target means for this alert now, and why a target reached nobody."""
        local = now.astimezone(ZoneInfo(self.config.district.timezone))
        out: list[_Recipient] = []
        problems: list[str] = []
        for target in targets:
            person_ids, why = self._people_for(target, esc, local)
            problems += why
            for pid in person_ids:
                person = self.config.person(pid)
                if person is None:
                    problems.append(f"{target.value}: unknown person {pid!r}")
                else:
                    out.append(_Recipient(person, target))
        return out, problems

    def _people_for(
        self, target: Target, esc: Escalation, local: datetime
    ) -> tuple[list[str], list[str]]:
        """The person ids one target means for this alert at local time, and any problem."""
        cfg = self.config
        mahalla = cfg.mahalla(esc.mahalla or "")
        if target is Target.ON_CALL:
            if mahalla is None:
                return [], [f"on_call: mahalla {esc.mahalla!r} has no rota"]
            on = [s.person for s in mahalla.rota if s.covers(local)]
            return on, ([] if on else [f"on_call: nobody on shift in {mahalla.name}"])
        if target is Target.DUTY_OFFICER:
            on = [s.person for s in cfg.district.duty_officers if s.covers(local)]
            return on, ([] if on else ["duty_officer: nobody on shift"])
        if target is Target.SUPERVISOR:
            return [(mahalla.supervisor if mahalla else None) or cfg.district.supervisor], []
        return self._family_for(target, esc)

    def _family_for(self, target: Target, esc: Escalation) -> tuple[list[str], list[str]]:
        """The home's family members who asked for this target's messages."""
        if esc.kind == AREA_OUTAGE:
            return [], []  # an area has no one family
        contacts = self.config.home(esc.home_id)
        if contacts is None:
            return [], [f"{target.value}: home {esc.home_id!r} has no contacts"]
        wanted = _FAMILY_PREFERENCE[target]
        return [f.person for f in contacts.family if f.preference is wanted], []

    # -- re-notification and acknowledgement deadlines ------------------------------------------

    def renotify_due(self, now: datetime) -> None:
        """Repeat the alert to everyone alerted in the round, every renotify_every_s."""
        for esc in escalations_repo.renotify_due(self.conn, now, self.critical_only):
            if not self.ownership.owns(esc.home_id):
                continue
            policy = self.policy(esc.severity)
            alert_id = esc.alert_id
            with self.service.tx():
                if not escalations_repo.claim(self.conn, esc):
                    continue
                if esc.alert_state not in _UNACKED or not policy.renotify_every_s:
                    escalations_repo.set_renotify(self.conn, alert_id, None)
                    continue
                count = esc.renotify_count + 1
                people = notifications_repo.recipients_alerted(self.conn, alert_id, esc.round)
                for person in people:
                    notifications_repo.add(
                        self.conn,
                        alert_id=alert_id,
                        round_no=esc.round,
                        purpose="renotify",
                        step=count,
                        recipient=person,
                        now=now,
                    )
                escalations_repo.set_renotify(
                    self.conn, alert_id, now + timedelta(seconds=policy.renotify_every_s), count
                )
                self.service.audit(
                    alert_id,
                    SYSTEM,
                    "renotify",
                    at=now,
                    n=count,
                    people=[p.person_id for p in people],
                )

    def ack_timeouts_due(self, now: datetime) -> None:
        """An acknowledgement without "arrived" in time re-opens the alert in a new round."""
        for esc in escalations_repo.acks_overdue(self.conn, now, self.critical_only):
            if not self.ownership.owns(esc.home_id):
                continue
            with self.service.tx():
                if not escalations_repo.claim(self.conn, esc):
                    continue
                if esc.alert_state != "acknowledged" or esc.progress == "arrived":
                    escalations_repo.stop_ack_deadline(self.conn, esc.alert_id)
                    continue
                alerts_repo.reopen_after_ack_timeout(self.conn, esc.alert_id, now)
                self.start_round(esc.alert_id, esc.round + 1, now)
                self.service.audit(
                    esc.alert_id,
                    SYSTEM,
                    "ack_timeout",
                    "acknowledged",
                    "notified",
                    now,
                    acknowledged_by=esc.acknowledged_by,
                    progress=esc.progress,
                )

    # -- when delivery could not reach someone --------------------------------------------------

    def after_give_up(self, alert_id: int, now: datetime) -> None:
        """Every method of a person failed: the next step now, or the fallback if none is left.

        Runs inside the caller's transaction.
        """
        esc = escalations_repo.by_alert(self.conn, alert_id)
        if esc is None or esc.alert_state not in _UNACKED or esc.done:
            return
        if esc.next_step_at is not None:
            escalations_repo.set_next_step_at(self.conn, alert_id, now)
        elif not self.anyone_reachable(alert_id, esc.round):
            self.fallback(alert_id, esc.round, now, "every notification failed")

    def after_unknown(self, alert_id: int, round_no: int, person_id: str, now: datetime) -> None:
        """No step left and nobody confirmed reached: the supervisor, as for failures."""
        esc = escalations_repo.by_alert(self.conn, alert_id)
        if esc is None or esc.done or esc.alert_state not in _UNACKED:
            return
        if esc.next_step_at is not None or self.anyone_reachable(alert_id, round_no):
            return
        if person_id == self.config.district.supervisor:
            return  # the fallback is this very person: telling them again is the repeat
        self.fallback(alert_id, round_no, now, "nobody confirmed reached")
