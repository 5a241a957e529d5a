"""The broker connections in a process of their own (`link_process`): what they receive is
stored and acknowledged as in the hub's own process; a killed link process is started again
and nothing is lost or stored twice; a stop leaves no process behind."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from hub.config import ConfigError, HubSettings
from hub.link_process import _obey
from hub.service import Hub
from mehr.contract import SensorKind, TopicKind, topic_for
from mehr_app.services.mosquitto import Mosquitto, free_port
from mehr_app.services.wait import wait_until
from tests.hub.one_kit import operator_hub_config, start_one_kit_hub

EVENTS = 40


def _events(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def test_events_and_a_press_pass_through_the_link_process(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    hub, kit, db = start_one_kit_hub(
        tmp_path, mosquitto, hub_password, lane=True, link_process=True
    )
    try:
        assert hub.link_process is not None
        child = hub.link_process.pid
        assert child is not None and child != os.getpid()
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        assert hub.urgent_lane is not None
        wait_until(hub.urgent_lane.connected.is_set, 10, "urgent lane connected")
        assert hub.health()["problems"] == []
        kit.connect()
        for n in range(EVENTS):
            kit.event("pir-hall", SensorKind.MOTION, n % 2 == 0)
        kit.event("help", SensorKind.HELP_BUTTON, "pressed")
        kit.flush()
        wait_until(lambda: hub.stats.get("stored") == EVENTS + 1, 20, "every event stored")
        wait_until(lambda: hub.stats.get("alerts_raised") == 1, 20, "the press raised")
    finally:
        kit.close()
        hub.stop()
    assert not hub.link_process.alive()
    assert _events(db) == EVENTS + 1
    assert hub.stats.rejected() == 0


def test_a_killed_link_process_is_started_again_and_nothing_is_lost_or_doubled(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    hub, kit, db = start_one_kit_hub(
        tmp_path, mosquitto, hub_password, lane=True, link_process=True, batch_max=5
    )
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        assert hub.link_process is not None
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        kit.connect()
        # Received and waiting in the hub (storing is blocked), not acknowledged to the broker.
        blocker.execute("BEGIN IMMEDIATE")
        for n in range(EVENTS):
            kit.event("pir-hall", SensorKind.MOTION, n % 2 == 0)
        kit.flush()
        wait_until(lambda: hub.inbox.qsize() >= 1, 10, "events waiting in the hub")
        first = hub.link_process.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: not hub.link.connected.is_set(), 10, "the hub saw its link go")
        assert "broker_disconnected" in hub.health()["problems"]
        wait_until(
            lambda: hub.link_process is not None and hub.link_process.pid != first,
            10,
            "a new link process",
        )
        wait_until(hub.link.connected.is_set, 15, "hub connected again")
        # The old child's messages are stored, but their acknowledgements are not sent on the
        # new connections; the broker sends them again and the store keeps one copy.
        blocker.execute("ROLLBACK")
        for n in range(EVENTS):
            kit.event("pir-hall", SensorKind.MOTION, n % 2 == 0)
        kit.flush()
        wait_until(lambda: _events(db) == 2 * EVENTS, 30, "every event stored")
        wait_until(lambda: hub.stats.get("duplicates") >= 1, 30, "the redelivered copies seen")
    finally:
        blocker.close()
        kit.close()
        hub.stop()
    assert _events(db) == 2 * EVENTS
    assert hub.stats.rejected() == 0


def test_an_unreadable_password_file_stops_the_start_with_its_name(tmp_path: Path) -> None:
    settings = HubSettings(
        mqtt_url="mqtt://127.0.0.1:1883",
        mqtt_username="mehr-hub",
        mqtt_password_file=tmp_path / "missing.password",
        db_path=tmp_path / "hub.db",
        link_process=True,
    )
    with pytest.raises(ConfigError, match=r"mqtt_password_file: cannot read .*missing\.password"):
        Hub(settings)


def test_a_child_acknowledges_only_what_it_received_itself() -> None:
    # Packet ids are per connection: a stored message of an earlier child, acknowledged after
    # its successor started, must not acknowledge whatever the successor's id names.
    class Connection:
        def __init__(self) -> None:
            self.acked: list[tuple[int, int, int]] = []

        def ack_id(self, mid: int, qos: int, generation: int) -> None:
            self.acked.append((mid, qos, generation))

    main = Connection()
    links: Any = [main]
    assert _obey(("ack", 1, [(0, 1, 7, 1)]), links, set(), incarnation=2)
    assert main.acked == []
    assert _obey(("ack", 2, [(0, 1, 8, 1)]), links, set(), incarnation=2)
    assert main.acked == [(8, 1, 1)]
    assert not _obey(("exit",), links, set(), incarnation=2)


def test_a_command_to_a_kit_goes_out_through_the_link_process(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    hub, kit, _ = start_one_kit_hub(tmp_path, mosquitto, hub_password, link_process=True)
    got: list[bytes] = []
    subscribed = threading.Event()
    topic = topic_for("home-1", "kit-1", TopicKind.COMMANDS)
    try:
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        kit.connect()
        kit.client.on_subscribe = lambda *a: subscribed.set()
        kit.client.on_message = lambda c, u, m: got.append(bytes(m.payload))
        kit.client.subscribe(topic, qos=1)
        wait_until(subscribed.is_set, 10, "the kit subscribed to its commands")
        hub.link.publish(topic, b'{"command": "test"}')
        wait_until(lambda: got == [b'{"command": "test"}'], 10, "the command received")
    finally:
        kit.close()
        hub.stop()


def test_restarts_and_a_stop_leave_no_thread_or_process_behind(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    hub, kit, _ = start_one_kit_hub(tmp_path, mosquitto, hub_password, lane=True, link_process=True)
    link = hub.link_process
    assert link is not None
    kit.connect()
    try:
        for _ in range(2):
            wait_until(hub.link.connected.is_set, 15, "connected")
            pid = link.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: link.pid != pid, 15, "started again")  # noqa: B023
        wait_until(hub.link.connected.is_set, 15, "connected")
        # One child's relays (routine, urgent, lane, events) and the acknowledgement sender.
        wait_until(lambda: len(link.threads()) == 5, 10, "only the current child's threads")
    finally:
        kit.close()
        hub.stop()
    assert not link.alive()
    assert [t.name for t in threading.enumerate() if t.name.startswith("hub-link")] == []


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.update(int(child) for child in task.read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_hub_leaves_no_child_process_behind(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    # The operator's hub, as systemd runs it; SIGKILL gives it no chance to stop its children.
    config = operator_hub_config(
        tmp_path, mosquitto, hub_password, free_port(), link_process=True
    )
    hub = subprocess.Popen(
        [sys.executable, "-m", "mehr_app", "hub", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: set[int] = set()
    try:
        # Its scan process, its link process and multiprocessing's resource tracker.
        wait_until(lambda: len(_children(hub.pid)) >= 3, 60, "the hub's child processes")
        children = _children(hub.pid)
        hub.kill()
        hub.wait(10)
        # The link process sees its pipes close; the scan process looks for its parent every
        # second; the resource tracker ends with them.
        wait_until(
            lambda: not any(_alive(child) for child in children), 20, "its children gone"
        )
    finally:
        if hub.poll() is None:
            hub.kill()
        for child in children:
            if _alive(child):
                os.kill(child, signal.SIGKILL)
