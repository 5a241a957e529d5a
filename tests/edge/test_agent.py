"""The real agent on MockFactory pins, through a real Mosquitto, into a real hub."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion

from edge.agent import EdgeAgent
from edge.config import load_kit_config
from mehr.clock import ManualClock
from mehr.contract import (
    PROTOCOL_VERSION,
    Command,
    CommandAction,
    TopicKind,
    encode,
    topic_for,
)
from mehr_app.services.mosquitto import Mosquitto
from tests.conftest import HUB_USER, kit_user
from tests.edge.helpers import (
    EIGHT_SENSORS,
    add_kit_user,
    register,
    start_hub,
    stored_events,
    wait_until,
    write_kit,
)

HOME, KIT = "home-a", "kit-a"


def _setup(tmp_path: Path, mosquitto: Mosquitto, **extra: object) -> Path:
    user = kit_user(HOME, KIT)
    add_kit_user(mosquitto, user)
    return write_kit(tmp_path / "kit", HOME, KIT, user.password, mosquitto.url, **extra)


def test_pin_changes_reach_the_hub_once_each(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, mock_factory: MockFactory
) -> None:
    config = load_kit_config(_setup(tmp_path, mosquitto))
    db = tmp_path / "hub.db"
    register(db, HOME, KIT, EIGHT_SENSORS)
    hub = start_hub(mosquitto, hub_password, db)
    agent = EdgeAgent(config, pin_factory=mock_factory)
    agent.start()
    try:
        assert agent.link is not None
        wait_until(agent.link.connected.is_set, 10, "the agent to connect")
        mock_factory.pin(6).drive_low()  # front door closes (pull-up, contact to ground)
        mock_factory.pin(6).drive_high()  # and opens
        mock_factory.pin(19).drive_low()  # help button pressed
        mock_factory.pin(16).drive_high()  # radar fall alarm
        mock_factory.pin(17).drive_high()  # motion in the kitchen (seen by the smoothing thread)
        wait_until(lambda: len(stored_events(db)) >= 5, 10, "five events at the hub")
        events = stored_events(db)
        assert sorted((s, k) for _, _, s, k in events) == sorted(
            [
                ("front-door", "door"),
                ("front-door", "door"),
                ("help-bed", "help_button"),
                ("bath-fall", "fall"),
                ("kitchen-motion", "motion"),
            ]
        )
        assert {e[0] for e in events} == {agent.outbox.epoch}  # type: ignore[union-attr]
        assert sorted(e[1] for e in events) == [1, 2, 3, 4, 5]
        wait_until(lambda: agent.outbox.depth == 0, 5, "the outbox to empty after PUBACKs")  # type: ignore[union-attr]
        wait_until(lambda: len(_alerts(db)) >= 2, 10, "the hub's alerts")
        assert sorted(a.kind for a in _alerts(db)) == ["fall", "help_button"]
    finally:
        agent.stop()
        hub.stop()


def _alerts(db: Path) -> list:
    from hub.persistence.sqlite_store import SqliteStore

    store = SqliteStore(db)
    try:
        return store.alerts()
    finally:
        store.close()


def test_birth_will_heartbeat_and_ping_command(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, mock_factory: MockFactory
) -> None:
    clock = ManualClock(datetime(2025, 3, 1, 8, 0, tzinfo=UTC))
    config = load_kit_config(_setup(tmp_path, mosquitto))
    seen: dict[str, list[dict]] = {"availability": [], "heartbeat": []}
    got = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        seen.setdefault(msg.topic.rsplit("/", 1)[1], []).append(json.loads(msg.payload))
        got.set()

    watcher = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    watcher.username_pw_set(HUB_USER, hub_password)
    watcher.on_message = on_message
    watcher.connect(mosquitto.host, mosquitto.port)
    watcher.subscribe(f"mehr/v1/homes/{HOME}/kits/{KIT}/+", qos=1)
    watcher.loop_start()
    agent = EdgeAgent(config, clock=clock, pin_factory=mock_factory)
    agent.start()
    try:
        wait_until(lambda: any(a["state"] == "online" for a in seen["availability"]), 10, "birth")
        clock.advance(125)
        mock_factory.pin(19).drive_low()
        wait_until(lambda: agent.outbox.depth == 0 and agent.outbox.next_seq == 2, 5, "ack")  # type: ignore[union-attr]
        seen["heartbeat"].clear()  # the one sent on connecting is not the answer
        ping = Command(v=PROTOCOL_VERSION, id="c1", ts=clock.now(), action=CommandAction.PING)
        watcher.publish(topic_for(HOME, KIT, TopicKind.COMMANDS), encode(ping), qos=1)
        wait_until(lambda: any(b["sensors"].get("help-bed") for b in seen["heartbeat"]), 10,
                   "a heartbeat answering the ping")
        beat = next(b for b in seen["heartbeat"] if b["sensors"].get("help-bed"))
        assert beat["uptime_s"] == 125
        assert beat["outbox_depth"] == 0
        assert beat["dropped"] == 0
        assert beat["sensors"]["help-bed"] == "2025-03-01T08:02:05Z"
        assert "kitchen-motion" not in beat["sensors"] or beat["sensors"]["kitchen-motion"] is None
    finally:
        # Simulate a dead kit: close the socket without DISCONNECT so the broker sends the will.
        assert agent.link is not None
        agent.link._stop.set()
        agent.link.client.socket().close()  # type: ignore[union-attr]
        wait_until(lambda: seen["availability"][-1]["state"] == "offline", 10, "the last will")
        assert "ts" not in seen["availability"][-1]  # the will, not a graceful goodbye
        agent.devices.close()  # type: ignore[union-attr]
        watcher.loop_stop()


def test_im_ok_button_reaches_the_hub_as_an_event(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, mock_factory: MockFactory
) -> None:
    config = load_kit_config(_setup(tmp_path, mosquitto, outputs={"ok_button_pin": 12}))
    db = tmp_path / "hub.db"
    register(db, HOME, KIT, EIGHT_SENSORS)
    hub = start_hub(mosquitto, hub_password, db)
    agent = EdgeAgent(config, pin_factory=mock_factory)
    agent.start()
    try:
        assert agent.link is not None
        wait_until(agent.link.connected.is_set, 10, "the agent to connect")
        mock_factory.pin(12).drive_low()  # the resident presses "I'm OK"
        wait_until(lambda: len(stored_events(db)) >= 1, 10, "the answer at the hub")
        assert [(s, k) for _, _, s, k in stored_events(db)] == [("ok-button", "ok_button")]
        assert agent.ok_presses == 1
        assert _alerts(db) == []
    finally:
        agent.stop()
        hub.stop()


MATS = [
    {"id": "armchair-mat", "kind": "occupancy", "pin": 23, "room": "living room", "bounce_s": 0},
    {"id": "bed-mat", "kind": "occupancy", "pin": 24, "room": "bedroom", "bounce_s": 0},
    {"id": "toilet-flush", "kind": "appliance", "pin": 25, "room": "bathroom", "bounce_s": 0},
]


def test_sitting_lying_and_flushing_reach_the_hub_as_booleans(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, mock_factory: MockFactory
) -> None:
    from hub.persistence.sqlite_store import SqliteStore

    config = load_kit_config(_setup(tmp_path, mosquitto, sensors=MATS))
    db = tmp_path / "hub.db"
    register(db, HOME, KIT, MATS)
    hub = start_hub(mosquitto, hub_password, db)
    agent = EdgeAgent(config, pin_factory=mock_factory)
    agent.start()
    try:
        assert agent.link is not None
        wait_until(agent.link.connected.is_set, 10, "the agent to connect")
        mock_factory.pin(23).drive_low()  # she sits down: the mat's switch closes to ground
        mock_factory.pin(23).drive_high()  # and gets up
        mock_factory.pin(24).drive_low()  # lies down on the bed
        mock_factory.pin(25).drive_low()  # flushes the toilet
        wait_until(lambda: len(stored_events(db)) >= 4, 10, "four events at the hub")
    finally:
        agent.stop()
        hub.stop()  # writes the sensor states its routine writer holds
    store = SqliteStore(db)
    try:
        seen = [(e.sensor_id, e.kind, e.value) for e in store.events(HOME)]
        places = {s.sensor_id: s for s in store.sensor_states(HOME)}
    finally:
        store.close()
    assert sorted(seen, key=str) == sorted(
        [
            ("armchair-mat", "occupancy", True),
            ("armchair-mat", "occupancy", False),
            ("bed-mat", "occupancy", True),
            ("toilet-flush", "appliance", True),
        ],
        key=str,
    )
    assert set(places) == {"armchair-mat", "bed-mat", "toilet-flush"}
    assert not _alerts(db)  # sitting down is life, not an alarm
