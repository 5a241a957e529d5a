"""A help press goes on the kit's `urgent` topic, and reaches a hub in every order of upgrade.

Real Mosquitto with per-kit ACLs, the real edge agent driven by gpiozero's MockFactory. A
watcher stands in for the hub: what it subscribes to is what the hub would read.
"""

from __future__ import annotations

import getpass
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from gpiozero.pins.mock import MockFactory

from edge.agent import EdgeAgent
from edge.config import load_kit_config
from hub.broker_auth import BrokerUser, kit_acl_rules
from mehr.clock import ManualClock
from mehr.contract import SensorKind, TopicKind, encode, make_event, topic_for
from mehr_app.broker_check import check_kit_broker
from mehr_app.cli import main as mehr_main
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from tests.conftest import kit_user
from tests.edge.helpers import write_kit
from tests.support.mqtt_clients import v5_client

HOME, KIT = "home-u", "kit-u"
SENSORS = [
    {"id": "help", "kind": "help_button", "pin": 19, "room": "bedroom", "bounce_s": 0},
    {"id": "pir-hall", "kind": "motion", "pin": 20, "room": "hall"},
]
EVENTS = topic_for(HOME, KIT, TopicKind.EVENTS)
URGENT = topic_for(HOME, KIT, TopicKind.URGENT)
EVENTS_KIND = TopicKind.EVENTS
HUB_USER = BrokerUser("hub-u", "hub-pass", ("topic read mehr/v1/#",))


class _Hub:
    """Subscribes to some of the kit's topics, as a hub of one version or another would."""

    def __init__(self, broker: Mosquitto, topics: list[str]) -> None:
        self.seen: list[tuple[str, dict[str, object]]] = []
        self._lock = threading.Lock()
        self.client = v5_client(HUB_USER)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.subscribe(topics)

    def subscribe(self, topics: list[str]) -> None:
        if not topics:
            return
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.subscribe([(topic, 1) for topic in topics])
        wait_until(subscribed.is_set, 10, "the hub's subscription")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.seen.append((msg.topic, json.loads(msg.payload)))

    def kinds_on(self, topic: str) -> list[object]:
        with self._lock:
            return [body.get("kind") for t, body in self.seen if t == topic]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _start(
    tmp_path: Path,
    broker: Mosquitto,
    factory: MockFactory,
    hub_topics: list[str],
    kit: BrokerUser | None = None,
    protocol: str = "5",
    clock: ManualClock | None = None,
) -> tuple[_Hub, EdgeAgent]:
    """The broker with the hub's and the kit's users, a hub reading `hub_topics`, the kit."""
    user = kit or kit_user(HOME, KIT)
    broker.add_user(HUB_USER)
    broker.add_user(user)
    broker.restart()
    hub = _Hub(broker, hub_topics)
    path = write_kit(
        tmp_path / KIT, HOME, KIT, user.password, broker.url, sensors=SENSORS,
        broker={"protocol": protocol},
    )  # fmt: skip
    agent = EdgeAgent(load_kit_config(path), clock=clock, pin_factory=factory)
    agent.start()
    assert agent.link is not None
    wait_until(agent.link.connected.is_set, 10, "the kit's connection")
    return hub, agent


def _press(factory: MockFactory) -> None:
    factory.pin(19).drive_low()
    factory.pin(19).drive_high()


def _motion(factory: MockFactory) -> None:
    factory.pin(20).drive_high()


def test_help_goes_on_urgent_and_motion_on_events(
    tmp_path: Path, mosquitto: Mosquitto, mock_factory: MockFactory
) -> None:
    hub, agent = _start(tmp_path, mosquitto, mock_factory, [EVENTS, URGENT])
    try:
        _motion(mock_factory)
        _press(mock_factory)
        wait_until(lambda: hub.kinds_on(URGENT) and hub.kinds_on(EVENTS), 10, "both events")
        assert hub.kinds_on(URGENT) == ["help_button"]
        assert "help_button" not in hub.kinds_on(EVENTS)
        assert "motion" in hub.kinds_on(EVENTS)
        assert agent.link is not None and agent.link.urgent_fallbacks == 0
        wait_until(lambda: agent.outbox is not None and agent.outbox.depth == 0, 10, "acked")
    finally:
        agent.stop()
        hub.stop()


def test_a_hub_that_does_not_read_urgent_still_gets_the_press_on_events(
    tmp_path: Path, mosquitto: Mosquitto, mock_factory: MockFactory
) -> None:
    # An older hub: the broker answers the kit's publish on `urgent` "no matching subscribers".
    clock = ManualClock(datetime.now(UTC))
    hub, agent = _start(tmp_path, mosquitto, mock_factory, [EVENTS], clock=clock)
    try:
        _press(mock_factory)
        wait_until(lambda: "help_button" in hub.kinds_on(EVENTS), 10, "the press on events")
        assert agent.link is not None and agent.link.urgent_fallbacks == 1
        # The next press goes straight to `events`: no second round trip for a while.
        _press(mock_factory)
        wait_until(lambda: hub.kinds_on(EVENTS).count("help_button") == 2, 10, "second press")
        assert agent.link.urgent_fallbacks == 1
        wait_until(lambda: agent.outbox is not None and agent.outbox.depth == 0, 10, "acked")

        # The hub is upgraded (no reconnect of the kit): `urgent` is tried again after 5 min.
        hub.subscribe([URGENT])
        clock.advance(299)
        _press(mock_factory)
        wait_until(lambda: hub.kinds_on(EVENTS).count("help_button") == 3, 10, "third press")
        clock.advance(2)
        _press(mock_factory)
        wait_until(lambda: hub.kinds_on(URGENT) == ["help_button"], 10, "the press on urgent")
        assert agent.link.urgent_fallbacks == 1
    finally:
        agent.stop()
        hub.stop()


