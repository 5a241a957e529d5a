"""A standard registered home for benchmarks, tools and tests."""

from __future__ import annotations

from hub.registry import HomeSpec, KitSpec, SensorSpec
from mehr.contract import SensorKind


def home_spec(home_id: str = "home-1", kit_id: str = "kit-1") -> HomeSpec:
    """A home with one kit: motion in two rooms, a front door, a help button and a fall sensor."""
    return HomeSpec(
        id=home_id,
        name=f"Resident of {home_id}",
        mahalla="Navbahor",
        kits=[
            KitSpec(
                id=kit_id,
                sensors=[
                    SensorSpec(id="pir-kitchen", kind=SensorKind.MOTION, room="Kitchen"),
                    SensorSpec(id="pir-bath", kind=SensorKind.MOTION, room="Bathroom"),
                    SensorSpec(id="door-front", kind=SensorKind.DOOR, room="Hallway"),
                    SensorSpec(id="help", kind=SensorKind.HELP_BUTTON, room="Bedroom"),
                    SensorSpec(id="fall-radar", kind=SensorKind.FALL, room="Bathroom"),
                ],
            )
        ],
    )
