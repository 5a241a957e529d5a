"""Capacity benchmark (issue 12): the real hub as its own process under a fleet of homes.

    .venv/bin/python bench/capacity.py --homes N [--minutes M] [--json]

What runs, all on loopback, all started and stopped here:
- Mosquitto with the shipped broker config (firmware_configs/mosquitto/mehr.conf: its queue,
  in-flight and packet limits, persistence) on a free port instead of TLS, with a password file
  and ACLs from hub/broker_auth.py: the hub's own user, and one load user that may write every
  home (one connection per kit would take 10,000 connections; see simulators/fleet.py).
- The hub exactly as an operator runs it: `mehr hub --config hub.yaml`, with the shipped
  defaults (FULL sync, batch size, receive maximum, a routine scan every 60 s) and an alerts
  config whose every contact is a json:// webhook on loopback (bench/capacity_probes.py), in a
  process of its own that timestamps each notification as it arrives.
- Before the hub starts: N homes registered, each with 15 days of history and a routine learned
  by the hub's own scanner (bench/capacity_history.py). The stored routines are dated so they
  all go stale `--relearn-after-s` into the run, as routines learned in one pass do every 6 h
  in production: the hub then re-learns every home in one pass during the run.
- The fleet model (simulators/fleet.py, `run_fleet`, two worker processes) at speed 1 on the
  wall clock for M minutes: about one event per home per 20 s while awake plus a heartbeat per
  kit per minute; and a help press every few seconds from a random home (each home at most
  once, so each press opens its own alert).

Several hubs (issue 14): `--hubs K --database postgresql --broker rabbitmq-cluster` runs the
same fleet, presses and probes against the topology of bench/hubs_cluster.py
(bench/capacity_cluster.py): PostgreSQL on loopback (fsync on) with the same homes and history
rows, the 3-node RabbitMQ cluster (MQTT 3.1.1, quorum-queue sessions) with the fleet's
connections dealt over the nodes, and K `mehr hub` processes each with its own hub_id and
leases. Every hub receives and stores every message (replicated ingest), so `stored_per_s` and
`backlog_end` are the slowest hub's, CPU and RSS the sum of all hubs (each hub's own in
`per_hub`), and `homes_per_hub` says whose leases held each home at the end.

Measured from outside: publish -> committed from the events' rows (stored_at minus the event's
own time stamp, which the fleet writes at most one 20 ms slice before publishing; stored_at is
the hub's clock when it wrote the batch, just before its COMMIT), help press -> the webhook's
arrival time, scan passes from the `scans` counter of the hub's /stats (a pass is the time
between two counts minus the 60 s wait), CPU and RSS from /proc/<hub pid>. Progress lines go
to stdout as it runs; the last line is one JSON object. Every process started here is stopped
on the way out, also on Ctrl-C or a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import yaml

# Run as a script, bench/ would be first on sys.path and bench/detectors.py would shadow the
# package; the project root goes there instead, so bench's helpers import as `bench.…`.
_ROOT = Path(__file__).resolve().parents[1]
sys.path = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

from bench import capacity_cluster  # noqa: E402
from bench.capacity_history import (  # noqa: E402 - after the sys.path fix above
    HELP_SENSOR,
    HistorySpec,
    age_scan_memory,
    expire_routines_at,
    home_ids,
    load_fleet_homes,
    prelearn_routines,
)
from bench.capacity_probes import (  # noqa: E402
    DbLatencyProbe,
    StatsProbe,
    WebhookSink,
    proc_sample,
)
from hub.broker_auth import BrokerUser, acl_text, hub_acl_rules, password_line  # noqa: E402
from hub.persistence.retention import MIGRATIONS as RETENTION_MIGRATIONS  # noqa: E402
from hub.persistence.schema_alerts import MIGRATIONS as ALERT_MIGRATIONS  # noqa: E402
from hub.persistence.schema_coordination import (  # noqa: E402
    MIGRATIONS as COORDINATION_MIGRATIONS,
)
from hub.persistence.schema_core import MIGRATIONS as CORE_MIGRATIONS  # noqa: E402
from hub.persistence.web_schema import WEB_MIGRATIONS  # noqa: E402
from hub.routine_scan import ScanSettings  # noqa: E402
from mehr.contract import TOPIC_ROOT, SensorKind, TopicKind, topic_for  # noqa: E402
from simulators.fleet import (  # noqa: E402
    TASHKENT_UTC_OFFSET_S,
    FleetResult,
    QosOnePublisher,
    event_payload,
    run_fleet,
    wire_time,
)

_LOGGER = logging.getLogger("bench.capacity")
_MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
_BROKER_CONF = _ROOT / "firmware_configs" / "mosquitto" / "mehr.conf"
# Lines of the shipped broker config that name the production machine (TLS files, system
# paths, the fixed ports): replaced by loopback equivalents; every limit is kept as shipped.
_MACHINE_KEYS = (
    "listener", "protocol", "cafile", "certfile", "keyfile", "tls_version", "password_file",
    "acl_file", "persistence_location", "log_dest", "require_certificate",
    # A listener option of the shipped listeners (dropped above). It is not carried to the
    # bench's listener: the fleet publishes for many homes through one load user over several
    # connections, which one-client-id-per-user would knock off each other (per-kit identity
    # is tested in tests/hub/test_broker_identity.py).
    "use_username_as_clientid",
)  # fmt: skip
_PRESS_EPOCH = 2  # the help presser's own outbox (the fleet publishes as epoch 1)
_HUB_USER = "mehr-hub"
_LANE_USER = "mehr-hub-urgent"
_LOAD_USER = "fleet-load"


def progress(message: str, *args: object) -> None:
    """One progress line on stdout (the JSON summary is always the last line)."""
    text = message % args if args else message
    print(f"[{datetime.now(UTC):%H:%M:%S}Z] {text}", flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile_ms(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(np.asarray(values), q, method="higher")) * 1000, 1)


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- processes ------------------------------------------------------------------------------


class Child:
    """A process started here, in its own session, stopped (then killed) on the way out."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None):
        self.name = name
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """True while it runs."""
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, wait, then SIGKILL; always closes its log."""
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    _LOGGER.warning("%s did not stop in %.0f s: killing it", self.name, timeout)
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            self._log.close()


def _broker_config(
    workdir: Path, port: int, users: list[BrokerUser], autosave_interval_s: int | None = None
) -> Path:
    """The shipped Mosquitto config, moved onto loopback `port` and into `workdir`; with
    `autosave_interval_s`, the broker snapshots on that schedule instead of after every change
    (to measure the hub rather than the broker's snapshot cost)."""
    (workdir / "passwd").write_text(
        "".join(password_line(u.username, u.password) + "\n" for u in users)
    )
    (workdir / "acl").write_text(acl_text(users))
    kept = []
    for line in _BROKER_CONF.read_text().splitlines():
        key = line.strip().lstrip("#").strip().split(" ", 1)[0]
        if key in _MACHINE_KEYS:
            continue
        if autosave_interval_s is not None and key in ("autosave_on_changes", "autosave_interval"):
            continue
        kept.append(line)
    if autosave_interval_s is not None:
        kept += ["autosave_on_changes false", f"autosave_interval {autosave_interval_s}"]
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                f"# {_BROKER_CONF.relative_to(_ROOT)} on loopback for bench/capacity.py",
                # As root, mosquitto would drop to the "mosquitto" user and could not write here.
                f"user {getpass.getuser()}",
                # The listener first: a listener option kept from the shipped file then belongs
                # to it; before any `listener` line it would make Mosquitto open its default
                # 1883 too (the run then failed whenever something else held 1883).
                f"listener {port} 127.0.0.1",
                *kept,
                f"password_file {workdir / 'passwd'}",
                f"acl_file {workdir / 'acl'}",
                f"persistence_location {workdir}/",
                f"log_dest file {workdir / 'mosquitto.log'}",
                "",
            ]
        )
    )
    return conf


