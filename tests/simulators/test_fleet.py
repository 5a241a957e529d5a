"""The fleet's messages follow the contract; every kit beats once a minute; the broker acks."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from hub.broker_auth import BrokerUser
from mehr.contract import Heartbeat, parse_message
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from simulators.fleet import FleetModel, QosOnePublisher, run_fleet
from tests.conftest import HUB_USER, kit_user

START = datetime(2026, 3, 2, 3, tzinfo=UTC)  # 08:00 in Tashkent


def _play(
    model: FleetModel, seconds: int, step: float = 6.0
) -> tuple[list[tuple[str, bytes]], int, int]:
    sent: list[tuple[str, bytes]] = []
    events = beats = 0
    t = 0.0
    while t < seconds:
        e, b = model.slice(
            t, t + step, START, lambda h, topic, p: sent.append((topic[2:].decode(), p))
        )
        events, beats, t = events + e, beats + b, t + step
    return sent, events, beats


def test_fleet_slices_are_contract_messages_and_every_kit_beats() -> None:
    model = FleetModel(range(200), seed=3)
    sent, events, beats = _play(model, 60)
    assert beats == 200  # 60 s played: one heartbeat per kit
    assert events > 100  # 200 awake residents for a minute
    kits_seen = set()
    seqs: dict[str, list[int]] = {}
    stamps: dict[str, list[datetime]] = {}
    for topic, payload in sent:
        ref, msg = parse_message(topic, payload)
        kits_seen.add(ref.kit_id)
        if not isinstance(msg, Heartbeat):
            seqs.setdefault(ref.kit_id, []).append(msg.seq)
            stamps.setdefault(ref.kit_id, []).append(msg.ts)
    assert len(kits_seen) == 200
    for kit, values in seqs.items():
        assert values == list(range(1, len(values) + 1))
        assert stamps[kit] == sorted(stamps[kit])  # sequence follows time within a kit


def test_shards_cover_the_fleet_once() -> None:
    shards = [FleetModel(range(w, 10, 3)) for w in range(3)]
    kits = [k for s in shards for k in s.kits]
    assert sorted(kits) == [f"fleet-kit-{i:05d}" for i in range(10)]


def _watch(mosquitto: Mosquitto, hub_password: str) -> tuple[mqtt.Client, list[tuple[str, bytes]]]:
    got: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with lock:
            got.append((msg.topic, msg.payload))

    watcher = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5
    )
    watcher.username_pw_set(HUB_USER, hub_password)
    watcher.on_message = on_message
    subscribed = threading.Event()
    watcher.on_subscribe = lambda *a: subscribed.set()
    watcher.connect(mosquitto.host, mosquitto.port)
    watcher.subscribe("mehr/v1/homes/+/kits/+/+", qos=1)
    watcher.loop_start()
    wait_until(subscribed.is_set, 10, "the watcher's subscription")
    return watcher, got


def test_worker_processes_publish_what_a_subscriber_receives_and_the_broker_acks(
    mosquitto: Mosquitto, hub_password: str
) -> None:
    load = BrokerUser("fleet-load", secrets.token_urlsafe(12), ("topic write mehr/v1/homes/#",))
    mosquitto.add_user(load)
    # The load generator shares one broker user over all its connections; with the shipped
    # use_username_as_clientid every connection would take the previous one's place.
    mosquitto.settings["use_username_as_clientid"] = "false"
    mosquitto.restart()
    watcher, got = _watch(mosquitto, hub_password)
    try:
        result = run_fleet(
            50, mosquitto.host, mosquitto.port, workers=2, speed=60.0, wall_seconds=1.5,
            username=load.username, password=load.password,
        )  # fmt: skip
        assert result.messages > 50  # every kit beats within the 90 virtual seconds
        assert result.acked == result.messages and result.refused == 0
        wait_until(lambda: len(got) >= result.messages, 10, f"{result.messages} received")
    finally:
        watcher.loop_stop()
        watcher.disconnect()
    assert len(got) == result.messages
    parsed = [parse_message(t, p) for t, p in got]
    beats = [m for _, m in parsed if isinstance(m, Heartbeat)]
    assert len(beats) == result.heartbeats
    assert len({ref.kit_id for ref, _ in parsed}) == 50
    keys = [(ref.kit_id, m.seq) for ref, m in parsed if not isinstance(m, Heartbeat)]
    assert len(keys) == len(set(keys)) == result.events


def test_publishes_the_acl_refuses_are_counted_as_refused_not_acked(mosquitto: Mosquitto) -> None:
    # A kit user may write only its own home: the fleet's other homes are refused (MQTT 5
    # PUBACK reason 0x87), and the publisher must not count them as delivered.
    user = kit_user("fleet-00000", "fleet-kit-00000")
    mosquitto.add_user(user)
    mosquitto.restart()
    pub = QosOnePublisher(
        mosquitto.host, mosquitto.port, "refused-test", username=user.username,
        password=user.password,
    )  # fmt: skip
    model = FleetModel(range(3))
    per_home = [0, 0, 0]

    def send(home: int, topic: bytes, payload: bytes) -> None:
        per_home[home] += 1
        pub.publish(topic, payload)

    model.slice(0.0, 60.0, START, send)
    assert pub.drain(10)
    pub.close()
    assert pub.acked == per_home[0] > 0
    assert pub.refused == per_home[1] + per_home[2] > 0


def test_residents_live_on_their_districts_clock() -> None:
    # START is 03:00 UTC: 08:00 in Tashkent (everyone up), the middle of the night at UTC+0,
    # and 17:00 the day before at UTC-10 (everyone up again).
    def events(offset_h: float) -> int:
        return _play(FleetModel(range(400), seed=5, utc_offset_s=offset_h * 3600), 600)[1]

    awake, night = events(5), events(0)
    assert awake > 20 * night  # ~1/30 of the day rate while asleep
    assert events(-10) > 20 * night  # 17:00 the day before: awake again
