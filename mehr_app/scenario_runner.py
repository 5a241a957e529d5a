"""Run a scenario end to end: a broker, a real hub and the simulated homes on one virtual clock.

This module sits at the CLI level: it may import the hub and the simulators (the simulators
themselves reach the hub only over MQTT). The hub and every simulated kit share a ManualClock;
time moves as fast as the CPU allows, and after each step `Hub.tick()` runs the routine scan and
one alert-engine pass at that moment. The alert engine runs with a district config written for
the scenario (every mahalla, an on-call worker around the clock, the documented grouping rules)
and a recording channel, so nothing leaves the machine. The alerts the hub stored are compared
with the scenario's expectations.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hub.alerts.channels import RecordingChannel
from hub.config import HubSettings, MqttProtocol
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.service import Hub
from hub.stats import HubStats
from mehr.clock import ManualClock
from mehr.configfile import DEFAULT_TIME_ZONE
from simulators.drive import DriveStats, ScenarioDriver, utc
from simulators.home import HomeLayout
from simulators.scenario import AlertSeen, Scenario, Verdict, build, judge, load_scenario
from simulators.simple_kit import SimpleKit

__all__ = [
    "BrokerAccess",
    "ScenarioReport",
    "district_config",
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
    notifications: int = 0  # messages the alert engine handed to the recording channel

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
        out["notifications"] = self.notifications
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
    """What this hub can raise (`Hub.capabilities`; the runner always enables the alert engine,
    which kit_offline and area_outage need)."""
    return {str(c) for c in Hub.capabilities}


def district_config(layouts: list[HomeLayout]) -> dict[str, Any]:
    """An alerts config for a scenario's homes: one on-call worker per mahalla around the clock.

    Grouping keeps the documented defaults (offline grace 600 s; an area outage is at least 3
    kits of a mahalla within 300 s), so the scenarios test the rules a district would run.
    Escalation steps come quickly; nobody acknowledges, which the judge does not look at.
    Contact URLs are placeholders: the runner's channel records messages and sends nothing.
    """
    mahallas = sorted({lay.mahalla for lay in layouts if lay.mahalla})
    people: list[dict[str, Any]] = [
        {"id": "supervisor", "name": "Supervisor", "methods": [{"url": "json://sim.invalid/sup"}]},
        {"id": "duty", "name": "Duty officer", "methods": [{"url": "json://sim.invalid/duty"}]},
    ]
    rotas = []
    for n, name in enumerate(mahallas):
        person = f"worker-{n + 1}"
        people.append(
            {
                "id": person,
                "name": f"On call, {name}",
                "methods": [{"url": f"json://sim.invalid/{person}"}],
            }
        )
        rotas.append({"name": name, "rota": [{"person": person, "start": "00:00", "end": "00:00"}]})
    steps = [
        {"after_s": 0, "notify": ["on_call"]},
        {"after_s": 60, "notify": ["duty_officer"]},
        {"after_s": 120, "notify": ["supervisor"]},
    ]
    return {
        "district": {
            "name": "Simulated district",
            "timezone": layouts[0].timezone if layouts else DEFAULT_TIME_ZONE,
            "supervisor": "supervisor",
            "duty_officers": [{"person": "duty", "start": "00:00", "end": "00:00"}],
        },
        "people": people,
        "mahallas": rotas,
        "homes": [{"home": lay.home_id, "resident": lay.name or lay.home_id} for lay in layouts],
        "policies": {sev: {"steps": steps} for sev in ("critical", "high", "medium", "low")},
        "grouping": {
            "offline_grace_s": 600,
            "area_outage_min_kits": 3,
            "area_outage_window_s": 300,
        },
        "delivery": {"attempts_per_method": 1, "backoff_s": [1]},
    }


def missing_capabilities(scenario: Scenario) -> list[str]:
    """What the scenario requires that this hub cannot do yet."""
    have = hub_capabilities()
    return [c for c in scenario.requires if c not in have]


class _CommitStats(HubStats):
    """HubStats that also knows how many received messages are committed.

    The ingest worker counts `received` as it reads a batch and `batches` once the batch is
    committed; it works one batch at a time, so at each `batches` every message received so far
    is in the store. The runner waits for that before it ticks, or the scan could miss the
    batch in hand.
    """

    def __init__(self) -> None:
        super().__init__()
        self.committed = 0

    def incr(self, name: str, amount: int = 1) -> None:
        """Count, and on each committed batch remember how many messages are in the store."""
        super().incr(name, amount)
        if name == "batches":
            self.committed = self.get("received")


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


def _clear_retained(broker: BrokerAccess, layouts: list[HomeLayout]) -> None:
    """Delete the retained availability a previous run left for these kits on the broker.

    The hub would otherwise receive it on subscribing, and the runner, which counts messages to
    know when the hub has caught up, would count one too many and move the clock too early.
    """
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    from mehr.contract import QOS, TopicKind, topic_for

    for lay in layouts:
        user, password = (
            broker.kit_credentials(lay.kit_id) if broker.kit_credentials else (None, None)
        )
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"scenario-clear-{lay.kit_id}",
            protocol=MQTTProtocolVersion.MQTTv5 if broker.v5 else MQTTProtocolVersion.MQTTv311,
        )
        if user:
            client.username_pw_set(user, password)
        client.connect(broker.host, broker.port)
        client.loop_start()
        try:
            info = client.publish(
                topic_for(lay.home_id, lay.kit_id, TopicKind.AVAILABILITY),
                b"",
                qos=QOS,
                retain=True,
            )
            info.wait_for_publish(10)
        finally:
            client.disconnect()
            client.loop_stop()


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
    _clear_retained(broker, built.layouts)
    settings = _scenario_settings(broker, work, built.layouts)
    clock = ManualClock(utc(built.start_utc))
    channel = RecordingChannel()
    hub = Hub(settings, clock=clock, alert_channel=channel)
    stats = hub.stats = _CommitStats()  # before start(): the ingest worker takes it from there
    hub.start()
    try:
        _wait(hub.link.connected.is_set, 15, "the hub to connect")
        bar = _progress(built.end_utc - built.start_utc, scenario.name) if progress else None
        driver = ScenarioDriver(
            built,
            clock,
            _kit_maker(broker, clock),
            _settler(stats),
            bar.update if bar else None,
            tick=lambda: _tick(hub),
        )
        try:
            sent = driver.run()
        finally:
            if bar is not None:
                bar.close()
    finally:
        hub.stop()  # finishes the batch in hand, so the store holds everything received
    alerts = _alerts_stored(settings.db_path)
    return ScenarioReport(
        scenario.name,
        judge(built, alerts),
        None,
        sent,
        alerts,
        time.monotonic() - started,
        len(channel.sent),
    )


def _scenario_settings(broker: BrokerAccess, work: Path, layouts: list[HomeLayout]) -> HubSettings:
    """The hub's settings for one run, with its registry, alerts file and a fresh database."""
    registry = work / "registry.yaml"
    registry.write_text(
        yaml.safe_dump({"homes": [home_spec(lay).model_dump(mode="json") for lay in layouts]})
    )
    alerts_file = work / "alerts.yaml"
    alerts_file.write_text(yaml.safe_dump(district_config(layouts), allow_unicode=True))
    db = work / "hub.db"
    db.unlink(missing_ok=True)
    return HubSettings(
        mqtt_url=broker.url,
        mqtt_username=broker.hub_username,
        mqtt_password=broker.hub_password,
        mqtt_protocol=MqttProtocol.V5 if broker.v5 else MqttProtocol.V311,
        mqtt_client_id=f"mehr-scenario-{time.monotonic_ns() % 10**9}",
        db_path=db,
        db_synchronous="NORMAL",
        registry_file=registry,
        stats_port=0,
        alerts_config=alerts_file,
        alerts_secret=secrets.token_urlsafe(48),  # signs links nobody follows; never stored
        # The background scan runs on wall time against the manual clock; `tick` does the work
        # at each step, so the background one only needs to stay out of the way.
        scan_interval_s=3600,
    )