def _wait_listening(port: int, child: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # waiting for a real process to listen
    raise RuntimeError(f"{child.name} did not listen on {port} within {timeout:.0f} s")


# -- configuration written for the hub ----------------------------------------------------------


def district_timezone(utc_offset_h: float) -> str:
    """The district's time zone for residents who live `utc_offset_h` hours from UTC: Tashkent
    itself, or the fixed-offset IANA zone (whose sign is inverted: Etc/GMT+7 is UTC-7)."""
    if utc_offset_h == TASHKENT_UTC_OFFSET_S / 3600:
        return "Asia/Tashkent"
    if utc_offset_h != int(utc_offset_h) or not -12 <= utc_offset_h <= 14:
        raise ValueError(f"a whole number of hours in -12..14, not {utc_offset_h}")
    return f"Etc/GMT{-int(utc_offset_h):+d}"


def _alerts_config(homes: int, webhook_url: str, timezone: str = "Asia/Tashkent") -> dict[str, Any]:
    """Every mahalla's on-call worker is one person whose only contact is the webhook."""
    mahallas = sorted({f"Mahalla {i % 40:02d}" for i in range(homes)})
    return {
        "district": {"name": "Capacity bench", "timezone": timezone, "supervisor": "sw"},
        "mahallas": [
            {"name": m, "rota": [{"person": "sw", "start": "00:00", "end": "00:00"}]}
            for m in mahallas
        ],
        "people": [
            {"id": "sw", "name": "Aziza", "languages": ["en"], "methods": [{"url": webhook_url}]}
        ],
        "homes": [
            {"home": home_ids(i)[0], "resident": f"Opa {i}", "address": home_ids(i)[0]}
            for i in range(homes)
        ],
        "policies": {
            s: {"steps": [{"after_s": 0, "notify": ["on_call"]}]}
            for s in ("critical", "high", "medium", "low")
        },
    }


def _hub_config(
    workdir: Path,
    name: str,
    connection: dict[str, Any],
    stats_port: int,
    scan_interval_s: float,
    link_process: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write `name`.yaml: `connection` (broker, database, and on a cluster the hub's id and
    leases) and what every hub of the run shares: the alerts file and its link key."""
    secret = workdir / "alerts.secret"
    if not secret.exists():  # one district, one key: every hub signs links alike
        secret.write_text(secrets.token_urlsafe(48))
    settings: dict[str, Any] = {
        **connection,
        "stats_port": stats_port,
        "alerts_config": str(workdir / "alerts.yaml"),
        "alerts_secret_file": str(secret),
        # On the run's disk for SQLite and PostgreSQL alike (--warm-start restarts from it).
        "scan_memory_file": str(workdir / f"{name}.scan-memory.npz"),
        "link_process": link_process,  # as the shipped hub.yaml sets it, unless --no-link-process
    }
    if scan_interval_s != 60.0:  # left at the shipped default unless asked (the short test)
        settings["scan_interval_s"] = scan_interval_s
    settings.update(extra or {})  # a side-by-side of one setting, as shipped unless asked
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


@dataclass
class Broker:
    """The broker the run uses: Mosquitto (one process) or the RabbitMQ cluster."""

    addresses: list[tuple[str, int]]
    load_user: str
    load_password: str
    mqtt_v5: bool
    workdir: Path
    mosquitto: Child | None = None
    hub_password: str = ""
    cluster: capacity_cluster.Cluster | None = None
    urgent_lane: bool = False
    lane_reads_events: bool = False

    def cpu_s(self) -> float | None:
        """Mosquitto's CPU seconds so far (None for the cluster, or once it has stopped)."""
        if self.mosquitto is None or not self.mosquitto.alive():
            return None
        return proc_sample(self.mosquitto.pid).cpu_s

    def hub_connection(self, index: int, database: Path | str) -> dict[str, Any]:
        """Hub `index`'s broker and database settings."""
        if self.cluster is not None:
            return capacity_cluster.cluster_hub_part(index, self.cluster, database)
        (self.workdir / "hub.password").write_text(self.hub_password)
        host, port = self.addresses[0]
        return {
            "mqtt_url": f"mqtt://{host}:{port}",
            "mqtt_username": _HUB_USER,
            "mqtt_password_file": str(self.workdir / "hub.password"),
            # As the shipped hub.yaml (the fleet's presses go on `urgent`), unless asked to
            # measure what a lane that also reads `events` costs.
            **(
                {
                    "mqtt_urgent_username": _LANE_USER,
                    "urgent_lane_reads_events": self.lane_reads_events,
                }
                if self.urgent_lane
                else {}
            ),
            **(
                {"db_path": str(database)} if isinstance(database, Path)
                else {"database_url": database}
            ),
        }  # fmt: skip

    def stop(self) -> None:
        """Stop the broker's processes."""
        if self.mosquitto is not None:
            self.mosquitto.stop()
        if self.cluster is not None:
            self.cluster.rabbit.stop()

    def log_counts(self) -> dict[str, int]:
        """Warnings in the broker's logs: Mosquitto's dropped messages; on RabbitMQ, refused
        (nacked) publishes and error lines of every node."""
        if self.cluster is None:
            return {"broker_drop_warnings": _count_lines(self.workdir / "mosquitto.log", "dropped")}
        return {
            **capacity_cluster.rabbit_log_counts(self.workdir / "rabbit"),
            # Nodes whose vhost was down after the cluster formed and was restarted before
            # the run (RabbitCluster.wait_ready).
            "broker_vhost_restarts": len(self.cluster.rabbit.vhost_restarts),
        }


def _start_broker(opts: Options, work: Path, stack: contextlib.ExitStack) -> Broker:
    """Mosquitto with the shipped config on a free port, or the 3-node RabbitMQ cluster."""
    if opts.broker == "rabbitmq-cluster":
        t0 = time.monotonic()
        cluster = stack.enter_context(capacity_cluster.rabbit_cluster(work))
        progress(
            "RabbitMQ cluster of %d nodes up in %.0f s (MQTT on %s)", len(cluster.addresses),
            time.monotonic() - t0, ", ".join(str(p) for _, p in cluster.addresses),
        )  # fmt: skip
        return Broker(
            cluster.addresses, cluster.load.username, cluster.load.password, mqtt_v5=False,
            workdir=work, cluster=cluster,
        )  # fmt: skip
    hub_password = secrets.token_urlsafe(16)
    load_password = secrets.token_urlsafe(16)
    users = [
        BrokerUser(_HUB_USER, hub_password, hub_acl_rules()),
        BrokerUser(_LOAD_USER, load_password, (f"topic write {TOPIC_ROOT}/#",)),
    ]
    if opts.urgent_lane:  # the lane's own user, the hub's password and ACL (docs/deploy.md)
        users.append(BrokerUser(_LANE_USER, hub_password, hub_acl_rules()))
    broker_port = _free_port()
    conf = _broker_config(work, broker_port, users, opts.broker_autosave_interval_s)
    mosquitto = Child("mosquitto", [_MOSQUITTO, "-c", str(conf)], work / "mosquitto.out")
    stack.callback(mosquitto.stop)
    _wait_listening(broker_port, mosquitto, 15)
    return Broker(
        [("127.0.0.1", broker_port)], _LOAD_USER, load_password, mqtt_v5=True, workdir=work,
        mosquitto=mosquitto, hub_password=hub_password, urgent_lane=opts.urgent_lane,
        lane_reads_events=opts.lane_reads_events,
    )  # fmt: skip


@dataclass
class HubProcess:
    """One `mehr hub` process of the run and the probe of its /stats."""

    name: str
    child: Child
    stats: StatsProbe
    log: Path


def _start_hub(
    opts: Options,
    work: Path,
    stack: contextlib.ExitStack,
    broker: Broker,
    database: Path | str,
    index: int,
) -> HubProcess:
    """Start hub `index` as an operator does (`mehr hub --config`); return once it is
    connected to the broker."""
    name = "hub" if broker.cluster is None else f"hub-{index}"
    stats_port = _free_port()
    hub_yaml = _hub_config(
        work, name, broker.hub_connection(index, database), stats_port, opts.scan_interval_s,
        opts.link_process, _asked_hub_settings(opts),
    )  # fmt: skip
    mehr = str(Path(sys.executable).with_name("mehr"))
    log = work / f"{name}.log"
    hub = Child(name, [mehr, "hub", "--config", str(hub_yaml)], log)
    stack.callback(hub.stop)
    stats = StatsProbe(f"http://127.0.0.1:{stats_port}/stats", hub.pid)
    deadline = time.monotonic() + (120 if broker.cluster is None else 300)
    while True:
        sample = stats.sample() if hub.alive() else None
        if sample is not None and sample[1].get("broker_connected"):
            break
        if not hub.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the hub did not come up; see {log}")
        time.sleep(0.2)  # waiting for a real process to start
    port = broker.addresses[index % len(broker.addresses)][1]  # its own node first
    progress("%s pid %d up (stats on %d), broker on %d", name, hub.pid, stats_port, port)
    return HubProcess(name, hub, stats, log)


def _warm_start(opts: Options, work: Path, broker: Broker, database: Path | str) -> float:
    """Run the hubs until each has finished a scan pass, with no fleet, then stop them as an
    operator does (SIGTERM): the run then measures hubs restarted with their scan's memory
    (hub/scan_memory.py), not a first start. Returns the longest first pass, in seconds."""
    with contextlib.ExitStack() as warm:
        hubs = [_start_hub(opts, work, warm, broker, database, j) for j in range(opts.hubs)]
        started = time.monotonic()
        # The memory is trusted for an hour (hub/scan_memory.py): a longer first pass would
        # leave nothing to go on from.
        deadline = started + 3000.0
        progress("warm start: waiting for each hub's first scan pass")
        while True:
            samples = [hub.stats.sample() if hub.child.alive() else None for hub in hubs]
            if any(s is None for s in samples) and not all(h.child.alive() for h in hubs):
                raise RuntimeError(f"a hub died in the warm start; see {work}")
            if all(s is not None and s[1].get("scans", 0) >= 1 for s in samples):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no first scan pass in the warm start; see {work}")
            time.sleep(1.0)  # waiting for a real process's pass
        first_pass_s = time.monotonic() - started - opts.scan_interval_s
        progress("warm start: first passes done after %.0f s; restarting the hubs",
                 time.monotonic() - started)  # fmt: skip
        for hub in hubs:
            hub.child.stop(timeout=120)
    return round(first_pass_s, 1)


def _evict_from_page_cache(database: Path) -> int:
    """Drop the database's pages from the machine's page cache, as a reboot or a power cut
    does: the hub's first reads of each home's index pages then come from the disk. Returns
    the bytes of the files whose pages were dropped."""
    dropped = 0
    for path in (database, database.with_name(f"{database.name}-wal")):
        if not path.exists():
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            # Only clean pages can be dropped: this file's are written out first (not the
            # machine's, as os.sync() would, holding up other processes' fsyncs meanwhile).
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        dropped += path.stat().st_size
    return dropped


def _last_sqlite_event_id(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])


# -- help presses -------------------------------------------------------------------------------


@dataclass
class Press:
    """One help press: which home, and when it was published (Unix time)."""

    home: str
    kit: str
    at: float


class Presser:
    """Presses the help button of a random home every few seconds, from its own connection."""

    def __init__(self, homes: int, broker: Broker, every_s: float, seed: int) -> None:
        self.every_s = every_s
        self.rng = np.random.default_rng([seed, 12])
        self.order = [int(i) for i in self.rng.permutation(homes)]
        host, port = broker.addresses[-1]  # on a cluster: a node other than the fleet's first
        self.pub = QosOnePublisher(
            host, port, "bench-presser", username=broker.load_user,
            password=broker.load_password, mqtt_v5=broker.mqtt_v5,
        )  # fmt: skip
        self.presses: list[Press] = []

    def run_until(self, done: threading.Event) -> None:
        """Press until `done` is set (or every home has pressed once)."""
        next_at = time.monotonic() + self.every_s * self.rng.uniform(0.5, 1.5)
        while not done.is_set() and len(self.presses) < len(self.order):
            self.pub.pump(0.05)
            if time.monotonic() < next_at:
                continue
            home, kit = home_ids(self.order[len(self.presses)])
            topic = topic_for(home, kit, TopicKind.URGENT).encode()
            now = datetime.now(UTC)
            payload = event_payload(
                kit, _PRESS_EPOCH, 1, HELP_SENSOR, SensorKind.HELP_BUTTON, "pressed",
                wire_time(now),
            )  # fmt: skip
            self.pub.publish(len(topic).to_bytes(2, "big") + topic, payload)
            self.pub.pump(0.0)
            self.presses.append(Press(home, kit, now.timestamp()))
            next_at += self.every_s * self.rng.uniform(0.5, 1.5)
        self.pub.drain(10.0)

    def close(self) -> None:
        """Disconnect."""
        self.pub.close()


def _answered_homes(notes: list[tuple[float, str]]) -> dict[str, float]:
    """Home -> arrival of the first help notification naming it."""
    first: dict[str, float] = {}
    for at, body in notes:
        try:
            text = json.loads(body).get("message", "")
        except ValueError:
            text = body
        if "Help button" not in text:
            continue
        for home in re.findall(r"fleet-\d+", text):
            first.setdefault(home, at)
    return first


def _match_help(
    presses: list[Press], notes: list[tuple[float, str]], give_up_at: float
) -> tuple[list[float], int]:
    """Press -> first help notification naming its home; a press never answered counts as
    the time waited until `give_up_at` (a lower bound). Returns latencies and how many missed."""
    first = _answered_homes(notes)
    latencies, missed = [], 0
    for press in presses:
        arrived = first.get(press.home)
        if arrived is None:
            missed += 1
            latencies.append(give_up_at - press.at)
        else:
            latencies.append(arrived - press.at)
    return latencies, missed


def _write_presses(
    path: Path, presses: list[Press], latencies: list[float], hub_up_at: float
) -> None:
    """One line per press (seconds after the hub came up, home, milliseconds to its first
    notification): when in the run the slow ones were, to read beside the hub's log."""
    with path.open("w") as out:
        for press, latency in zip(presses, latencies, strict=True):
            line = {"after_s": round(press.at - hub_up_at, 3), "home": press.home,
                    "at": press.at, "ms": round(latency * 1000, 1)}  # fmt: skip
            out.write(json.dumps(line) + "\n")


# -- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The command line."""

    homes: int
    minutes: float
    json: bool
    press_every_s: float
    relearn_after_s: float | None
    scan_interval_s: float
    history_days: float
    history_bursts_per_hour: float
    workers: int
    seed: int
    drain_s: float
    workdir: Path | None
    keep: bool
    prepared: Path | None = None
    broker_autosave_interval_s: int | None = None
    prepare_only: bool = False
    move_prepared: bool = False
    hubs: int = 1
    database: str = "sqlite"
    broker: str = "mosquitto"
    urgent_lane: bool = False
    warm_start: bool = False
    utc_offset_h: float = TASHKENT_UTC_OFFSET_S / 3600
    link_process: bool = True
    lane_reads_events: bool = False
    cold_cache: bool = False
    warm_page_readers: int | None = None
    hub_settings: dict[str, Any] = field(default_factory=dict)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _workdir(opts: Options) -> Iterator[Path]:
    path = opts.workdir or Path(tempfile.mkdtemp(prefix="mehr-capacity-"))
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    finally:
        if not opts.keep:
            shutil.rmtree(path, ignore_errors=True)


def _analyse_scans(
    stats: StatsProbe, hub_up_at: float, interval_s: float, homes: int, run_end: float
) -> dict[str, Any]:
    """Scan passes from the `scans` counter. The re-learn is the span of the passes that
    learned routines: one pass of every home on a hub that re-learns them all at once, several
    on one that spreads them (with per-home jitter some are already stale at the first pass)."""
    ends = stats.pass_ends()
    learned_at_end = {}
    for at, body, _ in stats.samples:
        learned_at_end[at] = body.get("routines_learned", 0)
    passes: list[tuple[float, float, int]] = []  # (start, end, routines learned in it)
    start = hub_up_at + interval_s
    prev_learned = 0
    for end in ends:
        learned = learned_at_end[end]
        passes.append((start, end, learned - prev_learned))
        prev_learned = learned
        start = end + interval_s
    last_learned = stats.samples[-1][1].get("routines_learned", 0) if stats.samples else 0
    still_learning = last_learned - prev_learned > 0  # a pass had begun and not finished
    learning = [p for p in passes if p[2] > 0]
    if still_learning:
        learning.append((start, run_end, last_learned - prev_learned))
    relearned = sum(p[2] for p in learning)
    relearn = (learning[0][0], learning[-1][1], relearned) if learning else None
    # Pass ends are seen at the next poll, so a short pass can come out slightly negative.
    normal = [max(0.0, end - begin) for begin, end, learned in passes[1:] if learned == 0]
    return {
        "passes": [(b, round(e - b, 2), n) for b, e, n in passes],
        "scan_pass_s": round(float(np.median(normal)), 2) if normal else None,
        "first_pass_s": round(max(0.0, passes[0][1] - passes[0][0]), 2) if passes else None,
        "relearn": relearn,
        "relearn_finished": relearned >= homes and not still_learning,
        "still_learning": still_learning,
    }


def _prepared_key(opts: Options) -> dict[str, Any]:
    # The schema's versions too: a database prepared by other code would be migrated inside
    # the measured run (an index rebuilt over the whole events table) or refused as too new.
    return {
        "homes": opts.homes, "history_days": opts.history_days, "workers": opts.workers,
        "bursts_per_hour": opts.history_bursts_per_hour, "seed": opts.seed,
        "utc_offset_h": opts.utc_offset_h, "core_schema": len(CORE_MIGRATIONS),
        "schemas": [
            len(steps) for steps in (
                ALERT_MIGRATIONS, COORDINATION_MIGRATIONS, RETENTION_MIGRATIONS, WEB_MIGRATIONS
            )
        ],
    }  # fmt: skip


def _history_spec(opts: Options) -> HistorySpec:
    return HistorySpec(
        opts.history_days, opts.history_bursts_per_hour, opts.seed, opts.utc_offset_h * 3600
    )


def _prepare(opts: Options, work: Path) -> tuple[int, datetime]:
    """Register the homes, write their history and learn their routines into work/hub.db;
    keep a copy in `--prepared` for the next run when asked."""
    t0 = time.monotonic()
    history_end = datetime.now(UTC)
    rows = load_fleet_homes(
        work / "hub.db",
        opts.homes,
        history_end,
        _history_spec(opts),
        workers=opts.workers,
    )
    progress(
        "%d homes registered, %d history rows (%.1f days) in %.0f s",
        opts.homes, rows, opts.history_days, time.monotonic() - t0,
    )  # fmt: skip
    t1 = time.monotonic()
    learned = prelearn_routines(work / "hub.db", history_end)
    progress("%d routines learned by the hub's scanner in %.0f s", learned, time.monotonic() - t1)
    if opts.prepared is not None:
        with sqlite3.connect(work / "hub.db") as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        opts.prepared.mkdir(parents=True, exist_ok=True)
        if opts.prepare_only:
            # 100,000 homes are ~60 GB: a copy would need twice that (same file system).
            shutil.move(work / "hub.db", opts.prepared / "hub.db")
        else:
            shutil.copyfile(work / "hub.db", opts.prepared / "hub.db")
        meta = {**_prepared_key(opts), "rows": rows, "history_end": history_end.isoformat()}
        (opts.prepared / "prepared.json").write_text(json.dumps(meta))
    return rows, history_end


def _reuse_prepared(opts: Options, work: Path) -> tuple[int, datetime] | None:
    """Copy a database prepared by an earlier run with the same homes, history and seed, so
    two hubs (old and new code) can be measured on the same data in the same hour. Its history
    ends when it was prepared: the gap until the run is in the summary (`history_gap_s`)."""
    if opts.prepared is None or not (opts.prepared / "prepared.json").exists():
        return None
    meta = json.loads((opts.prepared / "prepared.json").read_text())
    if {k: meta.get(k) for k in _prepared_key(opts)} != _prepared_key(opts):
        progress("prepared database in %s is for other options: preparing anew", opts.prepared)
        return None
    if opts.move_prepared:
        # Used up: the run writes into it, so it is no longer the prepared state.
        (opts.prepared / "prepared.json").unlink()
        shutil.move(opts.prepared / "hub.db", work / "hub.db")
    else:
        shutil.copyfile(opts.prepared / "hub.db", work / "hub.db")
    return int(meta["rows"]), datetime.fromisoformat(meta["history_end"])


def _prepare_database(
    opts: Options, work: Path, stack: contextlib.ExitStack
) -> tuple[Path | str, int, datetime, int]:
    """The hubs' database with homes, history and routines: (the file or URL, history rows,
    when the history ends, bytes on disk)."""
    if opts.database == "postgresql":
        url = stack.enter_context(capacity_cluster.postgres_database())
        t0 = time.monotonic()
        history_end = datetime.now(UTC)
        spec = _history_spec(opts)
        rows = capacity_cluster.prepare_postgres(url, opts.homes, history_end, spec, opts.workers)
        progress(
            "PostgreSQL: %d homes, %d history rows (%.1f days), routines learned in %.0f s",
            opts.homes, rows, opts.history_days, time.monotonic() - t0,
        )  # fmt: skip
        return url, rows, history_end, capacity_cluster.database_bytes(url)
    reused = _reuse_prepared(opts, work)
    if reused is not None:
        rows, history_end = reused
        progress(
            "prepared database of %s %s: %d history rows ending %.0f s ago",
            opts.prepared, "moved" if opts.move_prepared else "copied", rows,
            (datetime.now(UTC) - history_end).total_seconds(),
        )  # fmt: skip
    else:
        rows, history_end = _prepare(opts, work)
    db_bytes = sum(p.stat().st_size for p in work.glob("hub.db*"))
    return work / "hub.db", rows, history_end, db_bytes


def prepare_only(opts: Options) -> dict[str, Any]:
    """Prepare the database into `--prepared` and stop (for sizes too large to copy: the run
    then takes it with `--move-prepared`)."""
    if opts.prepared is None:
        raise SystemExit("--prepare-only needs --prepared DIR")
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(_workdir(opts))
        rows, history_end = _prepare(opts, work)
    return {"prepared": str(opts.prepared), "rows": rows, "history_end": history_end.isoformat()}


def run(opts: Options) -> dict[str, Any]:
    """Set everything up, run the fleet, measure, tear down; return the summary."""
    minutes_s = opts.minutes * 60.0
    relearn_after = (
        opts.relearn_after_s
        if opts.relearn_after_s is not None
        else max(1.5 * opts.scan_interval_s, 0.3 * minutes_s)
    )
    if relearn_after + opts.scan_interval_s > minutes_s:
        progress("warning: routines go stale too late for a re-learn inside the run")
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(_workdir(opts))
        progress("workdir %s; load average %s", work, _load_average())
        # -- homes, history, routines (before any server runs: a quiet machine for the load)
        database, rows, history_end, db_bytes = _prepare_database(opts, work, stack)

        # -- broker, webhook, hubs
        sink = WebhookSink()
        stack.callback(sink.stop)
        broker = _start_broker(opts, work, stack)
        (work / "alerts.yaml").write_text(
            yaml.safe_dump(
                _alerts_config(opts.homes, sink.url, district_timezone(opts.utc_offset_h))
            )
        )
        warm_first_pass_s = _warm_start(opts, work, broker, database) if opts.warm_start else None
        # Stale together `relearn_after` from now, as a pass's routines are 6 h after it (in
        # the database, and in the scan memory a warm start saved: as 6 h would age both).
        expire_at = datetime.now(UTC) + timedelta(seconds=relearn_after)
        expire_routines_at(database, expire_at, ScanSettings().relearn_every)
        for memory in work.glob("*.scan-memory.npz"):
            age_scan_memory(memory, expire_at, ScanSettings().relearn_every)
        cold_evicted_mb = None
        if opts.cold_cache and isinstance(database, Path):
            cold_evicted_mb = round(_evict_from_page_cache(database) / 1e6)
            progress("cold cache: %d MB of database dropped from the page cache", cold_evicted_mb)
        hubs = [_start_hub(opts, work, stack, broker, database, j) for j in range(opts.hubs)]
        if broker.cluster is not None:
            # As bench/hubs_cluster.py: the fleet starts once every hub holds its share.
            capacity_cluster.wait_leases_shared(database, opts.hubs, timeout_s=120)
        hub_up_at = time.time()
        last_id = (
            _last_sqlite_event_id(database)
            if isinstance(database, Path) else capacity_cluster.max_event_id(database)
        )  # fmt: skip
        dbprobe = DbLatencyProbe(database, last_id)
        dbprobe.start()
        stack.callback(dbprobe.stop)
        for hub in hubs:
            hub.stats.start()
            stack.callback(hub.stats.stop)
        before = [hub.stats.sample() for hub in hubs]

        # -- the fleet (in a thread: run_fleet blocks) and the presses (here)
        fleet_out: dict[str, Any] = {}
        fleet_done = threading.Event()
        (host, port), *more_nodes = broker.addresses

        def play() -> None:
            try:
                fleet_out["result"] = run_fleet(
                    opts.homes, host, port, workers=opts.workers, speed=1.0,
                    wall_seconds=minutes_s, seed=opts.seed, username=broker.load_user,
                    password=broker.load_password, mqtt_v5=broker.mqtt_v5, slice_s=0.02,
                    wall_clock=True, connections=len(broker.addresses), more_nodes=more_nodes,
                    utc_offset_s=opts.utc_offset_h * 3600,
                )  # fmt: skip
            except BaseException as exc:  # reported by the main thread
                fleet_out["error"] = exc
            finally:
                fleet_done.set()

        # The presser on the last node (the fleet's connections start at the first).
        presser = Presser(opts.homes, broker, opts.press_every_s, opts.seed)
        stack.callback(presser.close)
        fleet_thread = threading.Thread(target=play, name="bench-fleet", daemon=True)
        fleet_thread.start()
        progress(
            "fleet: %d homes at speed 1 for %.1f min; help press every ~%.0f s; "
            "routines go stale at %s",
            opts.homes, opts.minutes, opts.press_every_s, f"{expire_at:%H:%M:%S}Z",
        )  # fmt: skip
        for hub in hubs:
            threading.Thread(
                target=_report_progress, args=(hub.stats, fleet_done, hub.name), daemon=True
            ).start()
        broker_cpu_at_start = broker.cpu_s()
        presser.run_until(fleet_done)
        fleet_thread.join(timeout=minutes_s + 300)
        broker_cpu = broker.cpu_s()
        if "error" in fleet_out:
            raise RuntimeError(f"the fleet failed: {fleet_out['error']!r}")
        result: FleetResult = fleet_out["result"]
        fleet_end = result.started_at + result.wall_s
        end_sample = [hub.stats.sample() for hub in hubs]
        hub_alive_at_end = all(hub.child.alive() for hub in hubs)

        # -- let the hubs catch up (bounded), collect notifications
        offered = result.messages + len(presser.presses)
        lane_presses = len(presser.presses) if opts.urgent_lane else 0
        drained_at = None
        drain_deadline = time.monotonic() + opts.drain_s
        while time.monotonic() < drain_deadline:
            samples = [hub.stats.sample() for hub in hubs]
            # Each hub takes in every message (ingest is replicated: docs/scale.md).
            if all(s is not None and _taken_in(s[1], lane_presses) >= offered for s in samples):
                drained_at = time.time()
                break
            time.sleep(0.5)  # waiting for a real process to catch up
        give_up = time.monotonic() + min(opts.drain_s, 30.0)
        while time.monotonic() < give_up:
            notes = sink.collect()
            answered = _answered_homes(notes)
            if all(p.home in answered for p in presser.presses):
                break
            time.sleep(0.5)  # waiting for notifications still on their way
        final = [hub.stats.sample() for hub in hubs]
        memory_loaded = sum(s[1].get("scan_memory_loaded", 0) for s in final if s is not None)
        duplicates = max((s[1].get("duplicates", 0) for s in final if s is not None), default=0)
        # Read before the hubs stop: a stopped hub hands its leases back at once.
        homes_per_hub = (
            capacity_cluster.fleet_homes_per_hub(database, opts.homes)
            if broker.cluster is not None else {"hub": opts.homes}
        )  # fmt: skip
        dbprobe.stop()
        for hub in hubs:
            hub.stats.stop()
        notes = sink.collect()
        for hub in hubs:
            hub.child.stop()
        broker.stop()
        logs = {
            **broker.log_counts(),
            "hub_log_errors": sum(_count_lines(hub.log, "ERROR") for hub in hubs),
        }

    # -- figures (everything above has been stopped)
    summary = _summary(
        opts, result, before, end_sample, final, [h.stats for h in hubs], dbprobe, presser,
        notes, hub_up_at, fleet_end, drained_at, offered, relearn_after, rows, db_bytes,
        hub_alive_at_end, work, logs, [h.name for h in hubs],
    )  # fmt: skip
    # How long the homes had been quiet when the hub started (a prepared database's history
    # ends when it was prepared; a fresh one's, just before the hub starts).
    summary["history_gap_s"] = round(hub_up_at - history_end.timestamp(), 1)
    summary["broker_autosave"] = (
        "shipped" if opts.broker_autosave_interval_s is None
        else f"every {opts.broker_autosave_interval_s} s"
    )  # fmt: skip
    summary["warm_start_first_pass_s"] = warm_first_pass_s
    summary["scan_memory_loaded"] = memory_loaded  # hubs that went on from a saved memory
    summary["duplicates"] = duplicates
    # The urgent lane sends each urgent message twice (one copy is a duplicate); far more means
    # the fleet's events were already stored: a database a run wrote to, reused with the same
    # seed (its kits' epochs and sequence numbers come again). Such a run measures nothing.
    if duplicates > 2 * len(presser.presses) + offered // 100:
        progress(
            "warning: %d messages were duplicates of stored ones: was the database reused "
            "after a run? These figures do not measure ingest", duplicates,
        )  # fmt: skip
    if opts.warm_start and memory_loaded < opts.hubs:
        progress(
            "warning: %d of %d hubs did not go on from their memory (see the hub logs): "
            "these are not a warm start's figures", opts.hubs - memory_loaded, opts.hubs,
        )  # fmt: skip
    if broker_cpu is not None and broker_cpu_at_start is not None:
        summary["broker_cpu_cores"] = round((broker_cpu - broker_cpu_at_start) / result.wall_s, 3)
    summary["lane_reads_events"] = opts.lane_reads_events
    summary["cold_cache_evicted_mb"] = cold_evicted_mb
    summary["warm_page_readers"] = opts.warm_page_readers
    summary["hub_settings"] = opts.hub_settings
    summary["hubs"] = opts.hubs
    summary["database"] = opts.database
    summary["broker"] = opts.broker
    summary["homes_per_hub"] = homes_per_hub
    return summary


# Heartbeats written and heartbeats acknowledged without a write: both are taken in.
_HEARTBEAT_COUNTERS = ("heartbeats", "heartbeats_not_written")


def _handled(body: dict[str, Any], duplicates: bool = False) -> int:
    """Events stored and heartbeats taken in (and with `duplicates`, rows another hub stored
    first: with several hubs each takes in every message, and that is work it did too)."""
    counters = ("stored", *_HEARTBEAT_COUNTERS) + (("duplicates",) if duplicates else ())
    return int(sum(body.get(name, 0) for name in counters))


def _taken_in(stats: dict[str, Any], lane_presses: int = 0) -> int:
    """Messages the hub has finished with: stored, duplicate, kit state (a heartbeat with
    nothing new is acknowledged without a write: heartbeat_store_every_s) or rejected. (Its
    `received` counter counts a batch again each time a failed COMMIT is retried.) With the
    urgent lane each of the `lane_presses` presses comes twice: its second copy, a duplicate,
    is not a message offered."""
    counts = (
        "stored", "duplicates", *_HEARTBEAT_COUNTERS, "availability", "rejected_total"
    )  # fmt: skip
    taken = int(sum(stats.get(name, 0) for name in counts))
    return taken - min(int(stats.get("duplicates", 0)), lane_presses)


def _count_lines(path: Path, word: str) -> int:
    """Lines of a log file that contain `word` (0 if there is no such file)."""
    try:
        with path.open(errors="replace") as log:
            return sum(1 for line in log if word in line)
    except OSError:
        return 0


def _report_progress(stats: StatsProbe, done: threading.Event, name: str) -> None:
    last = None
    while not done.wait(15.0):
        if not stats.samples:
            continue
        at, body, proc = stats.samples[-1]
        if last is not None:
            rate = (_handled(body) - last[0]) / (at - last[1])
            cpu = (proc.cpu_s - last[2]) / (at - last[1])
            progress(
                "%s: %.0f msg/s stored, inbox %d, scans %d, routines learned %d, "
                "%.2f cores, RSS %d MB, load %s",
                name, rate, body.get("queue_depth", 0), body.get("scans", 0),
                body.get("routines_learned", 0), cpu, proc.rss_kb // 1024, _load_average(),
            )  # fmt: skip
        last = (_handled(body), at, proc.cpu_s)


def _hub_figures(
    opts: Options,
    result: FleetResult,
    end_sample: Any,
    final: Any,
    stats: StatsProbe,
    hub_up_at: float,
    fleet_end: float,
    offered: int,
    lane_presses: int,
) -> dict[str, Any]:
    """One hub's own figures over the fleet's window."""

    def handled(sample: Any) -> int:
        return _handled(sample[1] if sample else {}, duplicates=opts.hubs > 1)

    # Stored rate over the fleet's own window, from the samples nearest its ends.
    window = [s for s in stats.samples if result.started_at <= s[0] <= fleet_end + 0.5]
    if len(window) >= 2:
        stored_per_s = (handled(window[-1]) - handled(window[0])) / (window[-1][0] - window[0][0])
        p0, p1 = window[0][2], window[-1][2]
        hub_cpu = (p1.cpu_s - p0.cpu_s) / (p1.at - p0.at)
    else:
        stored_per_s = hub_cpu = 0.0
    last_proc = end_sample[2] if end_sample else None
    return {
        "stored_per_s": stored_per_s,
        "backlog_end": offered - (_taken_in(end_sample[1], lane_presses) if end_sample else 0),
        "scans": _analyse_scans(
            stats, hub_up_at, opts.scan_interval_s, opts.homes, final[0] if final else fleet_end
        ),
        "cpu_cores": hub_cpu,
        "rss_kb": last_proc.rss_kb if last_proc else 0,
        "peak_rss_kb": last_proc.peak_rss_kb if last_proc else None,
        "ingest_latency": final[1].get("ingest_latency") if final else None,
        "queue_depth": end_sample[1].get("queue_depth") if end_sample else None,
        "rejected": final[1].get("rejected_total") if final else None,
        "scan_homes_read": final[1].get("scan_homes_read") if final else None,
        "writer_waits": _writer_waits(window[0][1] if window else {}, final[1] if final else {}),
    }


def _writer_waits(first: dict[str, Any], last: dict[str, Any]) -> dict[str, Any] | None:
    """What the routine writer waited for between two /stats samples, by cause
    (hub/writer_waits.py): waits, their seconds, and those over 100 ms; the longest is the
    hub's since it started (its warm start included)."""
    if "writer_waits" not in last:
        return None
    before = first.get("writer_waits", {})
    return {
        cause: {
            "count": tally["count"] - before.get(cause, {}).get("count", 0),
            "total_s": round(tally["total_s"] - before.get(cause, {}).get("total_s", 0.0), 3),
            "slow": tally["slow"] - before.get(cause, {}).get("slow", 0),
            "max_s_since_start": tally["max_s"],
        }
        for cause, tally in last["writer_waits"].items()
    }


def _merge_relearns(figures: list[dict[str, Any]]) -> tuple[float, float, int] | None:
    """The re-learn of all hubs together: from the first hub's first learning pass to the
    last hub's last, and every routine any of them learned."""
    spans = [f["scans"]["relearn"] for f in figures if f["scans"]["relearn"] is not None]
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans), sum(s[2] for s in spans)


