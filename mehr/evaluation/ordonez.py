"""Read a home of the Ordóñez "ADLs from binary sensors" data set in place, as Mehr events.

Each `*_Sensors.txt` line is an activation interval `start end location type place`, columns
separated by runs of tabs, local time. An interval becomes the project's two-edged events:
PIR -> motion true/false; the main door's contact -> door open/closed; any other contact
(fridge, cupboard, cabinet) or a Flush/Electric sensor -> appliance true/false; a Pressure mat
(seat, bed) -> occupancy true when someone sits or lies down, false when they get up.
`*_ADLs.txt` gives the labelled activities (Sleeping, Leaving, ...), the ground truth.
The files are read where they are; nothing is copied.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from detectors import Kind, Place
from mehr.evaluation.inactivity import HomeRecording, recording_from

__all__ = [
    "OrdonezError",
    "OrdonezEvent",
    "OrdonezInterval",
    "load_ordonez_home",
    "ordonez_events",
    "read_activities",
    "read_intervals",
]

_LOGGER = logging.getLogger(__name__)

EventKind = Literal["motion", "door", "appliance", "occupancy"]

_SEPARATOR: Final = re.compile(r"\t+")
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
_PLACES: Final = {
    "kitchen": Place.KITCHEN,
    "bathroom": Place.BATHROOM,
    "bedroom": Place.BEDROOM,
    "living": Place.LIVING,
    "entrance": Place.ENTRANCE,
}
_DETECTOR_KIND: Final = {
    ("motion", True): Kind.MOTION,
    ("door", True): Kind.DOOR,
    ("door", False): Kind.DOOR,
    ("appliance", True): Kind.APPLIANCE,
    ("occupancy", True): Kind.OCCUPIED,
    ("occupancy", False): Kind.VACATED,
}


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


def _kind(interval: OrdonezInterval) -> EventKind | None:
    sensor_type = interval.type.lower()
    if sensor_type == "pir":
        return "motion"
    if sensor_type == "pressure":
        return "occupancy"
    if sensor_type == "magnetic":
        # Only the main door is a way out; a fridge or cupboard opened is the resident busy.
        return "door" if interval.place.lower() == "entrance" else "appliance"
    if sensor_type in {"flush", "electric"}:
        return "appliance"
    return None


def ordonez_events(intervals: list[OrdonezInterval]) -> list[OrdonezEvent]:
    """Both edges of every interval as Mehr events, in time order (starts before ends)."""
    edges: list[tuple[datetime, int, OrdonezEvent]] = []
    unknown = 0
    for iv in intervals:
        kind = _kind(iv)
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


def load_ordonez_home(directory: Path, home: str) -> HomeRecording:
    """Read home `A` or `B` (`Ordonez<home>_Sensors.txt` in `directory`) as a recording.

    Times are local; they are kept as if UTC with a zero offset, which preserves the local
    time of day the routine is learned on. Signs of life are the starting edges (motion seen,
    appliance used, sitting or lying down), both door edges and getting up (occupancy false).
    """
    path = directory / f"Ordonez{home}_Sensors.txt"
    if not path.is_file():
        raise OrdonezError(f"{path}: no such file (expected OrdonezA_* or OrdonezB_* files)")
    times: list[float] = []
    places: list[int] = []
    kinds: list[int] = []
    rooms: list[str] = []
    for ev in ordonez_events(read_intervals(path)):
        kind = _DETECTOR_KIND.get((ev.kind, ev.value))
        if kind is None:
            continue  # motion reset, appliance off: not a sign of life
        times.append(ev.local.replace(tzinfo=UTC).timestamp())
        places.append(int(_PLACES.get(ev.room.lower(), Place.OTHER)))
        kinds.append(int(kind))
        rooms.append(ev.room)
    return recording_from(times, places, kinds, rooms, utc_offset_s=0.0)
