"""`Hub.tick()` does the periodic work due at a manual clock's now, before it returns."""

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


def test_tick_raises_the_silence_alert_due_at_the_manual_clock(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    db = tmp_path / "hub.db"
    clock = ManualClock(T0)
    settings = HubSettings(
        mqtt_url=mosquitto.url,
        mqtt_username=HUB_USER,
        mqtt_password=hub_password,
        mqtt_protocol=MqttProtocol.V5,
        db_path=db,
        stats_port=0,
        scan_interval_s=3600,
        registry_file=write_registry(tmp_path / "reg.yaml", [("home-1", "kit-1")]),
    )
    hub = Hub(settings, clock=clock)
    hub.start()
    try:
        store = SqliteStore(db)
        store.store_events(
            [NewEvent("home-1", "kit-1", 1, 1, "pir-kitchen", "motion", True, "Kitchen", T0, T0)],
            T0,
        )
        store.commit()
        store.close()
        hub.tick()
        assert _kinds(db) == []
        clock.advance(timedelta(hours=5))  # 11:00 local: five quiet hours by day, new home
        hub.tick()
        assert _kinds(db) == ["unusual_inactivity"]
        assert "inactivity_scan" in Hub.capabilities
    finally:
        hub.stop()


def _kinds(db: Path) -> list[str]:
    store = SqliteStore(db)
    try:
        return [a.kind for a in store.alerts()]
    finally:
        store.close()
