"""Fixtures of the simulator tests: a kit user on the test Mosquitto, a hub that registers homes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from hub.config import HubSettings, MqttProtocol
from hub.registry import HomeSpec
from hub.service import Hub
from mehr.clock import Clock
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from tests.conftest import HUB_USER

StartHub = Callable[..., Hub]


@pytest.fixture
def start_hub(tmp_path: Path, mosquitto: Mosquitto, hub_password: str) -> Iterator[StartHub]:
    """Start a real Hub on the test broker with these homes registered (stopped at the end)."""
    hubs: list[Hub] = []

    def start(homes: list[HomeSpec], clock: Clock | None = None, **kw: object) -> Hub:
        registry = tmp_path / "registry.yaml"
        registry.write_text(yaml.safe_dump({"homes": [h.model_dump(mode="json") for h in homes]}))
        settings = HubSettings(
            mqtt_url=mosquitto.url,
            mqtt_username=HUB_USER,
            mqtt_password=hub_password,
            mqtt_protocol=MqttProtocol.V5,
            db_path=tmp_path / "hub.db",
            registry_file=registry,
            stats_port=0,
        )
        hub = Hub(settings, clock=clock, **kw)  # type: ignore[arg-type]
        hub.start()
        hubs.append(hub)
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        return hub

    yield start
    for hub in hubs:
        hub.stop()
