"""A hub's YAML config for tests and benchmarks that run `mehr hub --config` as its own process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mehr_app.services.homes import home_spec
from mehr_app.services.mosquitto import HUB_USER, Mosquitto
from mehr_app.services.ports import free_port


@dataclass(frozen=True, slots=True)
class HubFiles:
    """Where a test hub's config, database and stats endpoint are."""

    config: Path
    db: Path
    stats_port: int


def write_registry(path: Path, homes: list[tuple[str, str]]) -> Path:
    """Write a registry YAML with one standard home per (home, kit)."""
    data = {"homes": [home_spec(h, k).model_dump(mode="json") for h, k in homes]}
    path.write_text(yaml.safe_dump(data))
    return path


def write_hub_config(
    workdir: Path,
    broker: Mosquitto,
    hub_password: str,
    homes: list[tuple[str, str]] | None = None,
    **extra: Any,
) -> HubFiles:
    """Write hub.yaml for the test broker (MQTT 5, the hub's user), registering `homes`
    (default one home with one kit); `extra` adds or overrides settings."""
    db = workdir / "hub.db"
    stats_port = free_port()
    registry = write_registry(workdir / "reg.yaml", homes or [("home-1", "kit-1")])
    config = workdir / "hub.yaml"
    settings = {
        "mqtt_url": broker.url,
        "mqtt_username": HUB_USER,
        "mqtt_password": hub_password,
        "mqtt_protocol": "5",
        "db_path": str(db),
        "registry_file": str(registry),
        "stats_port": stats_port,
        **extra,
    }
    config.write_text(yaml.safe_dump(settings))
    return HubFiles(config, db, stats_port)
