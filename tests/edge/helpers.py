"""Helpers for the edge tests: kit YAML files, a hub on the test broker, bounded waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hub.broker_auth import BrokerUser
from hub.config import HubSettings
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.service import Hub
from mehr.clock import SystemClock
from mehr.contract import SensorKind
from mehr_app.services.mosquitto import Mosquitto
from tests.conftest import HUB_USER

# Eight sensors, as on a house kit without the accelerometer (the bench uses this set too).
EIGHT_SENSORS: list[dict[str, Any]] = [
    {"id": "kitchen-motion", "kind": "motion", "pin": 17, "room": "kitchen"},
    {"id": "living-motion", "kind": "motion", "pin": 27, "room": "living room"},
    {"id": "bedroom-motion", "kind": "motion", "pin": 22, "room": "bedroom"},
    {"id": "front-door", "kind": "door", "pin": 6, "room": "hall", "bounce_s": 0},
    {"id": "yard-door", "kind": "door", "pin": 13, "room": "kitchen", "bounce_s": 0},
    {"id": "help-bed", "kind": "help_button", "pin": 19, "room": "bedroom", "bounce_s": 0},
    {"id": "help-bath", "kind": "help_button", "pin": 26, "room": "bathroom", "bounce_s": 0},
    {"id": "bath-fall", "kind": "fall", "pin": 16, "room": "bathroom", "bounce_s": 0},
]

_KINDS = {
    "motion": SensorKind.MOTION,
    "door": SensorKind.DOOR,
    "help_button": SensorKind.HELP_BUTTON,
    "fall": SensorKind.FALL,
    "occupancy": SensorKind.OCCUPANCY,
    "appliance": SensorKind.APPLIANCE,
    "accelerometer": SensorKind.ACCEL_WINDOW,
}


def write_kit(
    directory: Path,
    home_id: str,
    kit_id: str,
    password: str,
    url: str,
    sensors: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Path:
    """Write a kit YAML (and its password file) and return the YAML's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{kit_id}.password").write_text(password + "\n")
    broker = {
        "url": url,
        "password_file": f"{kit_id}.password",
        "insecure_plain_tcp": url.startswith("mqtt://"),
        "backoff_initial_s": 0.2,
        "backoff_max_s": 2,
        **extra.pop("broker", {}),
    }
    data = {
        "home_id": home_id,
        "kit_id": kit_id,
        "broker": broker,
        "outbox": {"path": f"{kit_id}-outbox.db"},
        "sensors": sensors if sensors is not None else EIGHT_SENSORS,
        **extra,
    }
    path = directory / f"{kit_id}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def register(db: Path, home_id: str, kit_id: str, sensors: list[dict[str, Any]]) -> None:
    """Register a home with one kit at the hub's store."""
    store = SqliteStore(db)
    try:
        spec = HomeSpec(
            id=home_id,
            kits=[
                KitSpec(
                    id=kit_id,
                    sensors=[
                        SensorSpec(id=s["id"], kind=_KINDS[s["kind"]], room=s["room"])
                        for s in sensors
                    ],
                )
            ],
        )
        store.register_home(spec, SystemClock().now())
    finally:
        store.close()


def start_hub(broker: Mosquitto, hub_password: str, db: Path) -> Hub:
    """Start a hub (in this process) on the test broker."""
    hub = Hub(
        HubSettings(
            mqtt_url=broker.url,
            mqtt_username=HUB_USER,
            mqtt_password=hub_password,
            db_path=db,
            stats_port=0,
        )
    )
    hub.start()
    return hub


def add_kit_user(broker: Mosquitto, user: BrokerUser) -> None:
    """Give the broker a kit user (restarts it so the files are re-read)."""
    broker.add_user(user)
    broker.restart()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition on real processes (broker, hub, agent) until true or time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)  # polling real processes with a bound, not waiting for time to pass
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stored_events(db: Path, home_id: str | None = None) -> list[tuple[int, int, str, str]]:
    """(epoch, seq, sensor, kind) of every event the hub stored."""
    store = SqliteStore(db)
    try:
        return [(e.epoch, e.seq, e.sensor_id, e.kind) for e in store.events(home_id)]
    finally:
        store.close()
