"""A small reader of the Ordóñez homes (UCI "ADLs Recognition Using Binary Sensors") for compare.

Each line of `Ordonez{A,B}_Sensors.txt` is one activation: start, end, sensor, type, place, local
time. This reader keeps only what `mehr simulate --compare` needs (activations as intervals with
a Mehr kind); the routine evaluation has its own, fuller reader (branch `routine`). Files are
read in place and never copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from simulators.home import SimKind

__all__ = [
    "Activation",
    "OrdonezError",
    "RecordedHome",
    "kind_of",
    "read_casas_home",
    "read_ordonez",
]


class OrdonezError(ValueError):
    """A file that is not in the Ordóñez format; the message names the file and line."""


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


def kind_of(sensor: str, sensor_type: str) -> SimKind:
    """The Mehr kind of an Ordóñez sensor: the main door is a door; other contacts are in use."""
    kinds: dict[str, SimKind] = {
        "PIR": "motion",
        "Pressure": "occupancy",
        "Flush": "appliance",
        "Electric": "appliance",
    }
    if sensor_type == "Magnetic":
        # A fridge or cupboard contact says the resident is using it, not that she went out.
        return "door" if sensor.lower() in ("maindoor", "frontdoor", "door") else "appliance"
    if sensor_type not in kinds:
        raise ValueError(f"unknown sensor type {sensor_type!r}")
    return kinds[sensor_type]


def _seconds(date_text: str, time_text: str) -> float:
    return datetime.fromisoformat(f"{date_text} {time_text}").replace(tzinfo=UTC).timestamp()


def read_ordonez(directory: Path, home: str) -> RecordedHome:
    """Read `Ordonez{home}_Sensors.txt` from `directory` (home is "A" or "B")."""
    path = directory / f"Ordonez{home}_Sensors.txt"
    if not path.is_file():
        raise OrdonezError(f"{path}: no such file (expected the Ordóñez Sensors file)")
    out: list[Activation] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if number <= 2 or not fields:
            continue  # two header lines, blank lines
        if len(fields) != 7:
            raise OrdonezError(f"{path}:{number}: expected 7 fields, got {len(fields)}: {line!r}")
        d0, t0, d1, t1, sensor, sensor_type, place = fields
        try:
            start, end = _seconds(d0, t0), _seconds(d1, t1)
            kind = kind_of(sensor, sensor_type)
        except ValueError as exc:
            raise OrdonezError(f"{path}:{number}: {exc}") from None
        if end < start:
            raise OrdonezError(f"{path}:{number}: ends before it starts")
        out.append(Activation(start, end, f"{sensor}-{place}".lower(), kind, place))
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
        if value in ("OPEN", "CLOSE"):
            kind: SimKind = "door"
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
