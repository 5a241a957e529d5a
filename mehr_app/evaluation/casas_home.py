"""Turn a CASAS event file into a home recording for the routine evaluation."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from detectors import Kind, Place
from hub.places import guess_place
from mehr.contract import SensorKind
from mehr_app.evaluation.inactivity import HomeRecording, recording_from
from simulators.casas import SensorMapping, infer_mapping, load_mapping, read_casas

__all__ = ["load_casas_home"]

_PLACES = {
    "kitchen": Place.KITCHEN,
    "bathroom": Place.BATHROOM,
    "bedroom": Place.BEDROOM,
    "living": Place.LIVING,
    "entrance": Place.ENTRANCE,
    "other": Place.OTHER,
}


def load_casas_home(path: Path, mapping_file: Path | None = None) -> HomeRecording:
    """Read a CASAS file's signs of life (motion ON, door OPEN/CLOSE, button presses, a seat or
    bed mat PRESENT/ABSENT, an appliance ON).

    CASAS times are local; they are kept as if UTC with a zero offset, which preserves the
    local time of day the routine is learned on (daylight-saving jumps are not modelled).
    """
    events = list(read_casas(path))
    base: SensorMapping | None = load_mapping(mapping_file) if mapping_file else None
    mapping = infer_mapping(events, base)
    times: list[float] = []
    places: list[int] = []
    kinds: list[int] = []
    rooms: list[str] = []
    for ev in events:
        sensor = mapping.get(ev.sensor, ev.value)
        if sensor is None:
            continue
        value = ev.value.upper()
        if sensor.kind == "motion" and value == "ON":
            kind = Kind.MOTION
        elif sensor.kind == "door" and value in {"OPEN", "CLOSE", "CLOSED"}:
            kind = Kind.DOOR
        elif sensor.kind == "help_button":
            kind = Kind.BUTTON
        elif sensor.kind == "occupancy" and value in {"PRESENT", "ABSENT"}:
            kind = Kind.OCCUPIED if value == "PRESENT" else Kind.VACATED
        elif sensor.kind == "appliance" and value == "ON":
            kind = Kind.APPLIANCE
        else:
            continue
        if sensor.entrance:
            place = Place.ENTRANCE
        else:
            guessed = guess_place(SensorKind(sensor.kind), sensor.room, ev.sensor)
            place = _PLACES[guessed.value]
        times.append(ev.local.replace(tzinfo=UTC).timestamp())
        places.append(int(place))
        kinds.append(int(kind))
        rooms.append(sensor.room)
    return recording_from(times, places, kinds, rooms, utc_offset_s=0.0)
