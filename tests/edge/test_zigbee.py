"""Zigbee2MQTT devices as a kit's sensors: payloads as Zigbee2MQTT publishes them, mapped to
contract events, through a real Mosquitto (the Pi's local one) into the outbox, the district
broker and a real hub; the installer page and the walk test see them like GPIO sensors."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from dashboards.db import Database
from dashboards.queries import kits_view
from dashboards.tenancy import HomeRow
from edge.agent import EdgeAgent
from edge.config import KitConfig, ZigbeeBridgeConfig, ZigbeeSensor, load_kit_config
from edge.walktest import WalkTest
from edge.zigbee import Signal, ZigbeeTranslator
from hub.broker_auth import BrokerUser
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from mehr.clock import ManualClock, SystemClock
from mehr.configfile import ConfigError
from mehr.contract import SensorKind
from mehr_app.cli_edge import run_walk_test
from mehr_app.services.mosquitto import Mosquitto
from simulators.zigbee import Zigbee2MqttSim, ZigbeeDevice
from tests.conftest import kit_user
from tests.edge.helpers import add_kit_user, start_hub, stored_events, wait_until, write_kit

HOME, KIT = "home-z", "kit-z"
T0 = datetime(2026, 1, 15, 22, 0, tzinfo=UTC)

# A one-room flat furnished from the Zigbee2MQTT supported-devices list.
ZIGBEE_SENSORS: list[dict[str, Any]] = [
    {"id": "hall-motion", "kind": "motion", "room": "hall",
     "zigbee": {"friendly_name": "hall motion"}},  # Aqara RTCGQ11LM
    {"id": "front-door", "kind": "door", "room": "hall",
     "zigbee": {"friendly_name": "front door"}},  # Aqara MCCGQ11LM
    {"id": "help-wall", "kind": "help_button", "room": "bedroom",
     "zigbee": {"friendly_name": "bedroom button"}},  # Aqara WXKG11LM
    {"id": "help-pendant", "kind": "help_button", "room": "bedroom",
     "zigbee": {"friendly_name": "sos pendant"}},  # Tuya TS0215A_sos
    {"id": "bed-mat", "kind": "occupancy", "room": "bedroom",
     "zigbee": {"friendly_name": "bed pad"}},
    {"id": "living-temp", "kind": "temperature", "room": "living room",
     "zigbee": {"friendly_name": "living climate"}},  # Aqara WSDCGQ11LM
]
DEVICES = [
    ZigbeeDevice("hall motion", "RTCGQ11LM", "0x00158d0001a1b2c1"),
    ZigbeeDevice("front door", "MCCGQ11LM", "0x00158d0001a1b2c2"),
    ZigbeeDevice("bedroom button", "WXKG11LM", "0x00158d0001a1b2c3"),
    ZigbeeDevice("sos pendant", "TS0215A_sos", "0xa4c1380001a1b2c4"),
    ZigbeeDevice("bed pad", "bed_mat", "0xa4c1380001a1b2c5"),
    ZigbeeDevice("living climate", "WSDCGQ11LM", "0x00158d0001a1b2c6"),
]


# Zigbee2MQTT's own user on the Pi's broker (the broker names clients by user, so each side
# has its own, as in docs/zigbee.md).
Z2M_USER = BrokerUser("zigbee2mqtt", secrets.token_urlsafe(12), ("topic readwrite zigbee2mqtt/#",))


def _translator(**config: Any) -> ZigbeeTranslator:
    sensors = [ZigbeeSensor.model_validate(s) for s in ZIGBEE_SENSORS]
    return ZigbeeTranslator(sensors, ZigbeeBridgeConfig(**config))


def _msg(t: ZigbeeTranslator, name: str, payload: object, at: datetime = T0) -> list[Signal]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return t.handle(f"zigbee2mqtt/{name}", raw, at)


# -- mapping, without a broker ------------------------------------------------------------------


def test_motion_sends_edges_only_although_every_report_repeats_occupancy() -> None:
    t = _translator()
    aqara = {"battery": 100, "voltage": 3005, "illuminance": 3, "linkquality": 120,
             "device_temperature": 23, "last_seen": "2026-01-15T22:00:00.000Z"}
    assert _msg(t, "hall motion", {**aqara, "occupancy": True}) == [
        Signal("hall-motion", SensorKind.MOTION, True),
        Signal("hall-motion-battery", SensorKind.BATTERY, 100.0),
    ]
    # The same state again (an illuminance change): no new motion event, battery unchanged.
    assert _msg(t, "hall motion", {**aqara, "occupancy": True, "illuminance": 5}) == []
    assert _msg(t, "hall motion", {**aqara, "occupancy": False}) == [
        Signal("hall-motion", SensorKind.MOTION, False)
    ]


def test_contact_true_means_the_door_is_closed() -> None:
    t = _translator()
    assert _msg(t, "front door", {"contact": False, "battery": 91})[0] == Signal(
        "front-door", SensorKind.DOOR, "open"
    )
    assert _msg(t, "front door", {"contact": True, "battery": 91}) == [
        Signal("front-door", SensorKind.DOOR, "closed")
    ]


def test_every_help_action_is_a_press_and_release_or_empty_is_not() -> None:
    t = _translator()
    presses = [
        _msg(t, "bedroom button", {"action": action, "battery": 80})
        for action in ("single", "double", "hold", "release", "")
    ]
    kinds = [[s.kind for s in signals] for signals in presses]
    press, first_press = [SensorKind.HELP_BUTTON], [SensorKind.HELP_BUTTON, SensorKind.BATTERY]
    assert kinds == [first_press, press, press, [], []]
    tuya = {"action": "emergency", "battery": 100, "voltage": 3000, "linkquality": 60}
    assert _msg(t, "sos pendant", tuya)[0] == Signal(
        "help-pendant", SensorKind.HELP_BUTTON, "pressed"
    )


def test_battery_is_sent_on_a_one_percent_change_or_hourly() -> None:
    t = _translator()
    sent = []
    for minute, level in [(0, 97), (10, 97), (20, 96.5), (30, 96), (100, 96)]:
        at = T0 + timedelta(minutes=minute)
        sent += [(minute, s.value) for s in _msg(t, "bed pad", {"battery": level}, at)]
    assert sent == [(0, 97.0), (30, 96.0), (100, 96.0)]


def test_temperature_readings_are_sent_when_they_move() -> None:
    t = _translator()
    readings = [21.0, 21.04, 20.5, 20.5]
    sent = [
        s.value
        for i, value in enumerate(readings)
        for s in _msg(t, "living climate", {"temperature": value, "humidity": 40}, T0
                      + timedelta(minutes=i))
        if s.kind is SensorKind.TEMPERATURE
    ]
    assert sent == [21.0, 20.5]


def test_availability_in_both_forms_and_a_dead_bridge_make_sensors_unavailable() -> None:
    t = _translator()
    t.handle("zigbee2mqtt/bridge/state", b'{"state":"online"}', T0)
    t.handle("zigbee2mqtt/front door/availability", b'{"state":"offline"}', T0)
    t.handle("zigbee2mqtt/bed pad/availability", b"offline", T0)  # legacy plain string
    assert t.unavailable() == ["bed-mat", "front-door"]
    _msg(t, "bed pad", {"occupancy": True})  # a message proves it is back
    assert t.unavailable() == ["front-door"]
    t.handle("zigbee2mqtt/bridge/state", b"offline", T0)
    assert len(t.unavailable()) == len(ZIGBEE_SENSORS)


def test_a_configured_device_missing_from_bridge_devices_is_unavailable() -> None:
    t = _translator()
    listing = [d.definition() for d in DEVICES if d.friendly_name != "sos pendant"]
    t.handle("zigbee2mqtt/bridge/devices", json.dumps(listing).encode(), T0)
    assert t.unavailable() == ["help-pendant"]


def test_malformed_payloads_are_counted_by_reason_and_lose_nothing_else() -> None:
    t = _translator()
    assert _msg(t, "hall motion", b"{not json") == []
    assert _msg(t, "hall motion", {"occupancy": "yes"}) == []
    assert _msg(t, "living climate", {"temperature": "warm"}) == []
    assert _msg(t, "front door", {"contact": True, "battery": "full"}) == [
        Signal("front-door", SensorKind.DOOR, "closed")
    ]
    assert dict(t.rejects) == {
        "not_json": 1, "bad_occupancy": 1, "bad_temperature": 1, "bad_battery": 1
    }


# -- the kit YAML --------------------------------------------------------------------------------


def _kit_yaml(tmp_path: Path, sensors: list[dict[str, Any]], **extra: Any) -> Path:
    return write_kit(tmp_path, HOME, KIT, "pw", "mqtts://hub.example:8883", sensors, **extra)


def test_kit_yaml_mixes_zigbee_and_gpio_sensors(tmp_path: Path) -> None:
    pir = {"id": "kitchen-motion", "kind": "motion", "pin": 17, "room": "kitchen"}
    config = load_kit_config(_kit_yaml(tmp_path, [pir, *ZIGBEE_SENSORS]))
    assert [s.id for s in config.zigbee_sensors()] == [s["id"] for s in ZIGBEE_SENSORS]
    registered = {sid: kind for sid, kind, _ in config.registered_sensors()}
    assert registered["living-temp"] is SensorKind.TEMPERATURE
    assert registered["hall-motion-battery"] is SensorKind.BATTERY
    assert "kitchen-motion-battery" not in registered


def test_a_typo_in_a_zigbee_block_or_plain_mqtt_to_another_host_is_an_error(
    tmp_path: Path,
) -> None:
    typo = {**ZIGBEE_SENSORS[0], "zigbee": {"friendly_nme": "hall motion"}}
    with pytest.raises(ConfigError, match="friendly_name"):
        load_kit_config(_kit_yaml(tmp_path, [typo]))
    with pytest.raises(ConfigError, match=r"this Pi.s own broker"):
        load_kit_config(
            _kit_yaml(tmp_path, ZIGBEE_SENSORS, zigbee={"url": "mqtt://192.168.1.5:1883"})
        )


# -- through real brokers into a real hub --------------------------------------------------------


@pytest.fixture
def zigbee_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, BrokerUser]]:
    """The Pi's own Mosquitto: Zigbee2MQTT writes, the kit's bridge (user z2m) reads."""
    user = BrokerUser("z2m", secrets.token_urlsafe(12), ("topic read zigbee2mqtt/#",))
    broker = Mosquitto(tmp_path / "z2m-broker", users=[user, Z2M_USER])
    broker.start()
    yield broker, user
    broker.stop()


def _register(db: Path, config: KitConfig) -> None:
    store = SqliteStore(db)
    try:
        sensors = [SensorSpec(id=i, kind=k, room=r) for i, k, r in config.registered_sensors()]
        spec = HomeSpec(id=HOME, name="Zigbee flat", kits=[KitSpec(id=KIT, sensors=sensors)])
        store.register_home(spec, SystemClock().now())
    finally:
        store.close()


def _installer_sensors(db: Path) -> dict[str, tuple[bool, datetime | None]]:
    database = Database(db)
    database.prepare()
    conn = database.connect()
    try:
        home = HomeRow(HOME, "Zigbee flat", "Asia/Tashkent", "")
        kits = kits_view(conn, [home], lambda kit_id: [])
        return {s.sensor_id: (s.available, s.last_signal) for s in kits[0].sensors}
    finally:
        conn.close()


def test_zigbee_devices_reach_the_hub_once_each_help_alerts_and_offline_shows(
    tmp_path: Path,
    mosquitto: Mosquitto,
    hub_password: str,
    mock_factory: MockFactory,
    zigbee_broker: tuple[Mosquitto, BrokerUser],
) -> None:
    z2m_broker, z2m_user = zigbee_broker
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "z2m.password").write_text(z2m_user.password + "\n")
    user = kit_user(HOME, KIT)
    add_kit_user(mosquitto, user)
    path = write_kit(
        tmp_path / "kit", HOME, KIT, user.password, mosquitto.url, ZIGBEE_SENSORS,
        zigbee={"url": z2m_broker.url, "username": "z2m", "password_file": "z2m.password"},
    )
    config = load_kit_config(path)
    db = tmp_path / "hub.db"
    _register(db, config)
    hub = start_hub(mosquitto, hub_password, db)
    z2m = Zigbee2MqttSim(z2m_broker.host, z2m_broker.port, Z2M_USER.username, Z2M_USER.password)
    z2m.connect()
    z2m.bridge(True)
    for device in DEVICES:
        z2m.pair(device)
    agent = EdgeAgent(config, pin_factory=mock_factory)
    agent.start()
    try:
        assert agent.link is not None and agent.zigbee is not None
        wait_until(agent.link.connected.is_set, 10, "the kit at the district broker")
        wait_until(agent.zigbee.connected.is_set, 10, "the kit at Zigbee2MQTT's broker")
        wait_until(lambda: agent.zigbee.translator.paired is not None, 5, "the device list")  # type: ignore[union-attr]
        z2m.report("hall motion", occupancy=True)
        z2m.report("hall motion", illuminance=40)  # same occupancy: not a new event
        z2m.report("hall motion", occupancy=False)
        z2m.report("front door", contact=False)
        z2m.report("front door", contact=True)
        z2m.report("bed pad", occupancy=True)
        z2m.report("living climate", temperature=19.5)
        z2m.report("sos pendant", action="emergency")
        # 7 sensor events + 5 first battery reports (the wall button has not spoken yet).
        wait_until(lambda: len(stored_events(db)) >= 12, 15, "twelve events at the hub")
        events = stored_events(db)
        assert sorted(seq for _, seq, _, _ in events) == list(range(1, 13))  # once each
        by_sensor = sorted((sensor, kind) for _, _, sensor, kind in events)
        assert ("help-pendant", "help_button") in by_sensor
        assert by_sensor.count(("hall-motion", "motion")) == 2
        assert ("living-temp", "temperature") in by_sensor
        assert ("front-door-battery", "battery") in by_sensor
        store = SqliteStore(db)
        try:
            wait_until(lambda: len(store.alerts()) >= 1, 10, "the help alert")
            assert [a.kind for a in store.alerts()] == ["help_button"]
        finally:
            store.close()

        z2m.availability("front door", False)
        wait_until(
            lambda: agent.zigbee.unavailable() == ["front-door"], 5, "the door offline"  # type: ignore[union-attr]
        )
        assert agent.send_heartbeat()
        # The heartbeat sent on connecting (before the device list) named every Zigbee sensor;
        # wait for the one that names only the door.
        wait_until(
            lambda: [s for s, (up, _) in _installer_sensors(db).items() if not up]
            == ["front-door"],
            10,
            "installer view",
        )
        shown = _installer_sensors(db)
        assert shown["front-door"][0] is False
        assert shown["hall-motion"][0] is True
        assert shown["hall-motion"][1] is not None
    finally:
        agent.stop()
        z2m.close()
        hub.stop()


def test_walk_test_ticks_off_zigbee_sensors_as_they_fire(
    tmp_path: Path,
    mosquitto: Mosquitto,
    hub_password: str,
    mock_factory: MockFactory,
    zigbee_broker: tuple[Mosquitto, BrokerUser],
) -> None:
    z2m_broker, z2m_user = zigbee_broker
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "z2m.password").write_text(z2m_user.password)
    user = kit_user(HOME, KIT)
    add_kit_user(mosquitto, user)
    path = write_kit(
        tmp_path / "kit", HOME, KIT, user.password, mosquitto.url, ZIGBEE_SENSORS,
        zigbee={"url": z2m_broker.url, "username": "z2m", "password_file": "z2m.password"},
    )
    config = load_kit_config(path)
    db = tmp_path / "hub.db"
    _register(db, config)
    hub = start_hub(mosquitto, hub_password, db)
    z2m = Zigbee2MqttSim(z2m_broker.host, z2m_broker.port, Z2M_USER.username, Z2M_USER.password)
    z2m.connect()
    for device in DEVICES:
        z2m.pair(device)
    agent = EdgeAgent(config, pin_factory=mock_factory)
    agent.start()
    started, out, fired = threading.Event(), [], []

    def check() -> None:
        store = SqliteStore(db)
        try:
            out.append(
                run_walk_test(
                    store, KIT, clock=SystemClock(), timeout_s=30, poll_s=0.1, started=started,
                    on_fire=lambda sid, test: fired.append(sid),
                )
            )
        finally:
            store.close()

    checker = threading.Thread(target=check)
    try:
        assert agent.zigbee is not None
        wait_until(agent.zigbee.connected.is_set, 10, "the kit at Zigbee2MQTT's broker")
        checker.start()
        assert started.wait(10)
        z2m.report("hall motion", occupancy=True)
        z2m.report("front door", contact=False)
        z2m.report("bedroom button", action="single")
        z2m.report("sos pendant", action="emergency")
        z2m.report("bed pad", occupancy=True)
        z2m.report("living climate", temperature=22.5)
        checker.join(30)
        report = out[0]
        assert report.passed, report.render()
        # Batteries are the devices' own business: never waited for by the walk test.
        assert sorted(fired) == sorted(s["id"] for s in ZIGBEE_SENSORS)
    finally:
        checker.join(1)
        agent.stop()
        z2m.close()
        hub.stop()


def test_walk_test_does_not_wait_for_battery_reports() -> None:
    test = WalkTest(HOME, KIT, {"m": ("motion", "hall"), "m-battery": ("battery", "hall")}, T0)
    assert test.total == 1
    clock = ManualClock(T0)
    test.observe("m", clock.now())
    assert test.done


def test_provisioning_a_zigbee_kit_registers_each_devices_battery(tmp_path: Path) -> None:
    from mehr_app.cli_edge import provision_kit

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "broker").mkdir()
    SqliteStore(tmp_path / "hub.db").close()  # the hub's database exists before provisioning
    provision_kit(
        home_id="home-q", kit_id="kit-q", template=repo / "firmware_configs" / "zigbee-flat.yaml",
        hub_db=tmp_path / "hub.db", broker_url="mqtts://broker.example:8883",
        out_dir=tmp_path / "out", passwd_file=tmp_path / "broker" / "passwd",
        acl_file=tmp_path / "broker" / "acl", home_name="Zigbee flat", mahalla="Chilonzor-7",
    )
    store = SqliteStore(tmp_path / "hub.db")
    try:
        kit = store.kit("kit-q")
    finally:
        store.close()
    assert kit is not None
    assert kit.sensors["room-temp"] == ("temperature", "room")
    assert kit.sensors["front-door-battery"] == ("battery", "hall")
    assert sum(kind == "battery" for kind, _ in kit.sensors.values()) == 7


def test_an_unreadable_zigbee_password_file_stops_the_agent_with_the_field_named(
    tmp_path: Path, mock_factory: MockFactory
) -> None:
    from edge.link import TransportConfigError

    path = write_kit(
        tmp_path / "kit", HOME, KIT, "pw", "mqtt://127.0.0.1:1", ZIGBEE_SENSORS,
        zigbee={"username": "z2m", "password_file": "missing.password"},
    )
    agent = EdgeAgent(load_kit_config(path), pin_factory=mock_factory)
    with pytest.raises(TransportConfigError, match=r"zigbee\.password_file: cannot read"):
        agent.start()
    assert agent.zigbee is None
