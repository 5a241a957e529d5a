"""Ingest: validate a batch of raw MQTT messages, drop duplicates, store once, raise alerts.

No MQTT here: the broker client hands raw messages in and acknowledges them only after
`process_batch` has committed, so a crash at any point leaves the broker to redeliver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from hub.heartbeat_thinning import HeartbeatThinning
from hub.kit_cache import KitCache
from hub.reject_log import RejectLog
from hub.rules import EventRules
from hub.stats import HubStats
from hub.store.base import AlertRecord, KitRecord, NewEvent, Store, is_transient
from mehr.clock import Clock
from mehr.contract import (
    URGENT_EVENT_KINDS,
    AccelWindow,
    Availability,
    ContractError,
    Event,
    Heartbeat,
    RejectReason,
    SensorKind,
    TopicKind,
    parse_message,
)

__all__ = ["IngestResult", "Ingestor", "Outcome", "RawMessage", "TimeLimits"]

_LOGGER = logging.getLogger(__name__)

# Tracebacks of internal errors and store refusals logged per reason before only counting them.
_TRACES_LOGGED = 10


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


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """How far a kit's timestamps may stray from the hub's clock before a message is refused."""

    # A kit clock more than this ahead would put events in the future, where they would look
    # like the newest activity for as long as the skew lasts.
    max_ahead_s: float = 300.0
    # Older than any kit outbox could have held an event: a reset clock, not a late delivery.
    max_age_s: float = 30 * 86400.0


class _Refused(Exception):
    """A valid message the hub still refuses (registry or clock); carries the kit to count."""

    def __init__(self, reason: RejectReason, detail: str, kit_id: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.kit_id = kit_id


@dataclass(slots=True)
class _Write:
    """One accepted message's write, kept apart so a failing one can be isolated."""

    index: int
    raw: RawMessage
    kit_id: str
    event: NewEvent | None = None
    heartbeat: Heartbeat | None = None
    heartbeat_thinned: bool = False  # a heartbeat with nothing new: acknowledged, not written
    availability: Availability | None = None
    # A help, OK or fall event that came on `events`, where the urgent lane reads it only with
    # urgent_lane_reads_events: counted when stored (once, not per copy), for the operator.
    urgent_on_events: bool = False


@dataclass(slots=True)
class _Written:
    """What one committed sub-batch produced."""

    new_alerts: list[AlertRecord] = field(default_factory=list)
    stored_ids: list[int] = field(default_factory=list)
    stored_events: list[NewEvent] = field(default_factory=list)


