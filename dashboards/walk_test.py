"""The installer's walk test on the phone: which sensors of a kit the hub has heard from since
test mode began, each with its room, and which are still silent.

The rule is `mehr kit check`'s (edge/walktest.py): a sensor counts once the hub has a signal
from it newer than the start; kinds nobody can make fire (a Zigbee battery) are not walked.
The dashboards may not import edge/, so the rule is restated here; the page has no baseline
snapshot as the CLI does, so the kit's time of the signal is moved onto the hub's clock with the
offset the hub measured from its heartbeats before it is compared with the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from dashboards.queries import KitView

__all__ = ["NOT_WALKED", "SensorTick", "WalkProgress", "walk_progress"]

# As edge/walktest.py NOT_WALKED: a battery reports on its own schedule.
NOT_WALKED: Final = frozenset({"battery"})


@dataclass(frozen=True, slots=True)
class SensorTick:
    """One sensor of the walk test."""

    sensor_id: str
    kind: str
    room: str
    place: str  # what the room is for (hub.registry.Place), for its name in the page's language
    available: bool
    last_signal: datetime | None  # on the hub's clock
    fired_at: datetime | None  # its newest signal, if that came after the start

    @property
    def fired(self) -> bool:
        """True once the hub has heard it since the walk test began."""
        return self.fired_at is not None


@dataclass(frozen=True, slots=True)
class WalkProgress:
    """The walk test of one kit: since when, and each sensor ticked or waiting."""

    started_at: datetime | None  # None: no test mode on, nothing is being walked
    sensors: list[SensorTick]

    @property
    def total(self) -> int:
        """Sensors to walk."""
        return len(self.sensors)

    @property
    def fired(self) -> int:
        """Sensors heard since the start."""
        return sum(s.fired for s in self.sensors)

    @property
    def silent(self) -> list[SensorTick]:
        """Sensors not heard yet (all of them while no walk test is on)."""
        return [s for s in self.sensors if not s.fired]

    @property
    def done(self) -> bool:
        """True when a walk test is on and every sensor fired."""
        return self.started_at is not None and self.fired == self.total

    def report(self, home_id: str, kit_id: str, finished: datetime) -> dict[str, Any]:
        """The commissioning report `mehr kit check` stores (edge/walktest.py WalkReport's
        to_dict form), so the handover sheet and `mehr kit report` read it the same way."""
        if self.started_at is None:
            raise ValueError("no walk test is on (test mode is off)")
        return {
            "home": home_id,
            "kit": kit_id,
            "started": self.started_at.isoformat(),
            "finished": finished.isoformat(),
            "passed": self.fired == self.total,
            "missing": [s.sensor_id for s in self.silent],
            "sensors": [
                {
                    "sensor": s.sensor_id,
                    "kind": s.kind,
                    "room": s.room,
                    # Its newest signal since the start: the page keeps no history of its own.
                    "first_signal": None if s.fired_at is None else s.fired_at.isoformat(),
                }
                for s in self.sensors
            ],
        }


def _on_hub_clock(kit_time: datetime | None, kit_ahead_s: float | None) -> datetime | None:
    if kit_time is None or kit_ahead_s is None:
        return kit_time
    return kit_time - timedelta(seconds=kit_ahead_s)


def walk_progress(
    kit: KitView, places: dict[str, str], started_at: datetime | None
) -> WalkProgress:
    """The kit's sensors ticked off against `started_at` (the test mode's start).

    `places` maps a sensor id to its place (the store's `sensor_places`, keyed by sensor).
    """
    ticks = []
    for sensor in kit.sensors:
        if sensor.kind in NOT_WALKED:
            continue
        last = _on_hub_clock(sensor.last_signal, kit.clock_offset_s)
        fired = last if started_at is not None and last is not None and last >= started_at else None
        ticks.append(
            SensorTick(
                sensor_id=sensor.sensor_id,
                kind=sensor.kind,
                room=sensor.room,
                place=places.get(sensor.sensor_id, "other"),
                available=sensor.available,
                last_signal=last,
                fired_at=fired,
            )
        )
    return WalkProgress(started_at, ticks)
