"""A hub on a SQLite file with one registered kit (home-1/kit-1) on the test broker: the set-up
of the tests that drive one kit through a real broker into an in-process hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hub.broker_auth import BrokerUser, hub_acl_rules
from hub.config import HubSettings, MqttProtocol
from hub.service import Hub
from mehr.clock import ManualClock
from mehr_app.services.mosquitto import Mosquitto
from simulators.simple_kit import SimpleKit
from tests.conftest import HUB_USER, kit_user
from tests.hub.factories import T0
from tests.hub.test_end_to_end import write_registry

LANE_USER = "mehr-hub-urgent"


def start_one_kit_hub(
    tmp_path: Path,
    mosquitto: Mosquitto,
    hub_password: str,
    clock: ManualClock | None = None,
    lane: bool = False,
    **settings: Any,
) -> tuple[Hub, SimpleKit, Path]:
    """Register kit-1 at the broker, start a hub on tmp_path/hub.db (scan hourly and no stall
    alarm unless `settings` say otherwise; with `lane`, its urgent lane under its own broker
    user) on `clock` (default: a manual one at T0); return the hub, the kit (not yet
    connected, on the same clock) and the database file."""
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    if lane:
        mosquitto.add_user(BrokerUser(LANE_USER, hub_password, hub_acl_rules()))
        settings = {"mqtt_urgent_username": LANE_USER, **settings}
    mosquitto.restart()
    clock = clock or ManualClock(T0)
    db = tmp_path / "hub.db"
    hub = Hub(
        HubSettings(
            mqtt_url=mosquitto.url,
            mqtt_username=HUB_USER,
            mqtt_password=hub_password,
            mqtt_protocol=MqttProtocol.V5,
            db_path=db,
            stats_port=0,
            registry_file=write_registry(tmp_path / "reg.yaml", [("home-1", "kit-1")]),
            **{"scan_interval_s": 3600, "ingest_stall_s": 3600, **settings},
        ),
        clock=clock,
    )
    hub.start()
    kit = SimpleKit(
        "home-1", "kit-1", mosquitto.host, mosquitto.port, user.username, user.password,
        mqtt_v5=True, clock=clock,
    )  # fmt: skip
    return hub, kit, db


def operator_hub_config(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, stats_port: int, **settings: Any
) -> Path:
    """Write tmp_path/hub.yaml as an operator's: the broker password in its own file, the
    database on tmp_path/hub.db, stats on `stats_port`, and `settings` on top."""
    password_file = tmp_path / "hub.password"
    password_file.write_text(hub_password)
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({
        "mqtt_url": mosquitto.url,
        "mqtt_username": HUB_USER,
        "mqtt_password_file": str(password_file),
        "db_path": str(tmp_path / "hub.db"),
        "stats_port": stats_port,
        **settings,
    }))  # fmt: skip
    return config