def _settler(stats: _CommitStats) -> Callable[[int], None]:
    """Wait until the hub has committed `messages` (plus what it rejected)."""

    def settle(messages: int) -> None:
        _wait(
            # Retained states of other runs' kits reach the hub too; it rejects them (unknown
            # kit), so they are counted out. One of ours rejected never settles: a timeout.
            lambda: stats.committed >= messages + stats.rejected(),
            60,
            f"the hub to take {messages} messages",
        )

    return settle


def _tick(hub: Hub) -> None:
    """One scan and alert pass of the hub at the manual clock's time."""
    # AlertRunner.run_pass waits for two engine passes but wakes the loop once, so the
    # second pass only comes after the engine's idle timeout (1 s of wall time per
    # tick). Until that is fixed in hub/alerts, keep waking it while tick() waits.
    alerts = hub.alerts
    done = threading.Event()

    def nudge() -> None:
        while alerts is not None and not done.wait(0.002):
            alerts.wake()

    nudger = threading.Thread(target=nudge, name="scenario-nudge", daemon=True)
    nudger.start()
    try:
        hub.tick()
    finally:
        done.set()
        nudger.join()


def _kit_maker(
    broker: BrokerAccess, clock: ManualClock
) -> Callable[[HomeLayout, int | None, int], SimpleKit]:
    """How the driver makes (and remakes, after a power cut) a home's kit."""

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

    return make_kit


def _alerts_stored(db: Path) -> list[AlertSeen]:
    store = SqliteStore(db)
    try:
        return [AlertSeen(a.kind, a.home_id, a.raised_at.timestamp()) for a in store.alerts()]
    finally:
        store.close()


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