def test_a_kit_whose_acl_predates_urgent_gets_the_press_through_and_kit_acls_mends_it(
    tmp_path: Path, mosquitto: Mosquitto, mock_factory: MockFactory
) -> None:
    # The kit's ACL block was written before `urgent` existed: the broker answers 0x87.
    old_rules = tuple(r for r in kit_acl_rules(HOME, KIT) if not r.endswith("/urgent"))
    assert len(old_rules) == len(kit_acl_rules(HOME, KIT)) - 1
    user = BrokerUser(KIT, "kit-pass-old-acl", old_rules)
    hub, agent = _start(tmp_path, mosquitto, mock_factory, [EVENTS, URGENT], kit=user)
    try:
        _press(mock_factory)
        wait_until(lambda: "help_button" in hub.kinds_on(EVENTS), 10, "the press on events")
        assert hub.kinds_on(URGENT) == []
        assert agent.link is not None and agent.link.urgent_fallbacks == 1
        assert agent.link.refused == 0  # not parked for the 30 s retry of a refused message
        agent.stop()

        # The operator's upgrade step: every kit's block rewritten in place, then a reload.
        acl = ["hub", "kit-acls", "--acl-file", str(mosquitto.acl_file), "--broker-user",
               getpass.getuser()]  # fmt: skip
        assert mehr_main(acl) == 0
        mosquitto.reload()
        config = load_kit_config(tmp_path / KIT / f"{KIT}.yaml")
        # SIGHUP is handled in the broker's next loop pass: a check's round trips come after it.
        wait_until(lambda: check_kit_broker(config).ok, 10, "the broker's reload")
        agent = EdgeAgent(config, pin_factory=mock_factory)
        agent.start()
        assert agent.link is not None
        wait_until(agent.link.connected.is_set, 10, "the kit's connection, same password")
        _press(mock_factory)
        wait_until(lambda: hub.kinds_on(URGENT) == ["help_button"], 10, "the press on urgent")
        assert agent.link.urgent_fallbacks == 0
    finally:
        agent.stop()
        hub.stop()


def test_a_press_no_hub_hears_at_all_stays_in_the_outbox(
    tmp_path: Path, mosquitto: Mosquitto, mock_factory: MockFactory
) -> None:
    # No subscriber on any topic (the hub's session expired, a broker that lost its sessions):
    # the broker takes every message and answers "no matching subscribers".
    hub, agent = _start(tmp_path, mosquitto, mock_factory, [])
    try:
        assert agent.link is not None and agent.outbox is not None
        _press(mock_factory)
        wait_until(lambda: agent.link is not None and agent.link.refused == 1, 10, "kept")
        assert agent.link.urgent_fallbacks == 1  # tried on urgent, then on events
        # Kept for the next try (in 30 s), not deleted as a routine event is.
        assert agent.outbox.depth == 1
        assert agent.outbox.pending(critical=True, after_seq=0, limit=5)[0].topic is EVENTS_KIND
    finally:
        agent.stop()
        hub.stop()


def test_a_kit_on_mqtt_311_sends_help_on_events(
    tmp_path: Path, mosquitto: Mosquitto, mock_factory: MockFactory
) -> None:
    # No PUBACK reason codes in 3.1.1: the kit could not tell that nobody hears `urgent`.
    hub, agent = _start(tmp_path, mosquitto, mock_factory, [EVENTS, URGENT], protocol="3.1.1")
    try:
        _press(mock_factory)
        wait_until(lambda: "help_button" in hub.kinds_on(EVENTS), 10, "the press on events")
        assert hub.kinds_on(URGENT) == []
    finally:
        agent.stop()
        hub.stop()


def test_a_press_an_earlier_build_stored_as_urgent_falls_back_like_any_other(
    tmp_path: Path, mosquitto: Mosquitto, mock_factory: MockFactory
) -> None:
    # An outbox row with topic `urgent` (a build that stored the topic it meant to use): with
    # no hub reading `urgent` it must go on `events` too, not again and again on `urgent`.
    hub, agent = _start(tmp_path, mosquitto, mock_factory, [EVENTS])
    try:
        assert agent.outbox is not None and agent.link is not None
        outbox = agent.outbox

        def build(seq: int) -> tuple[TopicKind, bytes]:
            press = make_event(kit=KIT, epoch=outbox.epoch, seq=seq, sensor="help",
                               kind=SensorKind.HELP_BUTTON, value="pressed",
                               ts=datetime.now(UTC))  # fmt: skip
            return TopicKind.URGENT, encode(press)

        outbox.append(build, critical=True, now=datetime.now(UTC), sensor="help")
        agent.link.wake()
        wait_until(lambda: "help_button" in hub.kinds_on(EVENTS), 10, "the press on events")
        wait_until(lambda: outbox.depth == 0, 10, "acknowledged and deleted")
        assert agent.link.urgent_fallbacks == 1
    finally:
        agent.stop()
        hub.stop()
