"""Driver (a): a simulated morning through the real edge agent on mock pins reaches the hub once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from mehr.clock import ManualClock
from mehr.contract import SensorKind
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from simulators.accel import record
from simulators.edge_driver import (
    ACCEL_SENSOR_ID,
    EdgeHomeDriver,
    edge_layout,
    plan_hours,
    settle_initial,
    start_of,
    write_kit_yaml,
)
from simulators.home import HomeLayout, SensorPhysics
from tests.conftest import kit_user
from tests.simulators.conftest import StartHub

HOME, KIT = "home-e", "kit-e"


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    """A fresh MockFactory as gpiozero's default (as in tests/edge), reset afterwards."""
    factory = MockFactory()
    previous = Device.pin_factory
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = previous


def test_simulated_hours_through_the_edge_agent_reach_the_hub_exactly_once(
    tmp_path: Path, mosquitto: Mosquitto, start_hub: StartHub, mock_factory: MockFactory
) -> None:
    layout = edge_layout(HomeLayout.standard(HOME, KIT, accelerometer=False))
    # Door bounce on: the simulator debounces like gpiozero would on a Pi (MockPin ignores
    # bounce_time), so what reaches a pin is what a real kit would record.
    # Seed 1's resident goes out and comes back between 09:00 and 12:00: PIRs and the front door.
    events = plan_hours(
        layout, seed=1, from_hour=9.0, hours=3.0, physics=SensorPhysics(door_bounce_p=0.5)
    )
    kinds_planned = {e.kind for e in events}
    assert {SensorKind.MOTION, SensorKind.DOOR, SensorKind.HELP_BUTTON} <= kinds_planned
    assert events[-1].kind is SensorKind.HELP_BUTTON

    user = kit_user(HOME, KIT)
    mosquitto.add_user(user)
    mosquitto.restart()
    clock = ManualClock(start_of(events, lead_s=120))
    home = HomeSpec(
        id=HOME,
        kits=[
            KitSpec(
                id=KIT,
                sensors=[
                    SensorSpec(id=s.id, kind=s.contract_kind, room=s.room) for s in layout.sensors
                ],
            )
        ],
    )
    hub = start_hub([home], clock=clock)
    config = write_kit_yaml(
        layout, tmp_path / "kit", broker_url=mosquitto.url, password=user.password
    )
    assert {s.kind for s in config.sensors} == {"motion", "door", "help_button", "fall"}
    driver = EdgeHomeDriver(config, clock, mock_factory)
    driver.start()
    started = time.perf_counter()
    try:
        driven = settle_initial(driver, layout, start_of(events))
        result = driver.run(events)
        driven += result.events
    finally:
        driver.stop()
    wall = time.perf_counter() - started

    assert len(driven) > 50  # a morning of a resident (who sits a good part of it), not a handful
    assert {d.kind for d in driven} == {SensorKind.MOTION, SensorKind.DOOR, SensorKind.HELP_BUTTON}
    assert len(driven) + result.no_edge == len(events) + len(layout.of_kind("door"))
    assert [d.seq for d in driven] == list(range(1, len(driven) + 1))
    wait_until(lambda: hub.stats.get("stored") >= len(driven), 15, f"{len(driven)} stored")
    store = SqliteStore(hub.settings.db_path)
    try:
        wait_until(
            lambda: any(a.kind == "help_button" for a in store.alerts(HOME)), 10, "the help alert"
        )
        stored = store.events(HOME)
        alerts = store.alerts(HOME)
    finally:
        store.close()

    # Exactly once: no event missing, none stored twice, every field as the simulator drove it.
    assert len(stored) == len(driven)
    assert {(e.epoch, e.seq) for e in stored} == {(d.epoch, d.seq) for d in driven}
    assert sorted(
        (e.epoch, e.seq, e.sensor_id, e.kind, e.value, e.occurred_at) for e in stored
    ) == sorted((d.epoch, d.seq, d.sensor, d.kind.value, d.value, d.ts) for d in driven)
    assert hub.stats.rejected() == 0
    assert [a.kind for a in alerts if a.kind == "help_button"] == ["help_button"]
    assert wall < 20, f"the drive took {wall:.1f} s"