def _max_or_none(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _summary(
    opts: Options,
    result: FleetResult,
    before: list[Any],
    end_sample: list[Any],
    final: list[Any],
    stats: list[StatsProbe],
    dbprobe: DbLatencyProbe,
    presser: Presser,
    notes: list[tuple[float, str]],
    hub_up_at: float,
    fleet_end: float,
    drained_at: float | None,
    offered: int,
    relearn_after: float,
    rows: int,
    db_bytes: int,
    hub_alive: bool,
    work: Path,
    logs: dict[str, int],
    hub_names: list[str],
) -> dict[str, Any]:
    lane_presses = len(presser.presses) if opts.urgent_lane else 0
    figures = [
        _hub_figures(opts, result, e, f, s, hub_up_at, fleet_end, offered, lane_presses)
        for e, f, s in zip(end_sample, final, stats, strict=True)
    ]
    one = len(figures) == 1
    give_up_at = notes[-1][0] if notes else time.time()
    latencies, missed = _match_help(presser.presses, notes, max(give_up_at, time.time()))
    if work.exists():  # kept (--keep): the run's files are read after it
        _write_presses(work / "help_presses.jsonl", presser.presses, latencies, hub_up_at)
    during: list[float] = []
    stored_during: list[float] = []
    relearn = _merge_relearns(figures)
    if relearn is not None:
        begin, end, _ = relearn
        during = [
            lat for p, lat in zip(presser.presses, latencies, strict=True) if begin <= p.at <= end
        ]
        stored_during = [
            lat
            for at, lat in zip(dbprobe.stored_at, dbprobe.latencies_s, strict=True)
            if begin <= at <= end
        ]
    help_kinds = sum(1 for _, b in notes if "Help button" in b)
    rss_kb = sum(f["rss_kb"] for f in figures)
    peaks = [f["peak_rss_kb"] for f in figures]
    relearned = relearn[2] if relearn else 0

    def passes(f: dict[str, Any]) -> list[tuple[float, float, int]]:
        return [
            (round(b - result.started_at, 1), max(0.0, d), n) for b, d, n in f["scans"]["passes"]
        ]

    scan_homes_read = [f["scan_homes_read"] for f in figures]
    return {
        "homes": opts.homes,
        "minutes": opts.minutes,
        "offered_per_s": round(offered / result.wall_s, 1),
        # Of the slowest hub: each must take in everything (ingest is replicated).
        "stored_per_s": round(min(f["stored_per_s"] for f in figures), 1),
        "backlog_end": max(f["backlog_end"] for f in figures),
        "stored_p50_ms": _percentile_ms(dbprobe.latencies_s, 50),
        "stored_p99_ms": _percentile_ms(dbprobe.latencies_s, 99),
        "stored_max_ms": _percentile_ms(dbprobe.latencies_s, 100),
        "stored_events": len(dbprobe.latencies_s),
        "stored_p99_during_relearn_ms": _percentile_ms(stored_during, 99),
        "help_presses": len(presser.presses),
        "help_missed": missed,
        "help_p50_ms": _percentile_ms(latencies, 50),
        "help_p99_ms": _percentile_ms(latencies, 99),
        "help_max_ms": _percentile_ms(latencies, 100),
        "help_during_relearn": len(during),
        "help_p99_during_relearn_ms": _percentile_ms(during, 99),
        # Several hubs scan their own homes side by side: the slowest hub's pass.
        "scan_pass_s": _max_or_none([f["scans"]["scan_pass_s"] for f in figures]),
        "first_scan_pass_s": _max_or_none([f["scans"]["first_pass_s"] for f in figures]),
        # From the first pass that re-learned routines to the end of the last one.
        "relearn_pass_s": round(max(0.0, relearn[1] - relearn[0]), 1) if relearn else None,
        "routines_relearned": relearned,
        # Homes the scan read in all passes (the gated scan's counter; None on a hub without).
        "scan_homes_read": (
            None
            if all(v is None for v in scan_homes_read)
            else sum(v or 0 for v in scan_homes_read)
        ),
        "relearn_finished": relearned >= opts.homes
        and not any(f["scans"]["still_learning"] for f in figures),
        "relearn_started_after_s": (round(relearn[0] - result.started_at, 1) if relearn else None),
        "routines_stale_after_s": round(relearn_after, 1),  # after the hub was launched
        # (start, duration, routines learned) of each pass, start in s since the fleet began;
        # with several hubs, per hub.
        "scan_passes": (
            passes(figures[0])
            if one
            else {name: passes(f) for name, f in zip(hub_names, figures, strict=True)}
        ),
        # With several hubs: all hubs together (each hub's own in `per_hub`).
        "hub_cpu_cores": round(sum(f["cpu_cores"] for f in figures), 3),
        "rss_mb": round(rss_kb / 1024, 1),
        "peak_rss_mb": (round(sum(peaks) / 1024, 1) if all(p is not None for p in peaks) else None),
        "rss_per_home_kb": round(rss_kb / opts.homes, 2),
        "hub_ingest_latency_at_end": (
            figures[0]["ingest_latency"]
            if one
            else {name: f["ingest_latency"] for name, f in zip(hub_names, figures, strict=True)}
        ),
        "writer_waits": (
            figures[0]["writer_waits"]
            if one
            else {name: f["writer_waits"] for name, f in zip(hub_names, figures, strict=True)}
        ),
        "hub_queue_depth_end": _max_or_none([f["queue_depth"] for f in figures]),
        "caught_up_after_s": round(drained_at - fleet_end, 1) if drained_at else None,
        "hub_alive": hub_alive,
        "notifications": len(notes),
        "notifications_other_than_help": len(notes) - help_kinds,
        "rejected": _max_or_none([f["rejected"] for f in figures]),
        **logs,
        "per_hub": [
            {
                "hub": name,
                "cpu_cores": round(f["cpu_cores"], 3),
                "rss_mb": round(f["rss_kb"] / 1024, 1),
                "peak_rss_mb": (
                    round(f["peak_rss_kb"] / 1024, 1) if f["peak_rss_kb"] is not None else None
                ),
                "taken_in_per_s": round(f["stored_per_s"], 1),
                "backlog_end": f["backlog_end"],
                "scan_pass_s": f["scans"]["scan_pass_s"],
                "routines_relearned": (f["scans"]["relearn"][2] if f["scans"]["relearn"] else 0),
            }
            for name, f in zip(hub_names, figures, strict=True)
        ],
        "fleet": {
            "events": result.events,
            "heartbeats": result.heartbeats,
            "acked_by_broker": result.acked,
            "max_lag_s": round(result.max_lag_s, 2),
            "wall_s": round(result.wall_s, 1),
            "workers_cpu_s": round(result.cpu_s, 1),
        },
        "history_rows": rows,
        "history_days": opts.history_days,
        "utc_offset_h": opts.utc_offset_h,  # the residents' clock: their day sets the load
        "local_time_at_start": _local_clock(result.started_at, opts.utc_offset_h),
        "link_process": opts.link_process,
        "urgent_lane": opts.urgent_lane,
        "db_mb_before_run": round(db_bytes / 1e6),
        "scan_interval_s": opts.scan_interval_s,
        "load_average_end": _load_average(),
        "cores": os.cpu_count(),
        "workdir_kept": str(work) if opts.keep else None,
    }


def _local_clock(unix_s: float, utc_offset_h: float) -> str:
    """HH:MM on the residents' clock at `unix_s`."""
    return f"{datetime.fromtimestamp(unix_s + utc_offset_h * 3600, UTC):%H:%M}"


def _parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--homes", type=int, required=True)
    parser.add_argument("--minutes", type=float, default=10.0, help="fleet run time (default 10)")
    parser.add_argument("--json", action="store_true", help="last line: the JSON summary only")
    parser.add_argument("--press-every-s", type=float, default=3.0)
    parser.add_argument(
        "--relearn-after-s", type=float, default=None,
        help="routines go stale this long after the hub starts (default: 30%% of the run)",
    )  # fmt: skip
    parser.add_argument(
        "--scan-interval-s", type=float, default=60.0,
        help="the hub's scan_interval_s (default: the shipped 60 s; the test uses less)",
    )  # fmt: skip
    parser.add_argument("--history-days", type=float, default=15.0)
    parser.add_argument("--history-bursts-per-hour", type=float, default=6.0)
    parser.add_argument("--workers", type=int, default=2, help="fleet worker processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--drain-s", type=float, default=120.0,
        help="after the fleet stops, wait at most this long for the hub to catch up",
    )  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the workdir (logs, database)")
    parser.add_argument(
        "--prepared", type=Path, default=None,
        help="keep the prepared database here, and start from it when it matches the options",
    )  # fmt: skip
    parser.add_argument(
        "--prepare-only", action="store_true",
        help="prepare the database into --prepared and stop (no copy kept in the workdir)",
    )  # fmt: skip
    parser.add_argument(
        "--move-prepared", action="store_true",
        help="move the prepared database into the run instead of copying it (it is used up)",
    )  # fmt: skip
    parser.add_argument(
        "--broker-autosave-interval-s", type=int, default=None,
        help="broker snapshots on this schedule, not after every change (default: as shipped)",
    )  # fmt: skip
    parser.add_argument(
        "--hubs", type=int, default=1,
        help="hub processes sharing the database, each with its own hub_id and leases "
        "(more than 1 needs --broker rabbitmq-cluster)",
    )  # fmt: skip
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql"), default="sqlite",
        help="the hubs' database: one SQLite file (default) or PostgreSQL on loopback",
    )  # fmt: skip
    parser.add_argument(
        "--broker", choices=("mosquitto", "rabbitmq-cluster"), default="mosquitto",
        help="Mosquitto with the shipped config (default) or the 3-node RabbitMQ cluster",
    )  # fmt: skip
    parser.add_argument(
        "--urgent-lane", action=argparse.BooleanOptionalAction, default=None,
        help="the hub's urgent lane (mqtt_urgent_username, docs/deploy.md), as the shipped "
        "hub.yaml has it: on by default with Mosquitto, not set up for the RabbitMQ cluster",
    )  # fmt: skip
    parser.add_argument(
        "--lane-reads-events", action="store_true",
        help="the urgent lane reads `events` too (urgent_lane_reads_events: true, an upgraded "
        "hub.yaml's default): what the lane costs when the broker sends it every event",
    )  # fmt: skip
    parser.add_argument(
        "--cold-cache", action="store_true",
        help="drop the database from the page cache before the measured hub starts (SQLite): "
        "a hub coming back after a reboot or a power cut, its disk's reads all real",
    )  # fmt: skip
    parser.add_argument(
        "--warm-page-readers", type=int, default=None,
        help="the hubs' warm_page_readers (default: as shipped): connections reading the "
        "pages each kit's next writes need at start; 0 turns it off, for a side-by-side",
    )  # fmt: skip
    parser.add_argument(
        "--hub-setting", action="append", default=[], metavar="KEY=VALUE",
        help="a hub.yaml setting for the hubs of the run, e.g. scan_nice=0 (repeatable): one "
        "setting side by side with the shipped value; the hub refuses an unknown key",
    )  # fmt: skip
    parser.add_argument(
        "--warm-start", action="store_true",
        help="start the hubs once without the fleet until their first scan pass is done, stop "
        "them, then run: hubs restarted with their scan's memory (hub/scan_memory.py)",
    )  # fmt: skip
    parser.add_argument(
        "--link-process", action=argparse.BooleanOptionalAction, default=True,
        help="the hub's broker connections in a process of their own (link_process), as the "
        "shipped hub.yaml has it; --no-link-process: in the hub's own process",
    )  # fmt: skip
    parser.add_argument(
        "--utc-offset-h", type=float, default=TASHKENT_UTC_OFFSET_S / 3600,
        help="the residents' and the district's hours from UTC (default Tashkent's, 5): a run "
        "at night in Tashkent can measure a district in its afternoon, the day's peak",
    )  # fmt: skip
    a = parser.parse_args(argv)
    try:
        district_timezone(a.utc_offset_h)
    except ValueError as exc:
        parser.error(f"--utc-offset-h: {exc}")
    if a.urgent_lane is None:
        a.urgent_lane = a.broker == "mosquitto"
    if a.urgent_lane and a.broker != "mosquitto":
        parser.error("--urgent-lane is set up here for --broker mosquitto")
    if a.homes < 1 or a.minutes <= 0:
        parser.error("--homes must be >= 1 and --minutes > 0")
    if a.hubs < 1:
        parser.error("--hubs must be >= 1")
    if a.hubs > 1 and a.broker != "rabbitmq-cluster":
        parser.error("--hubs above 1 needs --broker rabbitmq-cluster (each hub its own session)")
    if a.database != "sqlite" and (a.prepared or a.prepare_only or a.move_prepared):
        parser.error("--prepared, --prepare-only and --move-prepared are for --database sqlite")
    if a.broker_autosave_interval_s is not None and a.broker != "mosquitto":
        parser.error("--broker-autosave-interval-s is a Mosquitto setting")
    return Options(
        a.homes, a.minutes, a.json, a.press_every_s, a.relearn_after_s, a.scan_interval_s,
        a.history_days, a.history_bursts_per_hour, a.workers, a.seed, a.drain_s, a.workdir,
        a.keep, a.prepared, a.broker_autosave_interval_s, a.prepare_only, a.move_prepared,
        a.hubs, a.database, a.broker, a.urgent_lane, a.warm_start, a.utc_offset_h,
        a.link_process, a.lane_reads_events, a.cold_cache, a.warm_page_readers,
        _hub_settings(parser, a.hub_setting),
    )  # fmt: skip


