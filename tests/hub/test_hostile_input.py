"""Issue #10, findings 1, 4 and 6, through the real parts: a real Mosquitto, the hub started as
the operator starts it (`mehr hub --config`), a kit publishing with its own broker credentials.

1: one poison message (nesting 999 deep, or a 4,400-digit number) once stopped all storing for
   good and came back after every restart.
4: one event stamped far ahead silenced a home's routine check.
6: loose values (1 for a bool, NaN, year 1, Unix integers, 10^300 counters) were stored.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.persistence.sqlite_store import SqliteStore
from mehr.clock import ManualClock
from mehr.contract import SensorKind, TopicKind, topic_for
from mehr_app.services.hub_config import write_hub_config
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from simulators.hostile import wire_time
from simulators.simple_kit import SimpleKit
from tests.conftest import kit_user
from tests.hub.factories import T0
from tests.hub.one_kit import start_one_kit_hub

EVENTS = topic_for("home-1", "kit-1", TopicKind.EVENTS)
HEARTBEAT = topic_for("home-1", "kit-1", TopicKind.HEARTBEAT)


@dataclass
class HubProcess:
    """The hub as a separate process, started and restarted from one config file."""

    config: Path
    db: Path
    stats_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start `mehr hub --config` and wait until it reports healthy."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mehr_app", "hub", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )
        wait_until(lambda: self.health()[0] == 200, 20, "hub healthy")

    def stop(self) -> None:
        """Stop it the way systemd does (SIGTERM)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)

    def _get(self, path: str) -> tuple[int, dict[str, Any]]:
        url = f"http://127.0.0.1:{self.stats_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), json.loads(exc.read())
        except OSError:
            return 0, {}

    def health(self) -> tuple[int, dict[str, Any]]:
        """/healthz status and body (0 when nothing answers)."""
        return self._get("/healthz")

    def stats(self) -> dict[str, Any]:
        """/stats body."""
        return self._get("/stats")[1]


