"""`Hub.tick()` runs the cold-home scan: a home cooling without heating alerts once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hub.config import HubSettings, MqttProtocol
from hub.persistence.sqlite_store import SqliteStore
from hub.service import Hub
from hub.store.base import NewEvent
from mehr.clock import ManualClock
from mehr_app.services.mosquitto import Mosquitto
from tests.conftest import HUB_USER
from tests.hub.factories import T0
from tests.hub.test_end_to_end import write_registry


def test_tick_raises_one_cold_home_alert_for_a_home_that_stays_cold(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    db = tmp_path / "hub.db"
    clock = ManualClock(T0)
    hub = Hub(
        HubSettings(
            mqtt_url=mosquitto.url, mqtt_username=HUB_USER, mqtt_password=hub_password,
            mqtt_protocol=MqttProtocol.V5, db_path=db, stats_port=0, scan_interval_s=3600,
            registry_file=write_registry(tmp_path / "reg.yaml", [("home-1", "kit-1")]),
        ),
        clock=clock,
    )
    hub.start()
    try:
        for step in range(0, 5 * 6):  # every 10 min for 5 h: 17.5 °C and falling slowly
            store = SqliteStore(db)
            store.store_events(
                [NewEvent("home-1", "kit-1", 1, step + 1, "temp-living", "temperature",
                          round(17.5 - 0.1 * step, 1), "Living room", clock.now(), clock.now())],
                clock.now(),
            )
            store.commit()
            store.close()
            hub.tick()
            clock.advance(timedelta(minutes=10))
        store = SqliteStore(db)
        try:
            cold = [a for a in store.alerts() if a.kind == "cold_home"]
        finally:
            store.close()
        assert len(cold) == 1
        assert cold[0].detail["trend_c_per_h"] < -0.5
    finally:
        hub.stop()