class Ingestor:
    """Turns raw messages into stored events and alerts. Owns one Store; use from one thread."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        stats: HubStats,
        on_alert: Callable[[AlertRecord], None] | None = None,
        rules: EventRules | None = None,
        time_limits: TimeLimits | None = None,
        reject_log: RejectLog | None = None,
        heartbeat_every_s: float = 0.0,
    ) -> None:
        self.store = store
        self.rules = rules or EventRules()
        self.clock = clock
        self.stats = stats
        self.on_alert = on_alert
        self.time_limits = time_limits or TimeLimits()
        self.reject_log = reject_log or RejectLog(clock)
        # 0: every heartbeat written (tests and tools); the hub passes heartbeat_store_every_s.
        self.heartbeats = HeartbeatThinning(heartbeat_every_s)
        self.kits = KitCache(store, clock)

    def warm_kits(self) -> int:
        """Read every registered kit at once, before the first message; return how many."""
        return self.kits.warm()

    def _reject(
        self, raw: RawMessage, reason: RejectReason, detail: str, kit_id: str | None = None
    ) -> tuple[Outcome, str]:
        self.stats.reject(reason.value, kit_id)
        self.reject_log.record(reason.value, raw.topic, detail)
        return Outcome.REJECTED, reason.value

    def process_batch(self, batch: Sequence[RawMessage]) -> IngestResult:
        """Validate, store and alert on a batch, committing it in as few transactions as it can.

        Every message gets an outcome: one that cannot be parsed, validated or stored is
        rejected with a counted reason and never holds up the others. A store error that says
        nothing about the data (database locked, disk full) rolls the batch back and propagates,
        so the caller does not acknowledge and retries; any other store error splits the batch
        in halves until the message that causes it is found and rejected.
        """
        self.kits.follow_registry()
        self.heartbeats.begin_batch()
        outcomes: list[tuple[Outcome, str | None]] = [(Outcome.REJECTED, None)] * len(batch)
        writes: list[_Write] = []
        for index, raw in enumerate(batch):
            self.stats.incr("received")
            try:
                write = self._check(index, raw)
            except ContractError as exc:
                outcomes[index] = self._reject(raw, exc.reason, exc.detail)
                continue
            except _Refused as exc:
                outcomes[index] = self._reject(raw, exc.reason, exc.detail, exc.kit_id)
                continue
            except Exception as exc:
                if is_transient(exc):
                    raise
                # A bug or a case nobody foresaw: this one message is refused, the rest go on.
                # The trace is logged for the first few only (a bug may meet every message).
                if self.stats.rejected(RejectReason.INTERNAL.value) < _TRACES_LOGGED:
                    _LOGGER.exception("checking a message on %r failed", raw.topic[:200])
                outcomes[index] = self._reject(raw, RejectReason.INTERNAL, type(exc).__name__)
                continue
            writes.append(write)
            outcomes[index] = (
                (Outcome.STORED, None) if write.event is not None else (Outcome.STATE, None)
            )
        written = self._write(writes, outcomes)
        self.reject_log.flush()
        return IngestResult(outcomes, written.new_alerts, written.stored_ids)

    def _check(self, index: int, raw: RawMessage) -> _Write:
        """Parse and validate one message against the contract, the registry and the clock."""
        ref, message = parse_message(raw.topic, raw.payload)
        kit = self.kits.kit(ref.kit_id)
        if kit is None:
            raise _Refused(RejectReason.UNKNOWN_KIT, f"kit {ref.kit_id!r} not registered")
        if kit.home_id != ref.home_id or (
            isinstance(message, AccelWindow | Event) and message.sensor not in kit.sensors
        ):
            # The cache may predate a re-provisioning: believe the message only after a read.
            reread = self.kits.kit(ref.kit_id, fresh=True)
            if reread is None:
                raise _Refused(RejectReason.UNKNOWN_KIT, f"kit {ref.kit_id!r} not registered")
            kit = reread
        if kit.home_id != ref.home_id:
            raise _Refused(
                RejectReason.HOME_MISMATCH,
                f"kit {kit.id!r} belongs to {kit.home_id!r}, not {ref.home_id!r}",
                kit.id,
            )
        if isinstance(message, Availability):
            return _Write(index, raw, kit.id, availability=message)
        if not isinstance(message, AccelWindow | Event | Heartbeat):  # commands: not for the hub
            raise _Refused(RejectReason.TOPIC, "the hub does not accept this topic", kit.id)
        stray = self._clock_stray(message.ts)
        if stray is not None:
            reason, detail = stray
            raise _Refused(reason, f"kit {kit.id!r}: {detail}", kit.id)
        if isinstance(message, Heartbeat):
            # A kit walk-tested: every beat, so the installer's page ticks each sensor off
            # within a beat (a sensor that stays triggered sends no new event).
            walked = self.kits.walk_tested(kit.home_id)
            if not self.heartbeats.decide(kit.id, message, _offset_s(message, raw), walked):
                return _Write(index, raw, kit.id, heartbeat_thinned=True)  # acknowledged only
            return _Write(index, raw, kit.id, heartbeat=message)
        return _Write(
            index,
            raw,
            kit.id,
            event=self._to_new_event(kit, ref.home_id, message, raw),
            urgent_on_events=ref.kind is TopicKind.EVENTS and message.kind in URGENT_EVENT_KINDS,
        )

    def _clock_stray(self, ts: datetime) -> tuple[RejectReason, str] | None:
        """Say why a kit's timestamp is too far from the hub's clock, or None if it is fine."""
        now = self.clock.now()
        ahead = (ts - now).total_seconds()
        if ahead > self.time_limits.max_ahead_s:
            return RejectReason.CLOCK_AHEAD, (
                f"ts {ts.isoformat()} is {ahead:.0f} s ahead of the hub "
                f"(limit {self.time_limits.max_ahead_s:.0f} s)"
            )
        if -ahead > self.time_limits.max_age_s:
            return RejectReason.TOO_OLD, (
                f"ts {ts.isoformat()} is {-ahead:.0f} s old "
                f"(limit {self.time_limits.max_age_s:.0f} s)"
            )
        return None

    def _write(self, writes: list[_Write], outcomes: list[tuple[Outcome, str | None]]) -> _Written:
        """Write in one transaction; on a data error, bisect until the bad message is alone."""
        if not writes:
            return _Written()
        try:
            written = self._write_once(writes, outcomes)
            self.store.commit()
        except Exception as exc:
            self.store.rollback()
            if is_transient(exc):
                raise
            if len(writes) == 1:
                (bad,) = writes
                if self.stats.rejected(RejectReason.STORE_FAILED.value) < _TRACES_LOGGED:
                    _LOGGER.exception("the store refused the message on %r", bad.raw.topic[:200])
                outcomes[bad.index] = self._reject(
                    bad.raw, RejectReason.STORE_FAILED, f"{type(exc).__name__}: {exc}", bad.kit_id
                )
                return _Written()
            self.stats.incr("batch_splits")
            middle = len(writes) // 2
            first = self._write(writes[:middle], outcomes)
            second = self._write(writes[middle:], outcomes)
            return _Written(
                first.new_alerts + second.new_alerts,
                first.stored_ids + second.stored_ids,
                first.stored_events + second.stored_events,
            )
        self._after_commit(writes, written)
        return written

    def _write_once(
        self, writes: list[_Write], outcomes: list[tuple[Outcome, str | None]]
    ) -> _Written:
        written = _Written()
        # Kit rows are updated in one order on every hub (by kit; stable, so one kit's
        # messages keep theirs): several hubs write every heartbeat (replicated ingest), and
        # two transactions updating two kits in opposite orders deadlock on PostgreSQL.
        for write in sorted(writes, key=lambda w: w.kit_id):
            if write.heartbeat is not None:
                self._write_heartbeat(write.kit_id, write.heartbeat, write.raw)
            elif write.availability is not None:
                self.store.set_availability(
                    write.kit_id, write.availability.state.value, write.raw.received_at
                )
        events = [(w, w.event) for w in writes if w.event is not None]
        # No events (heartbeats acknowledged without a write): no transaction opened for them.
        ids = self.store.store_events([e for _, e in events], self.clock.now()) if events else []
        for (write, event), event_id in zip(events, ids, strict=True):
            if event_id is None:
                outcomes[write.index] = (Outcome.DUPLICATE, None)
                continue
            outcomes[write.index] = (Outcome.STORED, None)
            if write.urgent_on_events:
                self.stats.incr("urgent_on_events")
            written.stored_ids.append(event_id)
            written.stored_events.append(event)
            alert = self.rules.alert_for(event, event_id)
            if alert is not None:
                record, is_new = self.store.raise_alert(alert)
                if is_new:
                    written.new_alerts.append(record)
        return written

    def _write_heartbeat(self, kit_id: str, message: Heartbeat, raw: RawMessage) -> None:
        body = message.model_dump(mode="json", exclude_none=True)
        # The kit's clock against the hub's, as seen on arrival (delivery delay included): an
        # installer sees a kit whose clock drifts before its events start being refused.
        body["hub_offset_s"] = round(_offset_s(message, raw), 3)
        self.store.set_heartbeat(kit_id, message.ts, body)

    def _after_commit(self, writes: list[_Write], written: _Written) -> None:
        committed = self.clock.now()
        self.stats.observe_latency(
            [(committed - event.occurred_at).total_seconds() for event in written.stored_events]
        )
        events = sum(1 for w in writes if w.event is not None)
        for write in writes:
            if write.heartbeat is not None:
                self.heartbeats.committed(write.kit_id)
        self.stats.incr("heartbeats", sum(1 for w in writes if w.heartbeat is not None))
        self.stats.incr("heartbeats_not_written", sum(1 for w in writes if w.heartbeat_thinned))
        self.stats.incr("availability", sum(1 for w in writes if w.availability is not None))
        self.stats.incr("stored", len(written.stored_ids))
        self.stats.incr("duplicates", events - len(written.stored_ids))
        for record in written.new_alerts:
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

    def _to_new_event(
        self, kit: KitRecord, home_id: str, message: AccelWindow | Event, raw: RawMessage
    ) -> NewEvent:
        sensor = kit.sensors.get(message.sensor)
        if sensor is None and message.kind is not SensorKind.OK_BUTTON:
            # Stored anyway: a help press from a sensor the registry forgot must still alert.
            self.stats.warn("unregistered_sensor")
            self.reject_log.record(
                "unregistered_sensor (stored)", raw.topic, f"sensor {message.sensor!r}"
            )
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


def _offset_s(beat: Heartbeat, raw: RawMessage) -> float:
    """The kit's clock against the hub's as a heartbeat shows it on arrival."""
    return (beat.ts - raw.received_at).total_seconds()
