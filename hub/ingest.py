"""Ingest: validate a batch of raw MQTT messages, drop duplicates, store once, raise alerts.

No MQTT here: the broker client hands raw messages in and acknowledges them only after
`process_batch` has committed, so a crash at any point leaves the broker to redeliver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hub.rules import EventRules
from hub.stats import HubStats
from hub.store.base import AlertRecord, KitRecord, NewEvent, Store
from mehr.clock import Clock
from mehr.contract import (
    AccelWindow,
    Availability,
    ContractError,
    Event,
    Heartbeat,
    RejectReason,
    SensorKind,
    parse_message,
)

__all__ = ["IngestResult", "Ingestor", "Outcome", "RawMessage"]

_LOGGER = logging.getLogger(__name__)

# A kit that is not in the registry is looked up again at most this often, so a flood from an
# unknown client cannot turn into a flood of database reads.
_UNKNOWN_KIT_RELOAD_S = 5.0
_KIT_REFRESH_S = 60.0


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message as it came off the broker."""

    topic: str
    payload: bytes
    received_at: datetime


class Outcome(StrEnum):
    """What happened to one message."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    STATE = "state"  # heartbeat or availability: kit state updated, not an event


@dataclass(frozen=True, slots=True)
class IngestResult:
    """Per-message outcome of a batch, and the alerts it opened."""

    outcomes: list[tuple[Outcome, str | None]]
    new_alerts: list[AlertRecord]
    stored_event_ids: list[int]


class Ingestor:
    """Turns raw messages into stored events and alerts. Owns one Store; use from one thread."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        stats: HubStats,
        on_alert: Callable[[AlertRecord], None] | None = None,
        rules: EventRules | None = None,
    ) -> None:
        self.store = store
        self.rules = rules or EventRules()
        self.clock = clock
        self.stats = stats
        self.on_alert = on_alert
        self._kits: dict[str, tuple[KitRecord, datetime]] = {}
        self._missing_checked: dict[str, datetime] = {}

    def _kit(self, kit_id: str) -> KitRecord | None:
        now = self.clock.now()
        cached = self._kits.get(kit_id)
        # Re-read now and then, so a kit re-provisioned with other sensors is seen without
        # restarting the hub.
        if cached is not None and (now - cached[1]).total_seconds() < _KIT_REFRESH_S:
            return cached[0]
        checked = self._missing_checked.get(kit_id)
        if checked is not None and (now - checked).total_seconds() < _UNKNOWN_KIT_RELOAD_S:
            return None
        kit = self.store.kit(kit_id)
        if kit is None:
            if len(self._missing_checked) > 10_000:
                self._missing_checked.clear()
            self._missing_checked[kit_id] = now
            return None
        self._kits[kit_id] = (kit, now)
        return kit

    def forget_kit(self, kit_id: str) -> None:
        """Drop a cached kit so its registration is read again (after provisioning)."""
        self._kits.pop(kit_id, None)
        self._missing_checked.pop(kit_id, None)

    def _reject(self, raw: RawMessage, reason: RejectReason, detail: str) -> tuple[Outcome, str]:
        self.stats.reject(reason.value)
        _LOGGER.warning("rejected message on %s: %s: %s", raw.topic[:200], reason.value, detail)
        return Outcome.REJECTED, reason.value

    def process_batch(self, batch: Sequence[RawMessage]) -> IngestResult:
        """Validate, store and alert on a batch in one transaction, then commit it.

        On a storage error everything of the batch is rolled back and the error propagates,
        so the caller does not acknowledge and the broker keeps the messages.
        """
        outcomes: list[tuple[Outcome, str | None]] = []
        pending: list[tuple[int, NewEvent]] = []  # (index in batch, event)
        for index, raw in enumerate(batch):
            self.stats.incr("received")
            try:
                ref, message = parse_message(raw.topic, raw.payload)
            except ContractError as exc:
                outcomes.append(self._reject(raw, exc.reason, exc.detail))
                continue
            kit = self._kit(ref.kit_id)
            if kit is None:
                outcomes.append(
                    self._reject(
                        raw, RejectReason.UNKNOWN_KIT, f"kit {ref.kit_id!r} not registered"
                    )
                )
                continue
            if kit.home_id != ref.home_id:
                outcomes.append(
                    self._reject(
                        raw,
                        RejectReason.HOME_MISMATCH,
                        f"kit {kit.id!r} belongs to {kit.home_id!r}, not {ref.home_id!r}",
                    )
                )
                continue
            if isinstance(message, Heartbeat):
                body = message.model_dump(mode="json", exclude_none=True)
                self.store.set_heartbeat(kit.id, message.ts, body)
                self.stats.incr("heartbeats")
                outcomes.append((Outcome.STATE, None))
                continue
            if isinstance(message, Availability):
                self.store.set_availability(kit.id, message.state.value, raw.received_at)
                self.stats.incr("availability")
                outcomes.append((Outcome.STATE, None))
                continue
            if not isinstance(message, AccelWindow | Event):  # commands are not for the hub
                outcomes.append(
                    self._reject(raw, RejectReason.TOPIC, "the hub does not accept this topic")
                )
                continue
            pending.append((index, self._to_new_event(kit, ref.home_id, message, raw)))
            outcomes.append((Outcome.STORED, None))  # corrected below for duplicates

        new_alerts: list[AlertRecord] = []
        stored_ids: list[int] = []
        try:
            ids = self.store.store_events([ev for _, ev in pending], self.clock.now())
            for (index, event), event_id in zip(pending, ids, strict=True):
                if event_id is None:
                    outcomes[index] = (Outcome.DUPLICATE, None)
                    continue
                stored_ids.append(event_id)
                alert = self.rules.alert_for(event, event_id)
                if alert is not None:
                    record, is_new = self.store.raise_alert(alert)
                    if is_new:
                        new_alerts.append(record)
            self.store.commit()
        except Exception:
            self.store.rollback()
            raise
        committed = self.clock.now()
        self.stats.observe_latency(
            [
                (committed - event.occurred_at).total_seconds()
                for (_, event), event_id in zip(pending, ids, strict=True)
                if event_id is not None
            ]
        )
        duplicates = len(pending) - len(stored_ids)
        self.stats.incr("stored", len(stored_ids))
        self.stats.incr("duplicates", duplicates)
        for record in new_alerts:
            self.stats.incr("alerts_raised")
            _LOGGER.warning(
                "ALERT %s (%s) in home %s, alert #%s",
                record.kind,
                record.severity,
                record.home_id,
                record.id,
            )
            if self.on_alert is not None:
                self.on_alert(record)
        return IngestResult(outcomes, new_alerts, stored_ids)

    def _to_new_event(
        self, kit: KitRecord, home_id: str, message: AccelWindow | Event, raw: RawMessage
    ) -> NewEvent:
        sensor = kit.sensors.get(message.sensor)
        if sensor is None and message.kind is not SensorKind.OK_BUTTON:
            # Stored anyway: a help press from a sensor the registry forgot must still alert.
            self.stats.warn("unregistered_sensor")
            _LOGGER.warning("kit %s sent from unregistered sensor %r", kit.id, message.sensor)
        room = sensor[1] if sensor else None
        if isinstance(message, AccelWindow):
            value: object = {
                "rate_hz": message.rate_hz,
                "start": message.start.isoformat(),
                "trigger_index": message.trigger_index,
                "samples": message.samples,
            }
        else:
            value = message.value
        return NewEvent(
            home_id=home_id,
            kit_id=kit.id,
            epoch=message.epoch,
            seq=message.seq,
            sensor_id=message.sensor,
            kind=message.kind.value,
            value=value,
            room=room,
            occurred_at=message.ts,
            received_at=raw.received_at,
        )