@pytest.fixture
def kit_and_hub(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> Iterator[tuple[SimpleKit, HubProcess]]:
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    mosquitto.restart()
    files = write_hub_config(tmp_path, mosquitto, hub_password)
    hub = HubProcess(files.config, files.db, files.stats_port, tmp_path / "hub.log")
    hub.start()
    kit = SimpleKit(
        "home-1", "kit-1", mosquitto.host, mosquitto.port, user.username, user.password,
        mqtt_v5=True,
    )  # fmt: skip
    kit.connect()
    yield kit, hub
    kit.close()
    hub.stop()


def _stored(db: Path) -> tuple[list[int], list[str]]:
    store = SqliteStore(db)
    try:
        return [e.seq for e in store.events("home-1")], [a.kind for a in store.alerts("home-1")]
    finally:
        store.close()


def _heartbeat_with_uptime(digits: bytes) -> bytes:
    now = wire_time(datetime.now(UTC))
    return (
        b'{"v":1,"kit":"kit-1","ts":"' + now.encode() + b'","uptime_s":' + digits
        + b',"outbox_depth":0,"dropped":0}'
    )  # fmt: skip


def test_a_poison_message_is_rejected_and_acknowledged_and_storing_goes_on(
    kit_and_hub: tuple[SimpleKit, HubProcess],
) -> None:
    kit, hub = kit_and_hub
    kit.publish_raw(EVENTS, b"[" * 999 + b"]" * 999)  # 1,998 bytes: under the size limit
    kit.publish_raw(HEARTBEAT, _heartbeat_with_uptime(b"7" * 4400))
    for i in range(199):
        kit.event("pir-kitchen", SensorKind.MOTION, i % 2 == 0)
    kit.event("help", SensorKind.HELP_BUTTON, "pressed")
    kit.flush()

    wait_until(lambda: len(_stored(hub.db)[0]) >= 200, 30, "200 valid events stored")
    seqs, alerts = _stored(hub.db)
    assert sorted(seqs) == list(range(1, 201))
    assert alerts == ["help_button"]
    stats = hub.stats()
    assert stats["rejected"] == {"number_too_long": 1, "too_deep": 1}
    assert hub.health()[0] == 200

    # Acknowledged, so the broker does not hand the poison back after a restart: a canary sent
    # while the hub is down arrives first in its session, with nothing rejected before it.
    hub.stop()
    kit.event("pir-kitchen", SensorKind.MOTION, True)
    kit.flush()
    hub.start()
    wait_until(lambda: len(_stored(hub.db)[0]) >= 201, 30, "the canary stored after restart")
    assert hub.stats()["rejected_total"] == 0
    log = hub.log.read_text()
    assert "Traceback" not in log and "RecursionError" not in log


def test_loose_values_are_rejected_by_reason_and_none_is_stored(
    kit_and_hub: tuple[SimpleKit, HubProcess],
) -> None:
    kit, hub = kit_and_hub
    now = datetime.now(UTC)

    def event(seq: int, **changes: Any) -> bytes:
        body = {
            "v": 1, "kit": "kit-1", "epoch": 7, "seq": seq, "sensor": "pir-kitchen",
            "kind": "motion", "value": True, "ts": wire_time(now), **changes,
        }  # fmt: skip
        return json.dumps(body).encode()

    loose = [
        event(1, value=1),
        event(2, value="yes"),
        event(3, ts="0001-01-01T00:00:00Z"),
        event(4, ts="9999-12-31T23:59:59Z"),
        event(5, ts=int(now.timestamp())),
        event(6, kind="temperature", value=21.0).replace(b"21.0", b"NaN"),
        event(7, kind="battery", value=50.0).replace(b"50.0", b"Infinity"),
        event(8, ts=wire_time(now + timedelta(hours=35))),
    ]
    for payload in loose:
        kit.publish_raw(EVENTS, payload)
    kit.publish_raw(HEARTBEAT, _heartbeat_with_uptime(b"1" + b"0" * 300))
    beat = json.loads(_heartbeat_with_uptime(b"5"))
    kit.publish_raw(HEARTBEAT, json.dumps({**beat, "outbox_depth": 10**30}).encode())
    kit.event("pir-kitchen", SensorKind.MOTION, True)  # a valid one after them
    kit.flush()

    wait_until(lambda: len(_stored(hub.db)[0]) >= 1, 30, "the valid event stored")
    wait_until(lambda: hub.stats().get("rejected_total") == 10, 10, "ten rejects counted")
    stats = hub.stats()
    assert stats["rejected"] == {
        "clock_ahead": 1,
        "invalid_payload": 6,
        "not_finite": 2,
        "number_too_long": 1,
    }
    assert stats["rejected_by_kit"] == {"kit-1": {"clock_ahead": 1}}
    store = SqliteStore(hub.db)
    try:
        (stored,) = store.events("home-1")
    finally:
        store.close()
    assert stored.epoch == kit.epoch and stored.value is True
    # Latency is measured against the kit's own clock: with nonsense times refused it means
    # something again (the issue measured a p50 of 514,003 s).
    assert 0 <= stats["ingest_latency"]["p50_ms"] < 60_000


def test_a_kit_clock_far_ahead_cannot_silence_the_home(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    # In-process hub on a manual clock (the only way to let five quiet hours pass in a test),
    # with the real broker and a kit publishing through it on the same clock.
    clock = ManualClock(T0)
    hub, kit, db = start_one_kit_hub(
        tmp_path, mosquitto, hub_password, clock=clock, ingest_stall_s=120  # the default
    )
    try:
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        kit.connect()
        kit.event("pir-kitchen", SensorKind.MOTION, True)
        kit.event("pir-kitchen", SensorKind.MOTION, True, ts=T0 + timedelta(hours=35))
        kit.event("pir-bath", SensorKind.MOTION, True, ts=datetime(2099, 1, 1, tzinfo=UTC))
        kit.flush()
        wait_until(lambda: hub.stats.get("stored") >= 1, 15, "the honest event stored")
        wait_until(lambda: hub.stats.rejected() == 2, 15, "two rejects")
        assert hub.stats.rejected_of_kit("kit-1") == {"clock_ahead": 2}
        assert _stored(db)[0] == [1]
        clock.advance(timedelta(hours=5))  # 16:00 local: five quiet hours by day
        hub.tick()
        assert "unusual_inactivity" in _stored(db)[1]
    finally:
        kit.close()
        hub.stop()


def test_an_event_stored_in_the_future_before_the_fix_does_not_hide_a_silence(
    tmp_path: Path,
) -> None:
    # A database from before time sanity: an event stamped 2099 is already in it. The routine
    # check reads activity only up to the clock's now, so the silence is still seen.
    from hub.routine_scan import RoutineScanner
    from hub.stats import HubStats
    from hub.store.base import NewEvent
    from tests.hub.factories import home_spec

    store = SqliteStore(tmp_path / "hub.db")
    store.register_home(home_spec(), T0)
    future = datetime(2099, 1, 1, tzinfo=UTC)
    store.store_events(
        [
            NewEvent("home-1", "kit-1", 1, 1, "pir-kitchen", "motion", True, "Kitchen", T0, T0),
            NewEvent("home-1", "kit-1", 1, 2, "pir-bath", "motion", True, "Bathroom", future, T0),
        ],
        T0,
    )
    store.commit()
    clock = ManualClock(T0 + timedelta(hours=5))
    raised = RoutineScanner(store, clock, HubStats()).scan()
    assert "unusual_inactivity" in [a.kind for a in raised]
    store.close()


def test_a_sensor_state_stamped_in_the_future_gives_way_to_the_next_real_event(
    tmp_path: Path,
) -> None:
    from hub.store.base import NewEvent
    from tests.hub.factories import home_spec

    store = SqliteStore(tmp_path / "hub.db")
    store.register_home(home_spec(), T0)
    future = datetime(2099, 1, 1, tzinfo=UTC)
    later = T0 + timedelta(hours=1)
    store.store_events(
        [NewEvent("home-1", "kit-1", 1, 1, "pir-kitchen", "motion", True, "Kitchen", future, T0)],
        T0,
    )
    real = NewEvent("home-1", "kit-1", 1, 2, "pir-kitchen", "motion", False, "Kitchen", later, T0)
    store.store_events([real], later)
    store.commit()
    (state,) = store.sensor_states("home-1")
    assert (state.occurred_at, state.value) == (later, False)
    store.close()
