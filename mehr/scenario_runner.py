"""Run a scenario end to end: a broker, a real hub and the simulated homes on one virtual clock.

This module sits at the CLI level: it may import the hub and the simulators (the simulators
themselves reach the hub only over MQTT). The hub and every simulated kit share a ManualClock;
time moves as fast as the CPU allows, and the alerts the hub stored are compared with the
scenario's expectations.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hub.config import HubSettings, MqttProtocol
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.service import Hub
from hub.store.sqlite import SqliteStore
from mehr.clock import ManualClock
from simulators.drive import DriveStats, ScenarioDriver, utc
from simulators.home import HomeLayout
from simulators.scenario import AlertSeen, Scenario, Verdict, build, judge, load_scenario
from simulators.simple_kit import SimpleKit

__all__ = [
    "BrokerAccess",
    "ScenarioReport",
    "format_report",
    "home_spec",
    "hub_capabilities",
    "local_broker",
    "missing_capabilities",
    "run_scenario",
]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerAccess:
    """How the hub and the kits reach the broker."""

    host: str
    port: int
    v5: bool = True
    hub_username: str | None = None
    hub_password: str | None = None
    # kit id -> (username, password); None: the kits connect without credentials.
    kit_credentials: Callable[[str], tuple[str | None, str | None]] | None = None

    @property
    def url(self) -> str:
        """mqtt:// URL of the broker."""
        return f"mqtt://{self.host}:{self.port}"


@dataclass
class ScenarioReport:
    """What a scenario run found."""

    name: str
    verdict: Verdict | None
    skipped: str | None = None
    sent: DriveStats | None = None
    alerts: list[AlertSeen] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """True when skipped or every expectation met without unexpected alerts."""
        return self.skipped is not None or (self.verdict is not None and self.verdict.passed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        out: dict[str, Any] = {"scenario": self.name, "seconds": round(self.seconds, 2)}
        if self.skipped:
            out["skipped"] = self.skipped
            return out
        if self.verdict is not None:
            out.update(self.verdict.to_dict())
        if self.sent is not None:
            out["sent"] = {
                "events": self.sent.events,
                "heartbeats": self.sent.heartbeats,
                "power_cuts": self.sent.power_cuts,
            }
        return out


def home_spec(layout: HomeLayout) -> HomeSpec:
    """The hub registry entry of a simulated home."""
    sensors = [SensorSpec(id=s.id, kind=s.contract_kind, room=s.room) for s in layout.sensors]
    # A kit reports battery levels from battery-powered sensors under the same id.
    return HomeSpec(
        id=layout.home_id,
        name=layout.name,
        timezone=layout.timezone,
        mahalla=layout.mahalla,
        kits=[KitSpec(id=layout.kit_id, sensors=sensors)],
    )


def hub_capabilities() -> set[str]:
    """What this hub can raise. `Hub.capabilities` when the hub declares it, else detected."""
    declared = getattr(Hub, "capabilities", None)
    if declared is not None:
        return {str(c) for c in declared} | {"event_rules"}
    caps = {"event_rules"}
    from hub import rules

    # The hub classifies accelerometer windows since EventRules (commit 035d47f).
    if hasattr(rules, "EventRules"):
        caps.add("accel_classification")
    return caps


def missing_capabilities(scenario: Scenario) -> list[str]:
    """What the scenario requires that this hub cannot do yet."""
    have = hub_capabilities()
    return [c for c in scenario.requires if c not in have]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def local_broker(workdir: Path) -> Iterator[BrokerAccess]:
    """A throwaway broker on loopback: Mosquitto when installed, else the embedded amqtt."""
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if binary is None:
        from hub.embedded_broker import EmbeddedBroker

        broker = EmbeddedBroker()
        broker.start()
        try:
            yield BrokerAccess(broker.host, broker.port, v5=False)  # amqtt speaks 3.1.1 only
        finally:
            broker.stop()
        return
    port = _free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
        "max_queued_messages 1000000\nmax_inflight_messages 1000\n"
        f"log_dest file {workdir}/mosquitto.log\n"
    )
    proc = subprocess.Popen(  # noqa: S603 - a fixed binary and our own config file
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"mosquitto did not start (see {workdir}/mosquitto.log)"
                    ) from None
                time.sleep(0.02)  # waiting for a real process to listen
        yield BrokerAccess("127.0.0.1", port, v5=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.001)  # the hub works in its own threads; this only yields to them