def _asked_hub_settings(opts: Options) -> dict[str, Any]:
    """The hub.yaml settings the run was asked to change (`--warm-page-readers` is one)."""
    asked = dict(opts.hub_settings)
    if opts.warm_page_readers is not None:
        asked["warm_page_readers"] = opts.warm_page_readers
    return asked


def _hub_settings(parser: argparse.ArgumentParser, pairs: list[str]) -> dict[str, Any]:
    """`--hub-setting KEY=VALUE` pairs (VALUE read as YAML) as a hub.yaml fragment."""
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            parser.error(f"--hub-setting {pair!r}: expected KEY=VALUE")
        settings[key] = yaml.safe_load(value)
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print progress, then the JSON summary as the last line."""
    opts = _parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # SIGINT too, explicitly: a Python started from a non-interactive shell's background job
    # inherits SIGINT ignored and would never see the KeyboardInterrupt that stops the run.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        if opts.prepare_only:
            print(json.dumps(prepare_only(opts)), flush=True)
            return 0
        summary = run(opts)
    except KeyboardInterrupt:
        progress("interrupted: everything started here has been stopped")
        return 130
    if not opts.json:
        progress(
            "%d homes: offered %.0f msg/s, stored %.0f msg/s, backlog %d; publish->stored p50 %s "
            "p99 %s ms; help p50 %s p99 %s ms (during re-learn p99 %s ms); scan pass %s s, "
            "re-learn pass %s s; hub %.2f cores, %.1f KB RSS per home",
            summary["homes"], summary["offered_per_s"], summary["stored_per_s"],
            summary["backlog_end"], summary["stored_p50_ms"], summary["stored_p99_ms"],
            summary["help_p50_ms"], summary["help_p99_ms"], summary["help_p99_during_relearn_ms"],
            summary["scan_pass_s"], summary["relearn_pass_s"], summary["hub_cpu_cores"],
            summary["rss_per_home_kb"],
        )  # fmt: skip
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
