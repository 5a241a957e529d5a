"""The hub's urgent lane: a help press reaches the hub while its main connection is behind.

When the hub stores routine traffic slower than it arrives, the broker holds the rest in the
hub's queue, and a press published after it waits there (at 100,000 homes in bench/capacity.py:
help p99 239 s). With `mqtt_urgent_username` the hub keeps a second connection with a queue of
its own that lets routine copies go at once and keeps help, "I'm OK", falls and accelerometer
windows: the press is stored and raised while the main connection is still stuck.

PostgreSQL, so that routine storing can be stuck on one kit's row while the press (another
kit's rows) is not: a test transaction holds the row lock of kit A's motion sensor state.
"""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.broker_auth import BrokerUser, hub_acl_rules
from hub.config import HubSettings, MqttProtocol
from hub.mqtt_link import MqttLink
from hub.service import Hub
from mehr.contract import SensorKind, urgent_lane_subscriptions
from mehr_app.services.hub_config import write_registry
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import HUB_USER, kit_user
from tests.support.mqtt_clients import v5_client
from tests.support.postgres import PostgresServer

LANE_USER = "mehr-hub-urgent"
ROUTINE_EVENTS = 60  # far more than the stuck writer, the inbox and paho's hand hold


@pytest.mark.parametrize("link_process", [False, True], ids=["in-process", "link-process"])
def test_a_press_is_raised_through_the_urgent_lane_while_routine_storing_is_stuck(
    tmp_path: Path,
    mosquitto: Mosquitto,
    hub_password: str,
    postgres_server: PostgresServer,
    link_process: bool,
) -> None:
    url = postgres_server.fresh_database()
    users = {kit: kit_user(home, kit) for home, kit in (("home-a", "kit-a"), ("home-b", "kit-b"))}
    for user in users.values():
        mosquitto.add_user(user)
    mosquitto.add_user(BrokerUser(LANE_USER, hub_password, hub_acl_rules()))
    mosquitto.restart()
    hub = Hub(
        HubSettings(
            mqtt_url=mosquitto.url,
            mqtt_username=HUB_USER,
            mqtt_password=hub_password,
            mqtt_urgent_username=LANE_USER,  # None: the press waits for the lock (fails below)
            mqtt_protocol=MqttProtocol.V5,
            database_url=url,
            registry_file=write_registry(
                tmp_path / "registry.yaml", [("home-a", "kit-a"), ("home-b", "kit-b")]
            ),
            stats_port=0,
            scan_interval_s=3600,
            ingest_stall_s=3600,
            link_process=link_process,
            # The broker sends the main connection at most this many unacknowledged messages:
            # with storing stuck, the press waits at the broker behind routine traffic, and only
            # the lane can bring it (the link process's queues and pipes would otherwise take
            # in all 60 and the press with them).
            receive_maximum=20,
            inbox_max=10,
            batch_max=5,
        )
    )
    hub.start()
    kits = {
        kit: SimpleKit(
            home, kit, mosquitto.host, mosquitto.port, users[kit].username, users[kit].password,
            mqtt_v5=True,
        )
        for home, kit in (("home-a", "kit-a"), ("home-b", "kit-b"))
    }  # fmt: skip
    blocker = psycopg.connect(url, autocommit=True)
    try:
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        assert hub.urgent_lane is not None
        wait_until(hub.urgent_lane.connected.is_set, 10, "urgent lane connected")
        assert hub.health()["problems"] == []
        for kit in kits.values():
            kit.connect()
        kits["kit-a"].event("pir-kitchen", SensorKind.MOTION, True)
        kits["kit-a"].flush()
        wait_until(lambda: hub.stats.get("stored") >= 1, 20, "kit A's sensor state exists")
        stored_before = hub.stats.get("stored")
        # Routine storing gets stuck on kit A's sensor row and the hub falls behind.
        blocker.execute("BEGIN")
        blocker.execute(
            "SELECT * FROM sensor_state WHERE kit_id = 'kit-a' AND sensor_id = 'pir-kitchen' "
            "FOR UPDATE"
        )
        for i in range(ROUTINE_EVENTS):
            kits["kit-a"].event("pir-kitchen", SensorKind.MOTION, i % 2 == 0)
        kits["kit-a"].flush()
        wait_until(lambda: hub.stats.get("inbox_full") >= 1, 20, "the hub fell behind")
        kits["kit-b"].event("help", SensorKind.HELP_BUTTON, "pressed")
        kits["kit-b"].flush()
        wait_until(lambda: hub.stats.get("alerts_raised") >= 1, 20, "the press raised")
        assert hub.stats.get("stored") == stored_before + 1  # the press, nothing routine yet
        blocker.execute("ROLLBACK")
        wait_until(
            lambda: hub.stats.get("stored") == stored_before + ROUTINE_EVENTS + 1,
            60,
            "everything stored once the lock is gone",
        )
        assert hub.stats.get("alerts_raised") == 1  # the press once, though it came twice
        hub.urgent_lane.stop()  # the lane lost: the supervisor hears of it
        assert "urgent_lane_disconnected" in hub.health()["problems"]
    finally:
        blocker.close()
        for kit in kits.values():
            kit.close()
        hub.stop()
    assert hub.stats.rejected() == 0


