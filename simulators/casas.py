"""The CASAS event format: write simulated days in it, read recorded homes from it.

One event per line, local time: `date time sensor [location] value [activity label]`, values
ON/OFF for motion and OPEN/CLOSE for doors; some files are tab-separated with only
`timestamp sensor value`. A mapping (YAML: sensor name -> room, kind) says what each sensor of
a recorded home is; without one, OPEN/CLOSE marks a door, the location column (or the sensor
name) gives the room, and names such as OutsideDoor, FrontDoor or MainEntry mark the entrance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TextIO
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from mehr.configfile import load_model
from mehr.contract import ID_PATTERN, SensorKind
from simulators.home import SensorEvent

__all__ = [
    "CasasError",
    "CasasEvent",
    "MappedSensor",
    "SensorMapping",
    "casas_value",
    "contract_value",
    "infer_mapping",
    "load_mapping",
    "read_casas",
    "sensor_id",
    "write_casas",
]

MappedKind = Literal[
    "motion", "door", "help_button", "fall", "temperature", "battery", "occupancy", "appliance"
]

_VALUES = {"ON", "OFF", "OPEN", "CLOSE", "CLOSED", "PRESSED", "ABSENT", "PRESENT"}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_ENTRANCE = re.compile(r"outside|front|main|entry|entrance|exit", re.IGNORECASE)
# ON/OFF sensors named like an appliance are its use, not motion (the toilet's flush, a kettle).
_APPLIANCE = re.compile(r"flush|toilet|kettle|microwave|fridge|cooker|stove|toaster", re.I)


class CasasError(ValueError):
    """A line that is not a CASAS event; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class CasasEvent:
    """One line of a CASAS file; `local` is naive local time."""

    local: datetime
    sensor: str
    value: str
    location: str | None = None
    label: str | None = None
    line: int = 0


class MappedSensor(BaseModel):
    """What one CASAS sensor is in a Mehr home."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    room: str = Field(min_length=1, max_length=64, description="Room name shown to people.")
    kind: MappedKind = Field(
        description="motion, door, help_button, fall, temperature, battery, occupancy, appliance."
    )
    id: str | None = Field(
        default=None,
        pattern=ID_PATTERN.pattern,
        description="Mehr sensor id; defaults to the CASAS name in lower case.",
    )
    entrance: bool = Field(default=False, description="A door the resident leaves by.")


class SensorMapping(BaseModel):
    """A mapping file: CASAS sensor name -> room and kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensors: dict[str, MappedSensor] = Field(default_factory=dict)

    def get(self, name: str, value: str | None = None) -> MappedSensor | None:
        """The mapping of a CASAS sensor, or None when it is not mapped.

        With `value`, a name shared by two sensors (a door contact and a motion sensor both
        called `OutsideDoor`) gives the one whose kind fits the value.
        """
        sensor = self.sensors.get(name)
        kind = _kind_for(name, value) if value is not None else None
        if sensor is not None and kind is not None and sensor.kind != kind:
            return self.sensors.get(_shared_name(name, kind), sensor)
        return sensor


def load_mapping(path: Path) -> SensorMapping:
    """Read a mapping YAML (`sensors: {M001: {room: Kitchen, kind: motion}, ...}`)."""
    return load_model(path, SensorMapping)


def sensor_id(name: str) -> str:
    """A valid Mehr sensor id for a CASAS sensor name (M001 -> m001)."""
    ident = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_") or "sensor"
    return ident[:64]


def _kind_for_value(value: str) -> MappedKind | None:
    upper = value.upper()
    if upper in {"OPEN", "CLOSE", "CLOSED"}:
        return "door"
    if upper in {"ON", "OFF"}:
        return "motion"
    if upper == "PRESSED":
        return "help_button"
    if upper in {"PRESENT", "ABSENT"}:
        return "occupancy"  # a seat or bed mat: someone on it, or not
    return None


def _kind_for(name: str, value: str) -> MappedKind | None:
    kind = _kind_for_value(value)
    if kind == "motion" and _APPLIANCE.search(name):
        return "appliance"
    return kind


def infer_mapping(events: Iterable[CasasEvent], base: SensorMapping | None = None) -> SensorMapping:
    """Complete `base` with a guess for every sensor it lacks (see the module docstring)."""
    sensors = dict(base.sensors) if base else {}
    for ev in events:
        kind = _kind_for(ev.sensor, ev.value)
        known = sensors.get(ev.sensor)
        if known is not None:
            # CASAS names one door contact and one motion sensor alike (`OutsideDoor` with
            # OPEN/CLOSE and ON/OFF): the second kind gets an entry of its own.
            shared = _shared_name(ev.sensor, kind) if kind is not None else ""
            if kind is None or known.kind == kind or shared in sensors:
                continue
            sensors[shared] = known.model_copy(
                update={"kind": kind, "id": sensor_id(f"{ev.sensor}-{kind}")}
            )
            continue
        if kind is None and _NUMBER.match(ev.value):
            name = ev.sensor.upper()
            battery = name.startswith("BAT") or name.endswith("BATTERY") or ev.label == "Battery"
            kind = "battery" if battery else "temperature"
        if kind is None:
            continue
        room = (ev.location or ev.sensor).replace("_", " ")
        sensors[ev.sensor] = MappedSensor(
            room=room[:64],
            kind=kind,
            id=sensor_id(ev.sensor),
            # The front door, or the motion sensor that watches it (homes without a contact).
            entrance=kind in ("door", "motion")
            and bool(_ENTRANCE.search(f"{ev.sensor} {ev.location}")),
        )
    return SensorMapping(sensors=sensors)


