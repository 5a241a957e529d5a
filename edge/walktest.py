"""The installer's walk test: which sensors has the hub seen fire since the check started.

Pure bookkeeping (observations in, a pass/fail commissioning report out); the CLI feeds it from
the hub's store, so this module stays free of the hub.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["HOW_TO_TRIGGER", "NOT_WALKED", "SensorResult", "WalkReport", "WalkTest"]

# What the installer does to make each kind of sensor fire (printed for the ones still missing).
HOW_TO_TRIGGER: dict[str, str] = {
    "motion": "walk in front of it",
    "door": "open and close the door",
    "help_button": "press the button",
    "fall": "trigger the fall sensor's test mode",
    "occupancy": "sit (or lie) on the mat, then get up",
    "appliance": "switch the appliance on (or flush the toilet)",
    "accelerometer": "tap the sensor firmly",
    "temperature": "hold the sensor in your hand for a minute (it reports on a change)",
}
# Kinds an installer cannot make fire: a Zigbee device's battery reports on its own schedule.
NOT_WALKED = frozenset({"battery"})


@dataclass(slots=True)
class SensorResult:
    """One sensor's line of the report."""

    sensor: str
    kind: str
    room: str
    first_signal: datetime | None = None


@dataclass(slots=True)
class WalkReport:
    """The commissioning report of one kit."""

    home_id: str
    kit_id: str
    started: datetime
    finished: datetime
    sensors: list[SensorResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every sensor fired."""
        return all(s.first_signal is not None for s in self.sensors)

    @property
    def missing(self) -> list[str]:
        """Ids of the sensors that never fired."""
        return [s.sensor for s in self.sensors if s.first_signal is None]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (what is stored)."""
        return {
            "home": self.home_id,
            "kit": self.kit_id,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "passed": self.passed,
            "missing": self.missing,
            "sensors": [
                {
                    "sensor": s.sensor,
                    "kind": s.kind,
                    "room": s.room,
                    "first_signal": s.first_signal.isoformat() if s.first_signal else None,
                }
                for s in self.sensors
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WalkReport:
        """Read a stored report back."""
        return cls(
            home_id=data["home"],
            kit_id=data["kit"],
            started=datetime.fromisoformat(data["started"]),
            finished=datetime.fromisoformat(data["finished"]),
            sensors=[
                SensorResult(
                    s["sensor"],
                    s["kind"],
                    s["room"],
                    datetime.fromisoformat(s["first_signal"]) if s["first_signal"] else None,
                )
                for s in data["sensors"]
            ],
        )

    def to_json(self) -> str:
        """The stored form as text."""
        return json.dumps(self.to_dict(), indent=2)

    def render(self) -> str:
        """A printable report for the installer and the handover sheet."""
        width = max([len(s.sensor) for s in self.sensors] + [6])
        room_w = max([len(s.room) for s in self.sensors] + [4])
        lines = [
            f"Commissioning report: home {self.home_id}, kit {self.kit_id}",
            f"started {self.started:%Y-%m-%d %H:%M:%S} UTC, "
            f"finished {self.finished:%Y-%m-%d %H:%M:%S} UTC",
            "",
            f"{'sensor':<{width}}  {'room':<{room_w}}  {'kind':<13}  first signal (UTC)",
        ]
        for s in self.sensors:
            seen = f"{s.first_signal:%H:%M:%S}" if s.first_signal else "NEVER"
            lines.append(f"{s.sensor:<{width}}  {s.room:<{room_w}}  {s.kind:<13}  {seen}")
        lines.append("")
        if self.passed:
            lines.append(f"PASS: all {len(self.sensors)} sensors fired")
        else:
            lines.append(f"FAIL: never fired: {', '.join(self.missing)}")
            for s in self.sensors:
                if s.first_signal is None and s.kind in HOW_TO_TRIGGER:
                    lines.append(f"  {s.sensor}: {HOW_TO_TRIGGER[s.kind]}")
        return "\n".join(lines)


class WalkTest:
    """Tracks the first signal of each expected sensor after `started`."""

    def __init__(
        self, home_id: str, kit_id: str, sensors: dict[str, tuple[str, str]], started: datetime
    ) -> None:
        self.home_id = home_id
        self.kit_id = kit_id
        self.started = started
        self._results = {
            sid: SensorResult(sid, kind, room)
            for sid, (kind, room) in sorted(sensors.items())
            if kind not in NOT_WALKED
        }

    def observe(self, sensor_id: str, at: datetime) -> bool:
        """Record a signal; True if it is this sensor's first since the start."""
        result = self._results.get(sensor_id)
        if result is None or result.first_signal is not None:
            return False
        result.first_signal = at
        return True

    @property
    def done(self) -> bool:
        """True when every sensor has fired."""
        return all(r.first_signal is not None for r in self._results.values())

    @property
    def fired(self) -> int:
        """How many sensors have fired."""
        return sum(r.first_signal is not None for r in self._results.values())

    @property
    def total(self) -> int:
        """How many sensors are expected."""
        return len(self._results)

    def report(self, finished: datetime) -> WalkReport:
        """The report as of `finished`."""
        return WalkReport(
            self.home_id, self.kit_id, self.started, finished, list(self._results.values())
        )