def test_a_worn_sensor_fall_goes_through_the_kits_adc_and_trigger_to_a_fall_alert(
    tmp_path: Path, mosquitto: Mosquitto, start_hub: StartHub, mock_factory: MockFactory
) -> None:
    layout = edge_layout(HomeLayout.standard(HOME, KIT, accelerometer=False))
    user = kit_user(HOME, KIT)
    mosquitto.add_user(user)
    mosquitto.restart()
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    clock = ManualClock(start)
    sensors = [SensorSpec(id=s.id, kind=s.contract_kind, room=s.room) for s in layout.sensors]
    sensors.append(SensorSpec(id=ACCEL_SENSOR_ID, kind=SensorKind.ACCEL_WINDOW, room="Worn"))
    hub = start_hub([HomeSpec(id=HOME, kits=[KitSpec(id=KIT, sensors=sensors)])], clock=clock)
    config = write_kit_yaml(
        layout,
        tmp_path / "kit",
        broker_url=mosquitto.url,
        password=user.password,
        accelerometer=True,
    )
    driver = EdgeHomeDriver(config, clock, mock_factory)
    driver.start()
    try:
        rng = np.random.default_rng(5)
        sit = driver.drive_accelerometer(record("sit_down_hard", rng), start)
        fall = driver.drive_accelerometer(record("fall_forward", rng), start + timedelta(minutes=5))
        driver.wait_acked()
    finally:
        driver.stop()
    assert fall is not None and fall.kind is SensorKind.ACCEL_WINDOW
    shipped = [d for d in (sit, fall) if d is not None]
    wait_until(lambda: hub.stats.get("stored") >= len(shipped), 15, "the windows stored")
    store = SqliteStore(hub.settings.db_path)
    try:
        wait_until(lambda: bool(store.alerts(HOME)), 10, "the fall alert")
        alerts = store.alerts(HOME)
        windows = [e for e in store.events(HOME) if e.kind == "accel_window"]
    finally:
        store.close()
    assert len(windows) == len(shipped)
    assert all(w.value["rate_hz"] == 50 for w in windows)
    (alert,) = alerts  # the hard sit-down shipped a window (maybe) but raised nothing
    assert alert.kind == "fall"
    assert alert.detail["source"] == "accelerometer"
    assert alert.detail["fall_detector"]["is_fall"] is True


def test_an_afternoon_in_the_armchair_reaches_the_hub_through_the_kits_mat_inputs(
    tmp_path: Path, mosquitto: Mosquitto, start_hub: StartHub, mock_factory: MockFactory
) -> None:
    layout = edge_layout(HomeLayout.standard(HOME, KIT, accelerometer=False, occupancy=True))
    events = plan_hours(layout, seed=2, from_hour=13.0, hours=4.0)
    planned_mats = [e for e in events if e.kind is SensorKind.OCCUPANCY]
    assert any(e.value is True for e in planned_mats)  # she sits down this afternoon
    user = kit_user(HOME, KIT)
    mosquitto.add_user(user)
    mosquitto.restart()
    clock = ManualClock(start_of(events, lead_s=120))
    sensors = [SensorSpec(id=s.id, kind=s.contract_kind, room=s.room) for s in layout.sensors]
    hub = start_hub([HomeSpec(id=HOME, kits=[KitSpec(id=KIT, sensors=sensors)])], clock=clock)
    config = write_kit_yaml(
        layout, tmp_path / "kit", broker_url=mosquitto.url, password=user.password
    )
    assert {"occupancy", "appliance"} <= {s.kind for s in config.sensors}
    driver = EdgeHomeDriver(config, clock, mock_factory)
    driver.start()
    try:
        driven = settle_initial(driver, layout, start_of(events))
        driven += driver.run(events).events
    finally:
        driver.stop()
    mats = [d for d in driven if d.kind is SensorKind.OCCUPANCY]
    assert mats and all(isinstance(d.value, bool) for d in mats)
    wait_until(lambda: hub.stats.get("stored") >= len(driven), 15, f"{len(driven)} stored")
    store = SqliteStore(hub.settings.db_path)
    try:
        stored = [(e.sensor_id, e.value, e.occurred_at) for e in store.events(HOME)
                  if e.kind == "occupancy"]
    finally:
        store.close()
    # Every sit-down and get-up the kit's pin saw is stored once, as a JSON boolean, on time.
    assert sorted(stored, key=str) == sorted(((d.sensor, d.value, d.ts) for d in mats), key=str)
    assert hub.stats.rejected() == 0