def _shared_name(name: str, kind: str) -> str:
    """Mapping key of the second sensor of another kind under the same CASAS name."""
    return f"{name}#{kind}"


def _parse_time(date_s: str, time_s: str) -> datetime:
    text = f"{date_s} {time_s}"
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"bad timestamp {text!r}")


def _is_value(token: str) -> bool:
    return token.upper() in _VALUES or bool(_NUMBER.match(token))


def read_casas(source: Path | TextIO, name: str | None = None) -> Iterator[CasasEvent]:
    """Parse a CASAS file line by line; blank lines and '#' comments are skipped."""
    if isinstance(source, Path):
        with source.open(encoding="utf-8") as fh:
            yield from read_casas(fh, str(source))
        return
    where = name or getattr(source, "name", "<casas>")
    for number, raw in enumerate(source, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        if len(tokens) >= 1 and "T" in tokens[0] and len(tokens[0]) > 10:
            # ISO timestamp in one token: split it into date and time.
            d, _, t = tokens[0].partition("T")
            tokens = [d, t, *tokens[1:]]
        if len(tokens) < 4:
            raise CasasError(f"{where}:{number}: expected 'date time sensor value', got {line!r}")
        try:
            local = _parse_time(tokens[0], tokens[1])
        except ValueError as exc:
            raise CasasError(f"{where}:{number}: {exc}") from None
        sensor, rest = tokens[2], tokens[3:]
        # The value is the first value-like token; anything between sensor and value is the
        # location column, anything after it the activity label (e.g. "Sleep begin").
        at = next((i for i, tok in enumerate(rest) if _is_value(tok)), None)
        if at is None:
            raise CasasError(f"{where}:{number}: no ON/OFF/OPEN/CLOSE or number in {line!r}")
        location = " ".join(rest[:at]) or None
        label = " ".join(rest[at + 1 :]) or None
        yield CasasEvent(local, sensor, rest[at], location, label, number)


# Two-state kinds: the CASAS word for the contract's value (True/"open"/"pressed"/...), and back.
_WORDS: dict[SensorKind, dict[bool | str, str]] = {
    SensorKind.MOTION: {True: "ON", False: "OFF"},
    SensorKind.DOOR: {"open": "OPEN", "closed": "CLOSE"},
    SensorKind.HELP_BUTTON: {"pressed": "PRESSED"},
    SensorKind.FALL: {"detected": "ON", "cleared": "OFF"},
    SensorKind.OCCUPANCY: {True: "PRESENT", False: "ABSENT"},
    SensorKind.APPLIANCE: {True: "ON", False: "OFF"},
}
_CONTRACT: dict[str, dict[str, bool | str]] = {
    "motion": {"ON": True, "OFF": False},
    "door": {"OPEN": "open", "CLOSE": "closed", "CLOSED": "closed"},
    "help_button": {"PRESSED": "pressed", "ON": "pressed"},
    "fall": {"ON": "detected", "OFF": "cleared"},
    "occupancy": {"PRESENT": True, "ABSENT": False},
    "appliance": {"ON": True, "OFF": False},
}


def casas_value(event: SensorEvent) -> str | None:
    """The CASAS value of a Mehr event (None: the format has no line for it)."""
    if event.kind in (SensorKind.BATTERY, SensorKind.TEMPERATURE):
        return f"{float(event.value):g}"
    words = _WORDS.get(event.kind)
    if words is None:
        return None  # accelerometer windows do not fit one line
    if event.kind is SensorKind.HELP_BUTTON:
        return words["pressed"]
    if event.kind in (SensorKind.MOTION, SensorKind.OCCUPANCY, SensorKind.APPLIANCE):
        return words[event.value is True]
    if event.kind is SensorKind.DOOR:
        return words["open" if event.value == "open" else "closed"]
    return words["detected" if event.value == "detected" else "cleared"]


def contract_value(kind: MappedKind, value: str) -> bool | str | float:
    """The contract's value for a CASAS value of a sensor of `kind` (ValueError if none)."""
    words = _CONTRACT.get(kind)
    if words is not None:
        if value.upper() in words:
            return words[value.upper()]
    elif _NUMBER.match(value):
        return float(value)
    raise ValueError(f"value {value!r} does not fit a {kind} sensor")


def write_casas(
    events: Iterable[SensorEvent], out: TextIO, tz: ZoneInfo, *, kit_clock: bool = True
) -> int:
    """Write events as CASAS lines in local time (the kit's clock by default); return the count.

    Sensor names are the Mehr ids (`<id>-battery` for battery reports); the location column is
    the room with spaces as '_'. Bounce edges that got past the kit's debounce are written too.
    """
    count = 0
    write = out.write
    for ev in events:
        value = casas_value(ev)
        if value is None:
            continue
        t = ev.ts if kit_clock else ev.t
        local = datetime.fromtimestamp(t, UTC).astimezone(tz).replace(tzinfo=None)
        room = ev.room.replace(" ", "_")
        label = f" {ev.label}" if ev.label else ""
        # A sensor name has one kind in CASAS: a battery report gets a name of its own.
        name = f"{ev.sensor}-battery" if ev.kind is SensorKind.BATTERY else ev.sensor
        write(f"{local:%Y-%m-%d %H:%M:%S.%f} {name} {room} {value}{label}\n")
        count += 1
    return count
