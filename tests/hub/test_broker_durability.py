"""A broker crash after PUBACK loses nothing the kits already deleted (shipped settings).

Mosquitto 2.0 sends the PUBACKs of one pass of its event loop and then, with the shipped
`autosave_on_changes true` / `autosave_interval 1`, writes its snapshot at the end of that pass.
So the test makes one more round trip (a SUBSCRIBE, answered in a later pass) after the last
PUBACK and kills the broker at once: every message acknowledged in an earlier pass must survive.
What remains is the pass itself (docs/deploy.md, "Durability"): `bench/broker_durability.py`
measures it.
"""

from __future__ import annotations

import queue
import threading

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

EVENTS = 500


def _hub_link(broker: Mosquitto, password: str) -> tuple[MqttLink, queue.Queue[QueuedMessage]]:
    inbox: queue.Queue[QueuedMessage] = queue.Queue()
    settings = HubSettings(
        mqtt_url=broker.url, mqtt_username=HUB_USER, mqtt_password=password, stats_port=0
    )
    link = MqttLink(settings, SystemClock(), inbox)
    link.start()
    wait_until(link.connected.is_set, 10, "the hub's connection")
    return link, inbox


@pytest.mark.parametrize("round_", range(3))
def test_events_acknowledged_by_the_broker_survive_its_sigkill_one_loop_pass_later(
    mosquitto: Mosquitto, hub_password: str, round_: int
) -> None:
    kit = kit_user("home-d", "kit-d")
    mosquitto.add_user(kit)
    mosquitto.restart()
    link, _ = _hub_link(mosquitto, hub_password)
    link.stop()  # the hub is away: the broker queues for its persistent session

    publisher = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=kit.username,
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    publisher.username_pw_set(kit.username, kit.password)
    publisher.max_inflight_messages_set(100)  # the edge agent's default window
    subacked = threading.Event()
    publisher.on_subscribe = lambda *_: subacked.set()
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()
    topic = topic_for("home-d", "kit-d", TopicKind.EVENTS)
    infos = [publisher.publish(topic, f"event {n}".encode(), qos=1) for n in range(EVENTS)]
    for info in infos:
        info.wait_for_publish(timeout=20)
    assert all(info.is_published() for info in infos)  # every PUBACK is in: the kit deletes
    publisher.subscribe(topic_for("home-d", "kit-d", TopicKind.COMMANDS), qos=1)
    wait_until(subacked.is_set, 10, "the SUBACK one loop pass later")
    mosquitto.kill()  # at once, as a crash would: no save on the way out
    publisher.loop_stop()

    mosquitto.start()
    link, inbox = _hub_link(mosquitto, hub_password)
    received: set[bytes] = set()

    def drained() -> bool:
        while not inbox.empty():
            message = inbox.get_nowait()
            received.add(message.raw.payload)
            link.ack(message)
        return len(received) >= EVENTS

    try:
        wait_until(drained, 20, f"{EVENTS} acknowledged events after the crash")
    finally:
        link.stop()
    assert received == {f"event {n}".encode() for n in range(EVENTS)}
