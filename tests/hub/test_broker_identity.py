"""A kit's credentials cannot reach the hub's broker session (shipped Mosquitto settings)."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from hub.config import HubSettings
from hub.mqtt_link import MqttLink, QueuedMessage
from mehr.clock import SystemClock
from mehr.contract import TopicKind, topic_for
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from tests.conftest import HUB_USER, kit_user

WHILE_AWAY = 300


def _hub_link(broker: Mosquitto, password: str) -> tuple[MqttLink, queue.Queue[QueuedMessage]]:
    """The hub's own broker connection (its client id, persistent session, manual acks)."""
    inbox: queue.Queue[QueuedMessage] = queue.Queue()
    settings = HubSettings(
        mqtt_url=broker.url, mqtt_username=HUB_USER, mqtt_password=password, stats_port=0
    )
    link = MqttLink(settings, SystemClock(), inbox)
    link.start()
    wait_until(link.connected.is_set, 10, "the hub's connection")
    return link, inbox


def _client(client_id: str, username: str, password: str, v5: bool) -> mqtt.Client:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        clean_session=None if v5 else True,
    )
    client.username_pw_set(username, password)
    return client


def _publish_all(broker: Mosquitto, client: mqtt.Client, topic: str, count: int) -> None:
    """Publish `count` QoS 1 messages and wait for every PUBACK."""
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, f"event {n}".encode(), qos=1) for n in range(count)]
        for info in infos:
            info.wait_for_publish(timeout=10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("v5", [True, False], ids=["mqtt5", "mqtt311"])
def test_kit_with_the_hubs_client_id_cannot_wipe_the_hubs_queued_messages(
    mosquitto: Mosquitto, hub_password: str, v5: bool
) -> None:
    kit_a = kit_user("home-a", "kit-a")
    mosquitto.add_user(kit_a)
    mosquitto.restart()
    link, _ = _hub_link(mosquitto, hub_password)
    link.stop()  # the hub goes away; the broker keeps its session and queues for it

    topic = topic_for("home-a", "kit-a", TopicKind.EVENTS)
    publisher = _client("mehr-kit-kit-a", kit_a.username, kit_a.password, v5=True)
    _publish_all(mosquitto, publisher, topic, WHILE_AWAY)

    # The attack: kit A's own password, the hub's client id, a clean start, then leave.
    attacker = _client("mehr-hub", kit_a.username, kit_a.password, v5=v5)
    answered = threading.Event()
    attacker.on_connect = lambda *_: answered.set()
    attacker.connect(mosquitto.host, mosquitto.port)
    attacker.loop_start()
    wait_until(answered.is_set, 10, "the attacker's CONNACK")
    attacker.disconnect()
    attacker.loop_stop()

    link, inbox = _hub_link(mosquitto, hub_password)
    received: set[bytes] = set()

    def drained() -> bool:
        while not inbox.empty():
            message = inbox.get_nowait()
            received.add(message.raw.payload)
            link.ack(message)
        return len(received) >= WHILE_AWAY

    try:
        wait_until(drained, 20, f"{WHILE_AWAY} queued messages at the hub")
    finally:
        link.stop()
    assert received == {f"event {n}".encode() for n in range(WHILE_AWAY)}


def test_hubs_persistent_session_survives_a_kit_using_its_own_client_id(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    """The binding does not cost the hub its session: it still resumes where it left off."""
    kit_a = kit_user("home-a", "kit-a")
    mosquitto.add_user(kit_a)
    mosquitto.restart()
    link, _ = _hub_link(mosquitto, hub_password)
    link.stop()
    mosquitto.restart()  # a clean broker restart too: the session is in the snapshot
    publisher = _client("anything", kit_a.username, kit_a.password, v5=False)
    _publish_all(mosquitto, publisher, topic_for("home-a", "kit-a", TopicKind.EVENTS), 5)
    link, inbox = _hub_link(mosquitto, hub_password)
    try:
        # 30 s: a loaded 2-core CI machine restarting the broker twice (failed once at 10 s).
        wait_until(lambda: inbox.qsize() >= 5, 30, "5 queued messages")
    finally:
        link.stop()
