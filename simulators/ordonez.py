"""Read a home of the Ordóñez data set (UCI "Activities of Daily Living Recognition Using Binary
Sensors") in place: the one reader for `mehr simulate --compare` and `mehr eval inactivity`.

Each `*_Sensors.txt` line is an activation interval `start end location type place`, columns
separated by runs of tabs, local time. An interval becomes the project's two-edged events:
PIR -> motion true/false; the main door's contact -> door open/closed; any other contact
(fridge, cupboard, cabinet) or a Flush/Electric sensor -> appliance true/false; a Pressure mat
(seat, bed) -> occupancy true when someone sits or lies down, false when they get up.
`*_ADLs.txt` gives the labelled activities (Sleeping, Leaving, ...), the ground truth.
Like `simulators.casas`, a recorded-home format reader; the files are read where they are and
never copied.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from simulators.home import SimKind

__all__ = [
    "Activation",
    "OrdonezError",
    "OrdonezEvent",
    "OrdonezInterval",
    "RecordedHome",
    "kind_of",
    "ordonez_events",
    "read_activities",
    "read_casas_home",
    "read_intervals",
    "read_ordonez",
    "sensors_path",
]

_LOGGER = logging.getLogger(__name__)

EventKind = Literal["motion", "door", "appliance", "occupancy"]

_SEPARATOR: Final = re.compile(r"\t+")
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"


class OrdonezError(ValueError):
    """A file or line that is not in the Ordóñez format; the message names file and line."""


@dataclass(frozen=True, slots=True)
class OrdonezInterval:
    """One activation: a sensor (location + type) in a room was active from start to end."""

    start: datetime
    end: datetime
    location: str
    type: str
    place: str
    line: int


@dataclass(frozen=True, slots=True)
class OrdonezEvent:
    """One edge of an interval as a Mehr event (naive local time)."""

    local: datetime
    sensor: str  # "<location> <place>": B has three PIRs all called "Door"
    kind: EventKind
    value: bool
    room: str


@dataclass(frozen=True, slots=True)
class Activation:
    """One sensor active from `start` to `end` (seconds of local wall time, as if UTC)."""

    start: float
    end: float
    sensor: str
    kind: SimKind
    room: str


@dataclass(frozen=True)
class RecordedHome:
    """A recorded home's activations, oldest first, and where it came from."""

    name: str
    activations: tuple[Activation, ...]

    def sensors(self) -> dict[str, tuple[SimKind, str]]:
        """Each sensor's kind and room."""
        return {a.sensor: (a.kind, a.room) for a in self.activations}


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OrdonezError(f"{path}: cannot read: {exc}") from exc
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or number <= 2:  # two header lines: names and dashes
            continue
        yield number, [c.strip() for c in _SEPARATOR.split(line) if c.strip()]


def _time(text: str, path: Path, number: int) -> datetime:
    try:
        return datetime.strptime(text, _TIME_FORMAT)
    except ValueError:
        raise OrdonezError(f"{path}:{number}: bad time {text!r}") from None


def sensors_path(directory: Path, home: str) -> Path:
    """`Ordonez<home>_Sensors.txt` in `directory`, or a clear error if it is not there."""
    path = directory / f"Ordonez{home}_Sensors.txt"
    if not path.is_file():
        raise OrdonezError(f"{path}: no such file (expected OrdonezA_* or OrdonezB_* files)")
    return path


def read_intervals(path: Path) -> list[OrdonezInterval]:
    """Parse a `*_Sensors.txt` file; an interval that ends before it starts is an error."""
    out: list[OrdonezInterval] = []
    for number, cols in _rows(path):
        if len(cols) != 5:
            raise OrdonezError(f"{path}:{number}: expected 5 columns, got {len(cols)}: {cols}")
        start, end = _time(cols[0], path, number), _time(cols[1], path, number)
        if end < start:
            raise OrdonezError(f"{path}:{number}: ends before it starts")
        out.append(OrdonezInterval(start, end, cols[2], cols[3], cols[4], number))
    return out


def read_activities(path: Path) -> list[tuple[datetime, datetime, str]]:
    """Parse a `*_ADLs.txt` file: (start, end, activity label)."""
    out: list[tuple[datetime, datetime, str]] = []
    for number, cols in _rows(path):
        if len(cols) != 3:
            raise OrdonezError(f"{path}:{number}: expected 3 columns, got {len(cols)}: {cols}")
        out.append((_time(cols[0], path, number), _time(cols[1], path, number), cols[2]))
    return out


