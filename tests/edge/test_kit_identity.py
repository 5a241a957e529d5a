"""One kit's credentials cannot knock another kit off the broker (shipped Mosquitto settings)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.agent import EdgeAgent
from edge.config import load_kit_config
from hub.broker_auth import BrokerUser
from mehr.contract import TopicKind, topic_for
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from tests.conftest import kit_user
from tests.edge.helpers import write_kit
from tests.support.mqtt_clients import v5_client

SENSORS = [{"id": "help", "kind": "help_button", "pin": 19, "room": "bedroom", "bounce_s": 0}]
SENTINEL = "test/sentinel"


class _Watcher:
    """A subscriber that records kit B's availability and events, in the broker's order."""

    def __init__(self, broker: Mosquitto, user: BrokerUser) -> None:
        self.seen: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = v5_client(user)
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe([("mehr/v1/#", 1), (SENTINEL, 1)])
        self.client.loop_start()
        wait_until(self.subscribed.is_set, 10, "the watcher's subscription")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.seen.append((msg.topic, bytes(msg.payload)))

    def topics(self) -> list[str]:
        with self._lock:
            return [topic for topic, _ in self.seen]

    def payloads(self, topic: str) -> list[bytes]:
        with self._lock:
            return [payload for t, payload in self.seen if t == topic]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("v5", [True, False], ids=["mqtt5", "mqtt311"])
def test_kit_with_another_kits_client_id_neither_knocks_it_off_nor_fires_its_will(
    tmp_path: Path, mosquitto: Mosquitto, mock_factory: MockFactory, v5: bool
) -> None:
    kit_a, kit_b = kit_user("home-a", "kit-a"), kit_user("home-b", "kit-b")
    watcher_user = BrokerUser("watcher", "watcher-pass", ("topic read mehr/v1/#",
                                                          f"topic readwrite {SENTINEL}"))
    for user in (kit_a, kit_b, watcher_user):
        mosquitto.add_user(user)
    mosquitto.restart()
    watcher = _Watcher(mosquitto, watcher_user)
    path = write_kit(tmp_path / "kit-b", "home-b", "kit-b", kit_b.password, mosquitto.url,
                     sensors=SENSORS)
    agent = EdgeAgent(load_kit_config(path), pin_factory=mock_factory)
    agent.start()
    availability = topic_for("home-b", "kit-b", TopicKind.AVAILABILITY)
    presses = topic_for("home-b", "kit-b", TopicKind.URGENT)
    try:
        assert agent.link is not None
        wait_until(lambda: bool(watcher.payloads(availability)), 10, "kit B's birth")

        # The attack: kit A's password with the client id kit B's agent uses.
        attacker = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=agent.link.client._client_id.decode(),
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        )
        attacker.username_pw_set(kit_a.username, kit_a.password)
        answered = threading.Event()
        attacker.on_connect = lambda *_: answered.set()
        attacker.connect(mosquitto.host, mosquitto.port)
        attacker.loop_start()
        wait_until(answered.is_set, 10, "the attacker's CONNACK")
        # Anything the takeover made the broker send (B's will) is delivered before this.
        watcher.client.publish(SENTINEL, b"after the attack", qos=1)
        wait_until(lambda: SENTINEL in watcher.topics(), 10, "the sentinel")
        mock_factory.pin(19).drive_low()  # kit B's help button, after the attack
        wait_until(lambda: bool(watcher.payloads(presses)), 10, "kit B's help press")
        attacker.disconnect()
        attacker.loop_stop()

        states = [json.loads(p)["state"] for p in watcher.payloads(availability)]
        assert states == ["online"], f"kit B's availability went {states}"
        assert agent.link.connects == 1, "kit B was knocked off and had to reconnect"
    finally:
        agent.stop()
        watcher.stop()
