"""The urgent lane is on in what we ship: the shipped hub.yaml names the lane's broker user,
`mehr hub broker-users` gives the broker that user (the hub's password, the hub's ACL block), and
a hub started by the shipped unit from that config has its lane connected."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.broker_auth import (
    BrokerUser,
    acl_text,
    kit_acl_rules,
    password_line,
    urgent_lane_username,
    with_acl_block,
    with_password_line,
)
from mehr.contract import QOS, SensorKind, TopicKind, topic_for, urgent_lane_subscriptions
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.deploy.district import District, compose, passes, port_open, unit_exec_start

KIT = BrokerUser("kit-lane", "kit-lane-password-0123456789", kit_acl_rules("home-lane", "kit-lane"))


@pytest.fixture
def district(tmp_path: Path) -> Iterator[District]:
    d = District(tmp_path)
    d.lay_out()
    # A provisioned kit, in the files before the broker starts (`mehr kit provision` adds it so).
    d.passwd_file.write_text(
        with_password_line(
            d.passwd_file.read_text(), KIT.username, password_line(KIT.username, KIT.password)
        )
    )
    d.acl_file.write_text(with_acl_block(d.acl_file.read_text(), KIT.username, acl_text([KIT])))
    try:
        yield d
    finally:
        d.stop_all()


class _LaneClient:
    """Connects as the urgent lane's broker user and records what its subscriptions bring."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.received: list[str] = []
        self.granted: list[int] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=username,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda _c, _u, msg: self.received.append(msg.topic)
        self._port = port

    def start(self) -> None:
        # Expiry 0: no session is left behind under the lane's name for the hub to inherit.
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0
        self.client.connect("127.0.0.1", self._port, clean_start=True, properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if not rc.is_failure:
            client.subscribe([(topic, QOS) for topic in urgent_lane_subscriptions()])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        self.granted = [code.value for code in codes]
        self.subscribed.set()


def _stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        body = json.loads(response.read())
    assert isinstance(body, dict)
    return body


@pytest.mark.slow
def test_generated_setup_gives_the_urgent_lane_a_broker_user_and_the_hub_connects_it(
    district: District,
) -> None:
    hub_yaml = yaml.safe_load((district.etc / "hub.yaml").read_text())
    lane_user = hub_yaml["mqtt_urgent_username"]
    assert lane_user == urgent_lane_username(hub_yaml["mqtt_username"])
    broker = district.start(district.argv(compose()["services"]["mosquitto"]["command"]), "broker")
    wait_until(lambda: port_open(district.plain_port) or broker.poll() is not None, 20, "broker")
    assert broker.poll() is None, district.log("broker")

    # The lane's user, with the hub's password, reads what urgent_lane_subscriptions() names.
    lane = _LaneClient(district.plain_port, lane_user, district.hub_password)
    kit = SimpleKit("home-lane", "kit-lane", "127.0.0.1", district.plain_port, KIT.username,
                    KIT.password, mqtt_v5=True)  # fmt: skip
    lane.start()
    try:
        wait_until(lane.subscribed.is_set, 10, "the lane's subscriptions granted")
        assert lane.granted == [QOS] * len(urgent_lane_subscriptions())
        kit.connect()
        kit.event("help", SensorKind.HELP_BUTTON, "pressed")
        now = datetime.now(UTC)
        kit.accel_window("imu", [(0.0, 0.0, 1.0)] * 4, 50.0, now, 2)
        kit.flush()
        kinds = (TopicKind.URGENT, TopicKind.ACCEL)
        wanted = {topic_for("home-lane", "kit-lane", kind) for kind in kinds}
        wait_until(lambda: wanted <= set(lane.received), 10, "the press and the window read")
    finally:
        lane.stop()
        kit.close()

    # The hub as the shipped unit starts it, from the shipped hub.yaml: healthy, lane connected.
    hub = district.start(district.argv(unit_exec_start("mehr-hub.service")), "hub")
    health = district.argv(compose()["services"]["hub"]["healthcheck"]["test"][1:])
    wait_until(lambda: passes(health) or hub.poll() is not None, 60, "hub healthy")
    assert hub.poll() is None, district.log("hub")
    stats = _stats(district.stats_port)
    assert stats["broker_connected"] is True
    assert stats["urgent_lane_connected"] is True, district.log("hub")
