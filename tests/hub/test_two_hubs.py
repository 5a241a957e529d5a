"""Two hub processes on one database and one broker; one is SIGKILLed while kits publish.

Real parts: Mosquitto on loopback (each hub its own client id and persistent session), the
hub as a process (`mehr hub`) twice on one SQLite file, kits with their own broker users, and
a webhook receiver on loopback standing for the workers' phones. Every event is stored once,
every help press is alerted once, no step reaches a person twice, and the dead hub's homes
are taken over within the lease bound (ttl + renew) and their new presses notified.

The database and broker are parameters of `run_two_hubs` (the settings each hub gets), so the
same scenario can run on PostgreSQL and a RabbitMQ cluster when the hub runs there.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.broker_auth import BrokerUser, hub_acl_rules
from hub.coordination import partition_of
from hub.persistence.database import open_connection
from mehr.contract import SensorKind
from mehr_app.services.alerts_config import two_step_alerts
from mehr_app.services.http_sink import HttpSink
from mehr_app.services.hub_config import write_registry
from mehr_app.services.mosquitto import HUB_USER, Mosquitto
from mehr_app.services.ports import free_port
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import kit_user

HOMES = 16
EVENTS_PER_KIT = 40
TTL_S, RENEW_S = 6.0, 2.0
PARTITIONS = 64
_HOME = re.compile(rb"home-\d+")
_LOGGER = logging.getLogger(__name__)

# The hubs' shared database: a SQLite file, or a PostgreSQL URL.
Database = Path | str


def _alerts_yaml(path: Path, sink: HttpSink) -> Path:
    """Step 0 to the on-call worker, step 1 two seconds later to the duty officer; no
    re-notify: every request a person gets is one step of one alert."""
    path.write_text(yaml.safe_dump(two_step_alerts(sink.port, 2, "Two hubs")))
    return path


@dataclass
class HubProcess:
    """One `mehr hub` process and where to reach it."""

    hub_id: str
    config: Path
    stats_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mehr_app", "hub", "--config", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.stats_port}/healthz"
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Outcome:
    """What the scenario measured."""

    published: dict[str, int] = field(default_factory=dict)
    presses_before_kill: list[str] = field(default_factory=list)
    presses_after_kill: list[str] = field(default_factory=list)
    takeover_s: float = 0.0
    press_to_notification_s: list[float] = field(default_factory=list)


def _holders(db: Database) -> dict[int, str]:
    conn = open_connection(db)
    try:
        now = time.time()
        rows = conn.execute("SELECT partition_no, holder, expires_at FROM hub_leases").fetchall()
    finally:
        conn.close()
    return {int(p): str(h) for p, h, until in rows if until > now}


def _requests_for(sink: HttpSink, path: str, home: str) -> int:
    return sum(
        1
        for r in list(sink.requests)
        if r.path == path and home.encode() in _HOME.findall(r.body)
    )


def start_two_hubs(
    workdir: Path,
    hub_settings: dict[str, Any],
    homes: list[tuple[str, str]],
    db: Database,
    per_hub: dict[str, dict[str, Any]],
    started: list[HubProcess],
) -> tuple[HubProcess, HubProcess, dict[str, str]]:
    """Start hubs a then b on `hub_settings` (database, broker) plus `per_hub[hub_id]` (each
    hub's broker user) and wait until they share the partitions; return them and which hub
    each home belongs to. Each is added to `started` as it starts (the caller stops them, even
    when a wait here fails)."""
    registry = write_registry(workdir / "reg.yaml", homes)
    hubs = []
    for hub_id in ("hub-a", "hub-b"):
        port = free_port()
        config = workdir / f"{hub_id}.yaml"
        settings = {
            **hub_settings,
            "registry_file": str(registry),
            "stats_port": port,
            "hub_id": hub_id,
            "lease_partitions": PARTITIONS,
            "lease_ttl_s": TTL_S,
            "lease_renew_s": RENEW_S,
            **per_hub.get(hub_id, {}),
        }
        config.write_text(yaml.safe_dump(settings))
        hubs.append(HubProcess(hub_id, config, port, workdir / f"{hub_id}.log"))
    a, b = hubs
    a.start()
    started.append(a)
    wait_until(a.healthy, 30, "hub a connected")
    b.start()
    started.append(b)
    wait_until(b.healthy, 30, "hub b connected")
    # Balanced: each holds half the partitions (b claims what a hands over).
    wait_until(
        lambda: sorted(_holders(db).values()).count("hub-b") == PARTITIONS // 2,
        30, "partitions shared between the two hubs",
    )
    holders = _holders(db)
    return a, b, {home: holders[partition_of(home, PARTITIONS)] for home, _ in homes}


def _connect_kits(
    homes: list[tuple[str, str]], broker: tuple[str, int], users: dict[str, tuple[str, str]]
) -> dict[str, SimpleKit]:
    kits = {}
    for home, kit_id in homes:
        username, password = users[kit_id]
        kit = SimpleKit(home, kit_id, *broker, username, password, mqtt_v5=True)
        kit.connect()
        kits[home] = kit
    return kits


def _kill(hub: HubProcess) -> float:
    """SIGKILL the hub; return when (monotonic)."""
    assert hub.process is not None
    os.kill(hub.process.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    hub.process.wait(timeout=10)
    return killed_at


def run_two_hubs(
    workdir: Path, hub_settings: dict[str, Any], kit_broker: tuple[str, int],
    kit_users: dict[str, tuple[str, str]], db: Database, sink: HttpSink,
    per_hub: dict[str, dict[str, Any]], started: list[HubProcess],
) -> Outcome:
    """Start hubs a and b on `hub_settings` (database, broker), let kits publish, press help in
    homes of both, SIGKILL b, press help in b's homes again; return what happened."""
    homes = [(f"home-{i:02d}", f"kit-{i:02d}") for i in range(HOMES)]
    _, b, owner = start_two_hubs(workdir, hub_settings, homes, db, per_hub, started)
    outcome = Outcome()
    kits = _connect_kits(homes, kit_broker, kit_users)
    of_a = [h for h, _ in homes if owner[h] == "hub-a"]
    of_b = [h for h, _ in homes if owner[h] == "hub-b"]
    assert len(of_a) >= 3 and len(of_b) >= 3, owner
    # Phase 1: routine traffic from every kit, and a help press in homes of both hubs.
    for n in range(EVENTS_PER_KIT):
        for kit in kits.values():
            kit.event("pir-kitchen", SensorKind.MOTION, n % 2 == 0)
    for home in of_a[:2] + of_b[:2]:
        kits[home].event("help", SensorKind.HELP_BUTTON, "pressed")
        outcome.presses_before_kill.append(home)
    for kit in kits.values():
        kit.flush()
    # b is killed while it may still be storing, adopting or sending any of that.
    killed_at = _kill(b)
    # Phase 2: the kits go on; the dead hub's homes press help again (new homes of b's).
    for n in range(EVENTS_PER_KIT // 2):
        for kit in kits.values():
            kit.event("door-front", SensorKind.DOOR, "open" if n % 2 == 0 else "closed")
    pressed_at: dict[str, float] = {}
    for home in of_b[2:4]:
        kits[home].event("help", SensorKind.HELP_BUTTON, "pressed")
        pressed_at[home] = time.monotonic()
        outcome.presses_after_kill.append(home)
    for kit in kits.values():
        kit.flush()
    wait_until(
        lambda: set(_holders(db).values()) == {"hub-a"} and len(_holders(db)) == PARTITIONS,
        60, "hub a holds every partition",
    )
    outcome.takeover_s = time.monotonic() - killed_at
    for home, at in pressed_at.items():
        def notified(h: str = home) -> bool:
            return _requests_for(sink, "/sw", h) >= 1

        wait_until(notified, 60, f"{home} notified")
        outcome.press_to_notification_s.append(time.monotonic() - at)
    outcome.published = {home: kit.seq for home, kit in kits.items()}
    for kit in kits.values():
        kit.close()
    return outcome


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_hubs_store_once_alert_once_and_take_over_a_killed_hubs_homes(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, backend: str,
    request: pytest.FixtureRequest,
) -> None:
    users = {f"kit-{i:02d}": kit_user(f"home-{i:02d}", f"kit-{i:02d}") for i in range(HOMES)}
    for user in users.values():
        mosquitto.add_user(user)
    per_hub = _hub_users(mosquitto)
    mosquitto.restart()
    sink = HttpSink()
    sink.start()
    db: Database = tmp_path / "hub.db"
    if backend == "postgresql":
        db = request.getfixturevalue("postgres_server").fresh_database()
    settings = _hub_settings(
        mosquitto, hub_password, db, _alerts_yaml(tmp_path / "alerts.yaml", sink)
    )
    kit_users = {kit: (u.username, u.password) for kit, u in users.items()}
    started: list[HubProcess] = []
    try:
        outcome = run_two_hubs(
            tmp_path, settings, (mosquitto.host, mosquitto.port), kit_users, db, sink, per_hub,
            started,
        )
        pressed = outcome.presses_before_kill + outcome.presses_after_kill
        # Every alert's second step (the duty officer, 2 s after the first) has gone out.
        wait_until(
            lambda: all(_requests_for(sink, "/duty", h) >= 1 for h in pressed),
            60, "every alert reached its second step",
        )
        wait_until(lambda: _stored(db) >= sum(outcome.published.values()), 60, "all stored")
    finally:
        for hub in started:
            hub.stop()
        sink.stop()

    conn = open_connection(db)
    try:
        per_kit = dict(conn.execute("SELECT home_id, COUNT(*) FROM events GROUP BY home_id"))
        assert per_kit == outcome.published, "every event stored exactly once"
        alerts = conn.execute(
            "SELECT home_id, count FROM alerts WHERE kind = 'help_button' ORDER BY home_id"
        ).fetchall()
        assert sorted(h for h, _ in alerts) == sorted(pressed), "one alert per press"
        assert all(count == 1 for _, count in alerts)
        attempts = conn.execute(
            "SELECT n.person_id, a.home_id, COUNT(d.id), MAX(d.outcome) FROM alert_notifications n "
            "JOIN alerts a ON a.id = n.alert_id LEFT JOIN alert_delivery_attempts d "
            "ON d.notification_id = n.id GROUP BY n.id, n.person_id, a.home_id"
        ).fetchall()
    finally:
        conn.close()
    for person, home, tries, last in attempts:
        assert tries == 1, f"{person} of {home}: {tries} attempts (a step claimed twice?)"
        received = _requests_for(sink, f"/{person}", home)
        if last == "sent":
            assert received == 1, f"{person} of {home}: {received} messages for one step"
        else:  # the killed hub's send: outcome unknown, never repeated
            assert last == "unknown" and received <= 1
    for home in pressed:
        assert _requests_for(sink, "/duty", home) == 1
    for home in outcome.presses_after_kill:
        assert _requests_for(sink, "/sw", home) == 1
    bound = TTL_S + RENEW_S
    # From the kill: b renewed at most RENEW_S before it, so the bound holds from the kill too;
    # 3 s more for a loaded 2-core machine's threads (the measured value is printed).
    _LOGGER.warning(
        "two hubs: takeover %.1f s (bound %.0f s), press to notification after the kill %s s",
        outcome.takeover_s, bound, [round(s, 1) for s in outcome.press_to_notification_s],
    )
    assert outcome.takeover_s <= bound + 3.0
    _kept_their_sessions(tmp_path)
    assert "Traceback" not in (tmp_path / "hub-a.log").read_text()


def _stored(db: Database) -> int:
    conn = open_connection(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def _hub_users(mosquitto: Mosquitto) -> dict[str, dict[str, Any]]:
    """A broker user per hub, named as its client id: the shipped Mosquitto config makes every
    client id its username (use_username_as_clientid), so two hubs on one user would share one
    session and knock each other off in turn."""
    per_hub = {}
    for hub_id in ("hub-a", "hub-b"):
        user = BrokerUser(f"mehr-hub-{hub_id}", secrets.token_urlsafe(16), hub_acl_rules())
        mosquitto.add_user(user)
        per_hub[hub_id] = {"mqtt_username": user.username, "mqtt_password": user.password}
    return per_hub


def _kept_their_sessions(workdir: Path) -> None:
    """Neither hub was knocked off the broker (what sharing one client id does)."""
    for hub_id in ("hub-a", "hub-b"):
        lines = (workdir / f"{hub_id}.log").read_text().splitlines()
        dropped = [
            line for line in lines
            if "disconnected from broker" in line and "Normal disconnection" not in line
        ]
        assert not dropped, f"{hub_id} lost its broker connection: {dropped[:3]}"


def _hub_settings(
    mosquitto: Mosquitto, hub_password: str, db: Database, alerts: Path
) -> dict[str, Any]:
    return {
        **({"database_url": db} if isinstance(db, str) else {"db_path": str(db)}),
        "mqtt_url": mosquitto.url,
        "mqtt_username": HUB_USER,
        "mqtt_password": hub_password,
        "mqtt_protocol": "5",
        "alerts_config": str(alerts),
        "alerts_secret": secrets.token_urlsafe(48),
        "public_base_url": "https://mehr.test",
        "scan_process": False,
    }


@pytest.mark.slow
def test_a_step_the_killed_hub_was_sending_is_not_sent_again_by_the_hub_that_took_over(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    homes = [(f"home-{i:02d}", f"kit-{i:02d}") for i in range(8)]
    users = {kit: kit_user(home, kit) for home, kit in homes}
    for user in users.values():
        mosquitto.add_user(user)
    per_hub = _hub_users(mosquitto)
    mosquitto.restart()
    sink = HttpSink(hold_paths={"/sw"})  # the worker's phone takes the call... and hangs
    sink.start()
    db = tmp_path / "hub.db"
    alerts = _alerts_yaml(tmp_path / "alerts.yaml", sink)
    started: list[HubProcess] = []
    kits: dict[str, SimpleKit] = {}
    try:
        _, b, owner = start_two_hubs(
            tmp_path, _hub_settings(mosquitto, hub_password, db, alerts), homes, db, per_hub,
            started,
        )
        home = next(h for h, _ in homes if owner[h] == "hub-b")
        kits = _connect_kits(
            homes, (mosquitto.host, mosquitto.port),
            {k: (u.username, u.password) for k, u in users.items()},
        )
        kits[home].event("help", SensorKind.HELP_BUTTON, "pressed")
        kits[home].flush()
        # b (the home's hub) is inside the send to the worker: kill it there.
        sink.wait_for("/sw", timeout=30)
        _kill(b)
        sink.release()
        # a takes the home over, finds b's send without an outcome, does not repeat it, and
        # goes on with the next step.
        sink.wait_for("/duty", timeout=TTL_S + RENEW_S + 30)
    finally:
        for kit in kits.values():
            kit.close()
        for hub in started:
            hub.stop()
        sink.stop()
    assert sink.count("/sw") == 1, "the worker got the step once, not again after the takeover"
    assert sink.count("/duty") == 1
    conn = open_connection(db)
    try:
        outcomes = dict(
            conn.execute(
                "SELECT n.person_id, d.outcome FROM alert_notifications n "
                "JOIN alert_delivery_attempts d ON d.notification_id = n.id"
            ).fetchall()
        )
        audit = [
            r[0]
            for r in conn.execute(
                "SELECT action FROM alert_audit WHERE action = 'delivery_outcome_unknown'"
            )
        ]
    finally:
        conn.close()
    assert outcomes == {"sw": "unknown", "duty": "sent"}
    assert audit == ["delivery_outcome_unknown"]
    _kept_their_sessions(tmp_path)