def kind_of(sensor_type: str, place: str) -> EventKind | None:
    """The Mehr kind of an Ordóñez sensor (None: a type this reader does not know)."""
    sensor_type = sensor_type.lower()
    if sensor_type == "pir":
        return "motion"
    if sensor_type == "pressure":
        return "occupancy"
    if sensor_type == "magnetic":
        # Only the main door is a way out; a fridge or cupboard opened is the resident busy.
        return "door" if place.lower() == "entrance" else "appliance"
    if sensor_type in {"flush", "electric"}:
        return "appliance"
    return None


def ordonez_events(intervals: list[OrdonezInterval]) -> list[OrdonezEvent]:
    """Both edges of every interval as Mehr events, in time order (starts before ends)."""
    edges: list[tuple[datetime, int, OrdonezEvent]] = []
    unknown = 0
    for iv in intervals:
        kind = kind_of(iv.type, iv.place)
        if kind is None:
            unknown += 1
            continue
        sensor = f"{iv.location} {iv.place}"
        edges.append((iv.start, 0, OrdonezEvent(iv.start, sensor, kind, True, iv.place)))
        edges.append((iv.end, 1, OrdonezEvent(iv.end, sensor, kind, False, iv.place)))
    if unknown:
        _LOGGER.info("left out %d intervals of unknown sensor types", unknown)
    edges.sort(key=lambda e: (e[0], e[1]))
    return [e[2] for e in edges]


def read_ordonez(directory: Path, home: str) -> RecordedHome:
    """Read home `A` or `B` as activations (what `mehr simulate --compare` needs)."""
    path = sensors_path(directory, home)
    out: list[Activation] = []
    for iv in read_intervals(path):
        kind = kind_of(iv.type, iv.place)
        if kind is None:
            raise OrdonezError(f"{path}:{iv.line}: unknown sensor type {iv.type!r}")
        start = iv.start.replace(tzinfo=UTC).timestamp()
        end = iv.end.replace(tzinfo=UTC).timestamp()
        out.append(Activation(start, end, f"{iv.location}-{iv.place}".lower(), kind, iv.place))
    out.sort(key=lambda a: a.start)
    return RecordedHome(f"Ordonez{home}", tuple(out))


def read_casas_home(path: Path) -> RecordedHome:
    """A CASAS file as activations: ON..OFF of a motion sensor, OPEN..CLOSE of a door.

    A sensor named like a mat (`mat`, `bed`, `chair`, `seat`) is read as occupancy, a flush or
    appliance name as an appliance; everything else with ON/OFF as motion.
    """
    from simulators.casas import read_casas

    opened: dict[str, tuple[float, SimKind, str]] = {}
    out: list[Activation] = []
    for ev in read_casas(path):
        t = ev.local.replace(tzinfo=UTC).timestamp()
        value = ev.value.upper()
        room = ev.location or ev.sensor
        name = ev.sensor.lower()
        if value in ("PRESENT", "ABSENT"):
            kind: SimKind = "occupancy"
            value = "ON" if value == "PRESENT" else "OFF"
        elif value in ("OPEN", "CLOSE"):
            kind = "door"
        elif value in ("ON", "OFF"):
            if any(w in name for w in ("mat", "bed", "chair", "seat")):
                kind = "occupancy"
            elif any(w in name for w in ("flush", "toilet", "kettle", "microwave", "fridge")):
                kind = "appliance"
            else:
                kind = "motion"
        else:
            continue  # batteries, temperatures, buttons: not signs of movement
        # A door contact and a PIR may share a name (CASAS `OutsideDoor`): keep them apart.
        key = f"{name}:{kind}"
        if value in ("ON", "OPEN"):
            if key not in opened:
                opened[key] = (t, kind, room)
        elif key in opened:
            start, kind, room = opened.pop(key)
            out.append(Activation(start, t, name, kind, room))
    out += [Activation(t, t, k.split(":")[0], kind, room) for k, (t, kind, room) in opened.items()]
    out.sort(key=lambda a: a.start)
    return RecordedHome(path.name, tuple(out))
