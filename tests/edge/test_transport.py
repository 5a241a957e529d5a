"""TLS to a Mosquitto listener with a test CA, and the broker ACL a kit's credentials get."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.agent import EdgeAgent
from edge.config import load_kit_config
from mehr.contract import SensorKind, TopicKind, encode, make_event, topic_for
from mehr_app.services.mosquitto import Mosquitto, free_port
from tests.conftest import HUB_USER, kit_user
from tests.edge.helpers import (
    add_kit_user,
    register,
    start_hub,
    stored_events,
    wait_until,
    write_kit,
)
from tests.support.tls import KitPKI

SENSORS = [{"id": "help", "kind": "help_button", "pin": 19, "room": "bedroom", "bounce_s": 0}]


def _tls_listener(broker: Mosquitto, cert: Path, key: Path, ca: Path) -> int:
    port = free_port()
    broker.extra_conf = (
        f"listener {port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        "tls_version tlsv1.2\n"
    )
    return port


def test_kit_connects_over_tls_and_delivers(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, mock_factory: MockFactory,
    pki: KitPKI,
) -> None:
    cert, key = pki.issue("broker-localhost", ["DNS:localhost", "IP:127.0.0.1"])
    port = _tls_listener(mosquitto, cert, key, pki.ca_cert)
    user = kit_user("home-t", "kit-t")
    add_kit_user(mosquitto, user)  # restarts with the TLS listener too
    db = tmp_path / "hub.db"
    register(db, "home-t", "kit-t", SENSORS)
    hub = start_hub(mosquitto, hub_password, db)  # the hub stays on the loopback plain port
    path = write_kit(
        tmp_path / "kit", "home-t", "kit-t", user.password, f"mqtts://localhost:{port}",
        sensors=SENSORS, broker={"ca_file": str(pki.ca_cert)},
    )
    agent = EdgeAgent(load_kit_config(path), pin_factory=mock_factory)
    agent.start()
    try:
        assert agent.link is not None
        wait_until(agent.link.connected.is_set, 10, "a TLS connection")
        mock_factory.pin(19).drive_low()
        wait_until(lambda: len(stored_events(db)) == 1, 10, "the press at the hub")
    finally:
        agent.stop()
        hub.stop()


def _start_tls_kit(
    tmp_path: Path, mosquitto: Mosquitto, mock_factory: MockFactory, port: int, ca_file: Path
) -> EdgeAgent:
    """Start kit-t against the TLS listener on `port`, trusting only `ca_file`."""
    user = kit_user("home-t", "kit-t")
    add_kit_user(mosquitto, user)
    path = write_kit(
        tmp_path / "kit", "home-t", "kit-t", user.password, f"mqtts://localhost:{port}",
        sensors=SENSORS, broker={"ca_file": str(ca_file)},
    )
    agent = EdgeAgent(load_kit_config(path), pin_factory=mock_factory)
    agent.start()
    return agent


def test_kit_refuses_a_broker_whose_certificate_names_another_host(
    tmp_path: Path, mosquitto: Mosquitto, mock_factory: MockFactory, pki: KitPKI,
    caplog: object,
) -> None:
    # Signed by the right CA, but for another name: a stolen or misissued certificate.
    cert, key = pki.issue("broker-elsewhere", ["DNS:broker.elsewhere.example"])
    port = _tls_listener(mosquitto, cert, key, pki.ca_cert)
    agent = _start_tls_kit(tmp_path, mosquitto, mock_factory, port, pki.ca_cert)
    try:
        assert agent.link is not None
        wait_until(lambda: agent.link.backoff.attempt >= 2, 10, "two refused attempts")  # type: ignore[union-attr]
        assert not agent.link.connected.is_set()
        assert agent.link.connects == 0
        mock_factory.pin(19).drive_low()
        assert agent.outbox is not None and agent.outbox.depth == 1  # kept, not sent
    finally:
        agent.stop()


def test_kit_refuses_a_broker_signed_by_another_ca(
    tmp_path: Path, mosquitto: Mosquitto, mock_factory: MockFactory, pki: KitPKI,
) -> None:
    from tests.support.tls import make_ca

    rogue = make_ca(tmp_path / "rogue", "rogue-ca")
    cert, key = rogue.issue("broker-localhost", ["DNS:localhost"])
    port = _tls_listener(mosquitto, cert, key, rogue.ca_cert)
    agent = _start_tls_kit(tmp_path, mosquitto, mock_factory, port, pki.ca_cert)
    try:
        assert agent.link is not None
        wait_until(lambda: agent.link.backoff.attempt >= 2, 10, "two refused attempts")  # type: ignore[union-attr]
        assert agent.link.connects == 0
    finally:
        agent.stop()


# -- ACL ----------------------------------------------------------------------------------------


def _v5_client(broker: Mosquitto, username: str, password: str) -> mqtt.Client:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.username_pw_set(username, password)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def test_kit_credentials_cannot_write_into_another_home(
    mosquitto: Mosquitto, hub_password: str
) -> None:
    mine = kit_user("home-a", "kit-a")
    mosquitto.add_user(mine)
    mosquitto.restart()
    # A subscriber with the hub's rights sees everything that the broker lets through.
    received: list[str] = []
    hub_sub = _v5_client(mosquitto, HUB_USER, hub_password)
    subscribed = threading.Event()
    hub_sub.on_subscribe = lambda *a: subscribed.set()
    hub_sub.on_message = lambda c, u, m: received.append(m.topic)
    hub_sub.subscribe("mehr/v1/homes/#", qos=1)
    assert subscribed.wait(10)

    kit = _v5_client(mosquitto, mine.username, mine.password)
    acks: dict[int, ReasonCode] = {}
    kit.on_publish = lambda c, u, mid, rc, props: acks.__setitem__(mid, rc)
    event = make_event(kit="kit-b", epoch=1, seq=1, sensor="help", kind=SensorKind.HELP_BUTTON,
                       value="pressed", ts=datetime.now(UTC))
    forged = kit.publish(topic_for("home-b", "kit-b", TopicKind.EVENTS), encode(event), qos=1)
    other = kit.publish("mehr/v1/homes/home-b/anything", b"x", qos=1)
    own_cmd = kit.publish(topic_for("home-a", "kit-a", TopicKind.COMMANDS), b"{}", qos=1)
    own = kit.publish(topic_for("home-a", "kit-a", TopicKind.HEARTBEAT), b"{}", qos=1)
    wait_until(lambda: len(acks) == 4, 10, "four PUBACKs")
    # v5 reason codes: 0x87 Not authorized for everything but its own kit topics.
    assert acks[forged.mid].value == 0x87
    assert acks[other.mid].value == 0x87
    assert acks[own_cmd.mid].value == 0x87  # commands come from the hub, never from a kit
    assert not acks[own.mid].is_failure
    # And at the subscriber: only the kit's own heartbeat arrived.
    wait_until(lambda: bool(received), 10, "the allowed message")
    assert received == [topic_for("home-a", "kit-a", TopicKind.HEARTBEAT)]
    kit.loop_stop()
    hub_sub.loop_stop()


def test_kit_credentials_cannot_read_another_home(
    mosquitto: Mosquitto, hub_password: str
) -> None:
    mine = kit_user("home-a", "kit-a")
    theirs = kit_user("home-b", "kit-b")
    own = topic_for("home-a", "kit-a", TopicKind.COMMANDS)
    mosquitto.add_user(mine)
    add_kit_user(mosquitto, theirs)
    got: list[tuple[str, bytes]] = []
    spy = _v5_client(mosquitto, mine.username, mine.password)
    subscribed = threading.Event()
    spy.on_subscribe = lambda *a: subscribed.set()
    spy.on_message = lambda c, u, m: got.append((m.topic, m.payload))
    spy.subscribe([("mehr/v1/homes/#", 1), (topic_for("home-b", "kit-b", TopicKind.COMMANDS), 1),
                   (own, 1)])
    assert subscribed.wait(10)
    # Mosquitto 2.0 grants the SUBACK and filters on delivery, so the test is at the subscriber.
    other = _v5_client(mosquitto, theirs.username, theirs.password)
    hub = _v5_client(mosquitto, HUB_USER, hub_password)
    infos = [
        other.publish(topic_for("home-b", "kit-b", TopicKind.EVENTS), b"{}", qos=1),
        other.publish(topic_for("home-b", "kit-b", TopicKind.AVAILABILITY), b"{}", qos=1,
                      retain=True),
        hub.publish(topic_for("home-b", "kit-b", TopicKind.COMMANDS), b"{}", qos=1),
        hub.publish(own, b'{"probe": 1}', qos=1),
    ]
    for info in infos:
        info.wait_for_publish(10)
    # Another probe after the allowed one, so anything leaking would have arrived by now. The
    # spy's two subscriptions both match its own command topic and Mosquitto may deliver once
    # per match, so the test waits for the second probe by its payload, not by a count.
    hub.publish(own, b'{"probe": 2}', qos=1)
    wait_until(lambda: (own, b'{"probe": 2}') in got, 10, "the second own command")
    assert {payload for _, payload in got} == {b'{"probe": 1}', b'{"probe": 2}'}
    assert {topic for topic, _ in got} == {own}
    for client in (spy, other, hub):
        client.loop_stop()
