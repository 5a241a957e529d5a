"""Help never waits: through a real Mosquitto, hub and SMTP server, a help press is stored and
mailed while a routine re-learn pass is held in the middle (issue 12), and help, fall and
accelerometer messages are told apart from routine traffic before parsing."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import hub.routine_scan
from hub.config import HubSettings, MqttProtocol
from hub.persistence.sqlite_store import SqliteStore
from hub.service import Hub
from hub.store.base import NewEvent
from hub.triage import is_urgent
from mehr.contract import SensorKind, TopicKind, topic_for
from mehr_app.services.hub_config import write_registry
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.smtp_sink import SmtpSink
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import HUB_USER, kit_user
from tests.hub.alerts.test_end_to_end import SECRET, alerts_yaml
from tests.hub.factories import event_bytes, home_spec

HOMES = [("home-1", "kit-1"), ("home-2", "kit-2")]


def _history(db: Path, now: datetime, bathroom_quiet_days: int = 0) -> None:
    """Two weeks of kitchen and bathroom motion, 15 h a day up to now, for both homes; home-1's
    bathroom sensor quiet for the last `bathroom_quiet_days`."""
    store = SqliteStore(db)
    for home, kit in HOMES:
        events = []
        seq = 0
        for day in range(14, -1, -1):
            for half_hour in range(30):
                at = now - timedelta(days=day) + timedelta(minutes=30 * half_hour - 15 * 60)
                if at > now:
                    break
                seq += 1
                sensor, room = ("pir-kitchen", "Kitchen") if seq % 2 else ("pir-bath", "Bathroom")
                if home == "home-1" and sensor == "pir-bath" and day < bathroom_quiet_days:
                    sensor, room = "pir-kitchen", "Kitchen"
                events.append(NewEvent(home, kit, 1, seq, sensor, "motion", True, room, at, at))
        store.store_events(events, now)
        store.commit()
    store.close()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def hub_and_kit(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, smtp: SmtpSink
) -> Iterator[tuple[Hub, SimpleKit]]:
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    mosquitto.restart()
    settings = HubSettings(
        mqtt_url=mosquitto.url,
        mqtt_username=HUB_USER,
        mqtt_password=hub_password,
        mqtt_protocol=MqttProtocol.V5,
        db_path=tmp_path / "hub.db",
        registry_file=write_registry(tmp_path / "registry.yaml", HOMES),
        stats_port=0,
        alerts_config=alerts_yaml(tmp_path / "alerts.yaml", smtp),
        alerts_secret=SECRET,
        scan_interval_s=3600,  # the test runs the pass itself, with Hub.tick
    )
    hub = Hub(settings)
    hub.start()
    _history(settings.db_path, datetime.now(UTC))
    wait_until(hub.link.connected.is_set, 10, "hub connected")
    kit = SimpleKit(
        "home-1", "kit-1", mosquitto.host, mosquitto.port, user.username, user.password,
        mqtt_v5=True,
    )  # fmt: skip
    kit.connect()
    yield hub, kit
    kit.close()
    hub.stop()


def test_help_press_is_stored_and_mailed_while_a_relearn_pass_is_held(
    hub_and_kit: tuple[Hub, SimpleKit],
    smtp: SmtpSink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub_, kit = hub_and_kit
    learn = hub.routine_scan.learn_routine
    second_home_learning = threading.Event()
    release = threading.Event()
    learned: list[int] = []

    def held_learn(*args: Any, **kwargs: Any) -> Any:
        # The real learner; the pass stops inside the second home, after the first home's
        # routine has been written: where the old scan held the write lock until the pass end.
        learned.append(1)
        if len(learned) == 2:
            second_home_learning.set()
            release.wait(60)
        return learn(*args, **kwargs)

    monkeypatch.setattr(hub.routine_scan, "learn_routine", held_learn)
    scan_done = threading.Event()
    scan = threading.Thread(target=lambda: (hub_.tick(), scan_done.set()), daemon=True)
    scan.start()
    try:
        assert second_home_learning.wait(30), "the re-learn pass never reached the second home"
        kit.event("help", SensorKind.HELP_BUTTON, "pressed")
        mail = smtp.wait_for("sw@mehr.test", timeout=15)
        assert "Yordam tugmasi bosildi" in mail.message["Subject"]
        assert not scan_done.is_set(), "the pass was still held while the press went through"
        db = sqlite3.connect(tmp_path / "hub.db")
        kinds = [r[0] for r in db.execute("SELECT kind FROM events WHERE kind='help_button'")]
        db.close()
        assert kinds == ["help_button"]
    finally:
        release.set()
        scan.join(60)
    assert scan_done.is_set()
    assert hub_.stats.get("routines_learned") == 2


@pytest.mark.parametrize(
    ("kind", "value", "topic_kind", "urgent"),
    [
        (SensorKind.HELP_BUTTON, "pressed", TopicKind.EVENTS, True),
        (SensorKind.OK_BUTTON, "pressed", TopicKind.EVENTS, True),
        (SensorKind.FALL, "detected", TopicKind.EVENTS, True),
        (SensorKind.MOTION, True, TopicKind.EVENTS, False),
        (SensorKind.DOOR, "open", TopicKind.EVENTS, False),
        (SensorKind.HELP_BUTTON, "pressed", TopicKind.HEARTBEAT, False),
    ],
)
def test_triage_sends_help_ok_and_fall_events_down_the_urgent_path(
    kind: SensorKind, value: bool | str, topic_kind: TopicKind, urgent: bool
) -> None:
    payload = event_bytes(1, kind=kind, sensor="s1", value=value)
    assert is_urgent(topic_for("home-1", "kit-1", topic_kind), payload) is urgent


def test_triage_sends_every_accelerometer_window_down_the_urgent_path() -> None:
    assert is_urgent(topic_for("home-1", "kit-1", TopicKind.ACCEL), b"{}")


def _thread_nice_values(pid: int) -> set[int]:
    """The nice value of each thread of process `pid` (field 19 of /proc/<pid>/task/*/stat)."""
    values = set()
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        after_name = stat.read_text().rsplit(")", 1)[1].split()
        values.add(int(after_name[16]))  # fields from the 3rd on: the 19th is index 16
    return values


@pytest.mark.slow
def test_the_scan_runs_in_its_own_process_and_its_alerts_reach_the_engine(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, smtp: SmtpSink
) -> None:
    db = tmp_path / "hub.db"
    now = datetime.now(UTC)
    settings = HubSettings(
        mqtt_url=mosquitto.url,
        mqtt_username=HUB_USER,
        mqtt_password=hub_password,
        mqtt_protocol=MqttProtocol.V5,
        db_path=db,
        registry_file=write_registry(tmp_path / "registry.yaml", HOMES),
        stats_port=0,
        alerts_config=alerts_yaml(tmp_path / "alerts.yaml", smtp),
        alerts_secret=SECRET,
        scan_interval_s=0.5,
    )
    store = SqliteStore(db)
    for home, kit in HOMES:
        store.register_home(home_spec(home, kit), now)
    store.close()
    _history(db, now, bathroom_quiet_days=4)  # home-1's bathroom sensor: silent 4 days
    hub_ = Hub(settings)
    hub_.start()
    try:
        wait_until(lambda: hub_.stats.get("scans") >= 1, 60, "a scan pass reported")
        assert hub_._scan_process is not None and hub_._scan_process.pid != os.getpid()
        # Re-learning yields the CPU to ingest and the alert engine (scan_nice, default 10):
        # every thread of the scan process (on Linux nice is per thread).
        expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + settings.scan_nice)
        assert _thread_nice_values(hub_._scan_process.pid) == {expected}
        assert hub_.stats.get("routines_learned") == 2
        mail = smtp.wait_for("sw@mehr.test", timeout=30)
        assert "Hammom" in mail.body  # the room in the worker's language (uz)
        conn = sqlite3.connect(db)
        (state,) = conn.execute(
            "SELECT state FROM alerts WHERE kind='sensor_silent' AND home_id='home-1'"
        ).fetchone()
        conn.close()
        assert state in ("notified", "raised")
    finally:
        hub_.stop()
    assert not hub_._scan_process.alive()
