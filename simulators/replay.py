"""Replay a recorded home (CASAS format) through MQTT as one Mehr kit.

The file's sensor names are mapped to Mehr sensors (room and kind) by a mapping file or by the
inference in simulators.casas; every mapped line becomes one contract event with the line's time
(local time of the home's zone, sent as UTC), published in file order by a SimpleKit.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from mehr.contract import SensorKind
from simulators.casas import CasasEvent, SensorMapping, contract_value, infer_mapping, sensor_id
from simulators.simple_kit import SimpleKit

__all__ = ["ReplayEvent", "ReplayPlan", "plan_replay", "replay"]

_LOGGER = logging.getLogger(__name__)

_KINDS: dict[str, SensorKind] = {
    "motion": SensorKind.MOTION,
    "door": SensorKind.DOOR,
    "help_button": SensorKind.HELP_BUTTON,
    "fall": SensorKind.FALL,
    "temperature": SensorKind.TEMPERATURE,
    "battery": SensorKind.BATTERY,
}


@dataclass(frozen=True, slots=True)
class ReplayEvent:
    """One event to publish: when (UTC), which sensor, what."""

    ts: datetime
    sensor: str
    kind: SensorKind
    value: bool | str | float
    line: int


@dataclass
class ReplayPlan:
    """Everything a replay publishes, and what it had to leave out (counted by reason)."""

    events: list[ReplayEvent]
    sensors: dict[str, tuple[SensorKind, str]]  # Mehr sensor id -> (kind, room)
    skipped: Counter[str] = field(default_factory=Counter)


def plan_replay(
    lines: Iterable[CasasEvent], tz: ZoneInfo, mapping: SensorMapping | None = None
) -> ReplayPlan:
    """Map CASAS lines to contract events; unmapped or unfit lines are counted, not sent."""
    rows = list(lines)
    full = infer_mapping(rows, mapping)
    events: list[ReplayEvent] = []
    sensors: dict[str, tuple[SensorKind, str]] = {}
    skipped: Counter[str] = Counter()
    for row in rows:
        spec = full.get(row.sensor, row.value)
        if spec is None:
            skipped["unmapped_sensor"] += 1
            continue
        try:
            value = contract_value(spec.kind, row.value)
        except ValueError:
            skipped["value_not_for_kind"] += 1
            continue
        if spec.kind == "temperature" and not -40 <= float(value) <= 85:
            skipped["out_of_range"] += 1
            continue
        if spec.kind == "help_button" and value != "pressed":
            skipped["button_release"] += 1
            continue
        sid = spec.id or sensor_id(row.sensor)
        kind = _KINDS[spec.kind]
        sensors[sid] = (kind, spec.room)
        ts = row.local.replace(tzinfo=tz).astimezone(UTC)
        events.append(ReplayEvent(ts, sid, kind, value, row.line))
    if skipped:
        _LOGGER.info("replay leaves out %d lines: %s", sum(skipped.values()), dict(skipped))
    return ReplayPlan(events, sensors, skipped)


def replay(
    plan: ReplayPlan,
    kit: SimpleKit,
    speed: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Publish the plan's events in order; `speed` x real time (0: as fast as possible).

    `sleep` and `monotonic` are injected so tests pace without waiting.
    """
    if not plan.events:
        return 0
    first = plan.events[0].ts
    started = monotonic()
    for n, ev in enumerate(plan.events, start=1):
        if speed > 0:
            due = started + (ev.ts - first).total_seconds() / speed
            delay = due - monotonic()
            if delay > 0:
                sleep(delay)
        kit.event(ev.sensor, ev.kind, ev.value, ts=ev.ts)
        if progress is not None:
            progress(1)
        if n % 5000 == 0:
            kit.flush()  # keep paho's queue bounded on long files
    kit.flush()
    return len(plan.events)
