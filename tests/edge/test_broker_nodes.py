"""A broker of several nodes (a cluster, docs/scale.md): kit and hub go to the next node when
the one they use dies or was never up, and nothing the kit recorded is lost on the way."""

from __future__ import annotations

import secrets
import socket
import threading
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from pydantic import ValidationError

from edge.agent import EdgeAgent
from edge.config import BrokerConfig, load_kit_config
from hub.broker_auth import BrokerUser, hub_acl_rules
from hub.config import HubSettings
from hub.service import Hub
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.ports import free_port
from tests.conftest import HUB_USER, kit_user
from tests.edge.helpers import EIGHT_SENSORS, register, stored_events, wait_until, write_kit

HOME, KIT = "home-n", "kit-n"


def _hub(db: Path, password: str, first: str, *others: str) -> Hub:
    hub = Hub(
        HubSettings(
            mqtt_url=first,
            mqtt_fallback_urls=list(others),
            mqtt_username=HUB_USER,
            mqtt_password=password,
            db_path=db,
            stats_port=0,
            connect_wait_s=0.5,
        )
    )
    hub.start()
    return hub


def test_kit_and_hub_move_to_the_next_node_when_theirs_dies(
    tmp_path: Path, hub_password: str, mock_factory: MockFactory
) -> None:
    kit = kit_user(HOME, KIT)
    users = [BrokerUser(HUB_USER, hub_password, hub_acl_rules()), kit]
    first, second = (Mosquitto(tmp_path / name, users=users) for name in ("a", "b"))
    first.start()
    second.start()
    db = tmp_path / "hub.db"
    register(db, HOME, KIT, EIGHT_SENSORS)
    kit_yaml = write_kit(
        tmp_path / "kit", HOME, KIT, kit.password, first.url,
        broker={"fallback_urls": [second.url]},
    )
    # Two separate Mosquittos stand for a cluster's nodes: in a cluster the hub's persistent
    # session lives on every node, here it must be opened once on the second node beforehand,
    # or what the kit sends there before the hub arrives would be queued for nobody.
    _hub(db, hub_password, second.url).stop()
    hub = _hub(db, hub_password, first.url, second.url)
    agent = EdgeAgent(load_kit_config(kit_yaml), pin_factory=mock_factory)
    agent.start()
    try:
        assert agent.link is not None
        wait_until(agent.link.connected.is_set, 10, "the kit to connect to the first node")
        wait_until(hub.link.connected.is_set, 10, "the hub to connect to the first node")
        mock_factory.pin(6).drive_low()  # front door, through the first node
        wait_until(lambda: len(stored_events(db, HOME)) == 1, 10, "the first event stored")

        first.kill()
        mock_factory.pin(19).drive_low()  # help pressed while the kit looks for a node
        mock_factory.pin(6).drive_high()
        wait_until(lambda: len(stored_events(db, HOME)) == 3, 20, "events through the second node")
        assert hub.link.node == (second.host, second.port)
        assert sorted(seq for _, seq, _, _ in stored_events(db, HOME)) == [1, 2, 3]
        wait_until(lambda: agent.outbox.depth == 0, 10, "the outbox to empty")  # type: ignore[union-attr]
    finally:
        agent.stop()
        hub.stop()
        first.stop()
        second.stop()


def test_hub_starts_on_the_second_node_when_the_first_is_down(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    dead = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    hub = _hub(tmp_path / "hub.db", hub_password, dead, mosquitto.url)
    try:
        wait_until(hub.link.connected.is_set, 15, "the hub to reach the live node")
        assert hub.link.node == (mosquitto.host, mosquitto.port)
    finally:
        hub.stop()


def test_hub_leaves_a_node_that_takes_the_connection_but_never_accepts_it(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    """A cluster node still starting listens but closes every connection before CONNACK (seen
    on RabbitMQ under load): the hub goes on to the next node instead of retrying it forever."""
    closer = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def close_every_connection() -> None:
        closer.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = closer.accept()
            except TimeoutError:
                continue
            conn.recv(1024)  # the CONNECT packet, then nothing back
            conn.close()

    thread = threading.Thread(target=close_every_connection, daemon=True)
    thread.start()
    bad = f"mqtt://127.0.0.1:{closer.getsockname()[1]}"
    hub = _hub(tmp_path / "hub.db", hub_password, bad, mosquitto.url)
    try:
        wait_until(hub.link.connected.is_set, 15, "the hub to reach the node that accepts it")
        assert hub.link.node == (mosquitto.host, mosquitto.port)
    finally:
        hub.stop()
        stop.set()
        thread.join(5)
        closer.close()


def test_hub_starts_and_moves_on_when_a_node_answers_server_unavailable(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    """A RabbitMQ node whose vhost is still down answers every CONNECT with "Server
    unavailable": the hub's start does not fail as if its password were wrong, and it goes on to
    the next node."""
    busy = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def refuse_for_now() -> None:
        busy.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = busy.accept()
            except TimeoutError:
                continue
            conn.recv(1024)
            conn.sendall(b"\x20\x03\x00\x88\x00")  # MQTT 5 CONNACK: 0x88 Server unavailable
            conn.close()

    thread = threading.Thread(target=refuse_for_now, daemon=True)
    thread.start()
    node = f"mqtt://127.0.0.1:{busy.getsockname()[1]}"
    hub = _hub(tmp_path / "hub.db", hub_password, node, mosquitto.url)  # raised before the fix
    try:
        wait_until(hub.link.connected.is_set, 15, "the hub to reach the node that accepts it")
        assert hub.link.node == (mosquitto.host, mosquitto.port)
        assert hub.link.refused is None
    finally:
        hub.stop()
        stop.set()
        thread.join(5)
        busy.close()


def test_a_plain_node_among_tls_nodes_is_refused(tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text(secrets.token_urlsafe(12))
    with pytest.raises(ValidationError, match=r"fallback_urls\[1\]: expected mqtts://"):
        BrokerConfig(
            url="mqtts://a.example:8883",
            fallback_urls=["mqtts://b.example:8883", "mqtt://c.example:1883"],
            password_file=password,
        )
    with pytest.raises(ValidationError, match="mqtt_fallback_urls: expected the same scheme"):
        HubSettings(mqtt_url="mqtts://a.example:8883", mqtt_fallback_urls=["mqtt://b:1883"])
