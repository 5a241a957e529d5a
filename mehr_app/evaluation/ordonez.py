"""Load an Ordóñez home (read by `simulators.ordonez`) as the evaluation's recording.

Signs of life are the starting edges (motion seen, appliance used, sitting or lying down),
both door edges and getting up (occupancy false); times are local, kept as if UTC with a zero
offset, which preserves the local time of day the routine is learned on.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Final

from detectors import Kind, Place
from mehr_app.evaluation.inactivity import HomeRecording, recording_from
from simulators.ordonez import (
    OrdonezError,
    OrdonezEvent,
    OrdonezInterval,
    ordonez_events,
    read_activities,
    read_intervals,
    sensors_path,
)

__all__ = [
    "OrdonezError",
    "OrdonezEvent",
    "OrdonezInterval",
    "load_ordonez_home",
    "ordonez_events",
    "read_activities",
    "read_intervals",
]

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


def load_ordonez_home(directory: Path, home: str) -> HomeRecording:
    """Read home `A` or `B` (`Ordonez<home>_Sensors.txt` in `directory`) as a recording."""
    times: list[float] = []
    places: list[int] = []
    kinds: list[int] = []
    rooms: list[str] = []
    for ev in ordonez_events(read_intervals(sensors_path(directory, home))):
        kind = _DETECTOR_KIND.get((ev.kind, ev.value))
        if kind is None:
            continue  # motion reset, appliance off: not a sign of life
        times.append(ev.local.replace(tzinfo=UTC).timestamp())
        places.append(int(_PLACES.get(ev.room.lower(), Place.OTHER)))
        kinds.append(int(kind))
        rooms.append(ev.room)
    return recording_from(times, places, kinds, rooms, utc_offset_s=0.0)