def run_scenario(
    scenario: Scenario | Path,
    broker: BrokerAccess,
    workdir: Path | None = None,
    progress: bool = False,
) -> ScenarioReport:
    """Run one scenario through `broker` and a real hub; skipped if the hub lacks a capability."""
    base = Path()
    if isinstance(scenario, Path):
        base = scenario.resolve().parent
        scenario = load_scenario(scenario)
    missing = missing_capabilities(scenario)
    if missing:
        return ScenarioReport(
            scenario.name,
            None,
            skipped=f"the hub cannot raise this yet: needs {', '.join(missing)}",
        )
    started = time.monotonic()
    built = build(scenario, base)
    work = workdir or Path(tempfile.mkdtemp(prefix="mehr-scenario-"))
    work.mkdir(parents=True, exist_ok=True)
    registry = work / "registry.yaml"
    registry.write_text(
        yaml.safe_dump({"homes": [home_spec(lay).model_dump(mode="json") for lay in built.layouts]})
    )
    db = work / "hub.db"
    db.unlink(missing_ok=True)
    clock = ManualClock(utc(built.start_utc))
    settings = HubSettings(
        mqtt_url=broker.url,
        mqtt_username=broker.hub_username,
        mqtt_password=broker.hub_password,
        mqtt_protocol=MqttProtocol.V5 if broker.v5 else MqttProtocol.V311,
        mqtt_client_id=f"mehr-scenario-{time.monotonic_ns() % 10**9}",
        db_path=db,
        db_synchronous="NORMAL",
        registry_file=registry,
        stats_port=0,
    )
    hub = Hub(settings, clock=clock)
    hub.start()
    try:
        _wait(hub.link.connected.is_set, 15, "the hub to connect")
        tick = getattr(hub, "tick", None)

        def settle(messages: int) -> None:
            _wait(
                lambda: hub.stats.get("received") >= messages and hub.inbox.empty(),
                60,
                f"the hub to take {messages} messages",
            )
            if callable(tick):
                tick()

        def make_kit(layout: HomeLayout, epoch: int | None, seq: int) -> SimpleKit:
            user, password = (
                broker.kit_credentials(layout.kit_id) if broker.kit_credentials else (None, None)
            )
            kit = SimpleKit(
                layout.home_id,
                layout.kit_id,
                broker.host,
                broker.port,
                user,
                password,
                mqtt_v5=broker.v5,
                clock=clock,
                epoch=epoch,
            )
            kit.seq = seq
            return kit

        bar = _progress(built.end_utc - built.start_utc, scenario.name) if progress else None
        driver = ScenarioDriver(built, clock, make_kit, settle, bar.update if bar else None)
        try:
            sent = driver.run()
        finally:
            if bar is not None:
                bar.close()
    finally:
        hub.stop()  # finishes the batch in hand, so the store holds everything received
    store = SqliteStore(db)
    try:
        alerts = [AlertSeen(a.kind, a.home_id, a.raised_at.timestamp()) for a in store.alerts()]
    finally:
        store.close()
    return ScenarioReport(
        scenario.name, judge(built, alerts), None, sent, alerts, time.monotonic() - started
    )


def _progress(total_s: float, name: str) -> Any:
    from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs in the dev extra

    return tqdm(total=round(total_s), desc=name, unit="sim-s", unit_scale=True)


def format_report(report: ScenarioReport) -> str:
    """Expected against observed, one line each, for people."""
    lines = [f"scenario {report.name}"]
    if report.skipped:
        lines.append(f"  SKIPPED: {report.skipped}")
        return "\n".join(lines)
    verdict = report.verdict
    if verdict is None:
        return "\n".join([*lines, "  (not run)"])
    for o in verdict.outcomes:
        e = o.expectation
        seen = "not raised" if o.delay_s is None else f"raised after {o.delay_s / 60:.1f} min"
        mark = "ok  " if o.met else "MISS"
        lines.append(
            f"  {mark} {e.kind:<20} home {e.home or '(any)':<12} within {e.within_minutes:g} min:"
            f" {seen}"
        )
    for a in verdict.unexpected:
        lines.append(f"  UNEXPECTED {a.kind} in {a.home} at {utc(a.raised_at):%Y-%m-%d %H:%M} UTC")
    sent = report.sent
    if sent is not None:
        lines.append(
            f"  sent {sent.events} events, {sent.heartbeats} heartbeats, {sent.power_cuts} power"
            f" cuts in {report.seconds:.1f} s: {'PASS' if verdict.passed else 'FAIL'}"
        )
    return "\n".join(lines)
