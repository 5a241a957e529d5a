"""The registry file: which homes, kits and sensors the hub accepts messages from."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from mehr.configfile import DEFAULT_TIME_ZONE, StrictModel, TimeZoneName, load_model
from mehr.contract import ID_PATTERN, SensorKind
from mehr.vocabulary import Place

__all__ = [
    "HomeSpec",
    "KitSpec",
    "Place",
    "RegistryFile",
    "RiskLevel",
    "SensorSpec",
    "load_registry",
]

RiskLevel = Literal["low", "medium", "high"]


_ID = Field(pattern=ID_PATTERN.pattern, description="Lower-case id: a-z, 0-9, '-', '_'.")


class SensorSpec(StrictModel):
    """One sensor of a kit."""

    id: str = _ID
    kind: SensorKind
    room: str = Field(min_length=1, max_length=64, description="Room name shown to people.")
    place: Place | None = Field(
        default=None,
        description="What the room is for the routine detectors (kitchen, bathroom, bedroom, "
        "living, entrance, other); guessed from the room's name when left out.",
    )


class KitSpec(StrictModel):
    """One kit (a Raspberry Pi) and its sensors."""

    id: str = _ID
    sensors: list[SensorSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_sensors(self) -> KitSpec:
        seen: set[str] = set()
        for sensor in self.sensors:
            if sensor.id in seen:
                raise ValueError(f"sensor id {sensor.id!r} is used twice in kit {self.id!r}")
            seen.add(sensor.id)
        return self


class HomeSpec(StrictModel):
    """One resident's home."""

    id: str = _ID
    name: str = Field(default="", max_length=200, description="How workers refer to the home.")
    timezone: TimeZoneName = Field(
        default=DEFAULT_TIME_ZONE, description="IANA time zone for routines."
    )
    mahalla: str = Field(default="", max_length=200)
    risk_level: RiskLevel = Field(
        default="medium",
        description="Care-plan risk: high makes the routine rules quicker to alert, low slower.",
    )
    kits: list[KitSpec] = Field(default_factory=list)


class RegistryFile(StrictModel):
    """The whole registry file."""

    homes: list[HomeSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> RegistryFile:
        homes: set[str] = set()
        kits: set[str] = set()
        for home in self.homes:
            if home.id in homes:
                raise ValueError(f"home id {home.id!r} is used twice")
            homes.add(home.id)
            for kit in home.kits:
                if kit.id in kits:
                    raise ValueError(f"kit id {kit.id!r} is used in two homes")
                kits.add(kit.id)
        return self


def load_registry(path: Path) -> RegistryFile:
    """Load and validate a registry YAML file."""
    return load_model(path, RegistryFile)
