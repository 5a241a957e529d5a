"""A hub on a SQLite file with one registered kit (home-1/kit-1) on the test broker: the set-up
of the tests that hold the database's write lock to make ingest fall behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.config import HubSettings, MqttProtocol
from hub.service import Hub
from mehr.clock import ManualClock
from mehr_app.services.mosquitto import Mosquitto
from simulators.simple_kit import SimpleKit
from tests.conftest import HUB_USER, kit_user
from tests.hub.factories import T0
from tests.hub.test_end_to_end import write_registry


def start_one_kit_hub(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, **settings: Any
) -> tuple[Hub, SimpleKit, Path]:
    """Register kit-1 at the broker, start a hub (scan hourly, no stall alarm) with `settings`
    on tmp_path/hub.db; return the hub, the kit (not yet connected) and the database file."""
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    mosquitto.restart()
    clock = ManualClock(T0)
    db = tmp_path / "hub.db"
    hub = Hub(
        HubSettings(
            mqtt_url=mosquitto.url,
            mqtt_username=HUB_USER,
            mqtt_password=hub_password,
            mqtt_protocol=MqttProtocol.V5,
            db_path=db,
            stats_port=0,
            scan_interval_s=3600,
            ingest_stall_s=3600,
            registry_file=write_registry(tmp_path / "reg.yaml", [("home-1", "kit-1")]),
            **settings,
        ),
        clock=clock,
    )
    hub.start()
    kit = SimpleKit(
        "home-1", "kit-1", mosquitto.host, mosquitto.port, user.username, user.password,
        mqtt_v5=True, clock=clock,
    )  # fmt: skip
    return hub, kit, db