@pytest.mark.parametrize("reads_events", [False, True], ids=["urgent-only", "reads-events"])
def test_the_lane_reads_events_only_when_told_and_drops_an_older_sessions_filter(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, reads_events: bool
) -> None:
    kit = kit_user("home-a", "kit-a")
    for user in (kit, BrokerUser(LANE_USER, hub_password, hub_acl_rules())):
        mosquitto.add_user(user)
    mosquitto.restart()
    # The lane's persistent session as an earlier release left it: subscribed to `events`.
    old = v5_client(BrokerUser(LANE_USER, hub_password, hub_acl_rules()))
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    old.connect(mosquitto.host, mosquitto.port, clean_start=False, properties=props)
    old.loop_start()
    subscribed = threading.Event()
    old.on_subscribe = lambda *_: subscribed.set()
    old.subscribe(urgent_lane_subscriptions(reads_events=True)[-1], qos=1)
    wait_until(subscribed.is_set, 10, "the old lane's subscription")
    old.disconnect()
    old.loop_stop()

    hub = Hub(
        HubSettings(
            mqtt_url=mosquitto.url, mqtt_username=HUB_USER, mqtt_password=hub_password,
            mqtt_urgent_username=LANE_USER, urgent_lane_reads_events=reads_events,
            mqtt_protocol=MqttProtocol.V5, db_path=tmp_path / "hub.db",
            registry_file=write_registry(tmp_path / "registry.yaml", [("home-a", "kit-a")]),
            stats_port=0, scan_interval_s=3600, link_process=False,
        )
    )  # fmt: skip
    hub.start()
    sender = SimpleKit("home-a", "kit-a", mosquitto.host, mosquitto.port, kit.username,
                       kit.password, mqtt_v5=True)  # fmt: skip
    try:
        lane = hub.urgent_lane
        assert isinstance(lane, MqttLink)
        wait_until(lane.connected.is_set, 10, "urgent lane connected")
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        sender.connect()
        for i in range(5):
            sender.event("pir-kitchen", SensorKind.MOTION, i % 2 == 0)
        sender.event("help", SensorKind.HELP_BUTTON, "pressed")  # on `urgent`, after them
        sender.flush()
        # Both copies of the press are in (one a duplicate): the lane has had, in order, every
        # routine copy the broker was ever going to send it.
        wait_until(lambda: hub.stats.get("duplicates") >= 1, 20, "the press over both")
        wait_until(lambda: hub.stats.get("stored") == 6, 20, "every event stored once")
        assert lane.routine_let_go == (5 if reads_events else 0)
    finally:
        sender.close()
        hub.stop()
