"""Three simulated homes for the demo: ordinary movement, and one resident who presses for help."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from mehr.contract import SensorKind
from simulators.simple_kit import SimpleKit

__all__ = ["DEMO_HOMES", "DEMO_SENSORS", "DemoHome", "run_home"]


# (sensor id, kind, room): the same sensors a one-room-per-sensor flat kit would have.
DEMO_SENSORS: tuple[tuple[str, SensorKind, str], ...] = (
    ("pir-hall", SensorKind.MOTION, "Hallway"),
    ("pir-kitchen", SensorKind.MOTION, "Kitchen"),
    ("pir-living", SensorKind.MOTION, "Living room"),
    ("pir-bath", SensorKind.MOTION, "Bathroom"),
    ("door-front", SensorKind.DOOR, "Hallway"),
    ("help", SensorKind.HELP_BUTTON, "Bedroom"),
)


@dataclass(frozen=True)
class DemoHome:
    """A home, its kit and when (seconds after start) its resident presses the help button."""

    home_id: str
    kit_id: str
    name: str
    mahalla: str
    resident: str
    help_at_s: float | None = None
    seed: int = 0
    motion_every_s: tuple[float, float] = (2.0, 6.0)
    heartbeat_every_s: float = 15.0
    sensors: tuple[tuple[str, SensorKind, str], ...] = field(default=DEMO_SENSORS)


DEMO_HOMES: tuple[DemoHome, ...] = (
    DemoHome("home-1", "kit-1", "Karimova Mavluda", "Navbahor", "Mavluda opa", seed=1),
    DemoHome(
        "home-2", "kit-2", "Toshmatov Rustam", "Navbahor", "Rustam aka", help_at_s=8.0, seed=2
    ),
    DemoHome("home-3", "kit-3", "Yusupova Dilbar", "Bog'ishamol", "Dilbar opa", seed=3),
)

_MOTION_SENSORS = ("pir-hall", "pir-kitchen", "pir-living", "pir-bath")


def run_home(home: DemoHome, kit: SimpleKit, stop: threading.Event, log: list[str]) -> None:
    """Play one home's resident until `stop` is set (real time: this is the demo)."""
    rng = random.Random(home.seed)
    started = kit.clock.now()
    helped = False
    next_beat = 0.0
    kit.heartbeat()
    while not stop.is_set():
        elapsed = (kit.clock.now() - started).total_seconds()
        if home.help_at_s is not None and not helped and elapsed >= home.help_at_s:
            kit.event("help", SensorKind.HELP_BUTTON, "pressed")
            log.append(f"{home.home_id}: {home.resident} pressed the help button")
            helped = True
        sensor = rng.choice(_MOTION_SENSORS)
        kit.event(sensor, SensorKind.MOTION, True)
        if rng.random() < 0.1:
            kit.event("door-front", SensorKind.DOOR, "open")
            kit.event("door-front", SensorKind.DOOR, "closed")
        if elapsed >= next_beat:
            kit.heartbeat()
            next_beat = elapsed + home.heartbeat_every_s
        wait = rng.uniform(*home.motion_every_s)
        if home.help_at_s is not None and not helped:
            wait = min(wait, max(0.05, home.help_at_s - elapsed))
        stop.wait(wait)
