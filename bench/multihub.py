"""Several hubs on one PostgreSQL behind a 3-node RabbitMQ cluster: SIGKILL a broker node and a
hub while a kit fleet publishes, then check that nothing was lost or done twice (issue 14).

    .venv/bin/python bench/multihub.py --homes 100 --events 100 --hubs 3 --json

What runs, all on loopback: PostgreSQL from the OS packages (fsync on); RabbitMQ, 3 nodes, MQTT
sessions in quorum queues, one broker user per kit (docs/scale.md); `--hubs` processes of
`mehr hub --config` — the operator's command — each with its own hub id and client id, all on the
same database, each starting at a different node with the others as fallbacks; a webhook on
loopback as every worker's only contact. Each home's kit (its own broker user) sends `--events`
contract events at `--rate` a second, one of them a help press at a random place in its stream.
Once a third of the events are acknowledged, the broker node hub 1 started on and hub 1 itself
(with its scan process) are SIGKILLed.

The last line printed is one JSON object:
- `acked`, `stored`, `lost` (acknowledged to a kit, not in the database), `duplicates` (rows
  beyond one per kit, epoch and sequence), `events_per_s` (acknowledged events per second from
  the first publish to the last acknowledgement);
- `help_presses`, `help_alerts` (alerts of kind help_button; one per home expected),
  `help_notified_twice` (homes whose help reached the webhook more than once — one step, so 0),
  `help_missed`, `help_p50_ms`/`help_p99_ms` (press → webhook), `help_p99_after_kill_ms`
  (presses in the 30 s after the kill);
- `takeover_s`: from the kill until no partition is held by the dead hub (hub_leases);
- `homes_per_hub` at the end, and the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

_ROOT = Path(__file__).resolve().parents[1]
sys.path = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

from bench.capacity_probes import WebhookSink  # noqa: E402 - after the sys.path fix above
from mehr.contract import SensorKind  # noqa: E402
from mehr_app.services.broker_cluster import (  # noqa: E402
    ClusterUser,
    RabbitCluster,
    hub_user,
    kit_user,
)
from mehr_app.services.cluster_fleet import KitRecord, run_kit  # noqa: E402
from mehr_app.services.homes import home_spec  # noqa: E402
from mehr_app.services.ports import free_port  # noqa: E402
from mehr_app.services.postgres import PostgresServer, running_postgres  # noqa: E402
from simulators.fleet import event_payload, wire_time  # noqa: E402

_LOGGER = logging.getLogger("bench.multihub")
_KIT = "k1"
_EPOCH = 1
_AFTER_KILL_S = 30.0


@dataclass(frozen=True)
class Options:
    homes: int
    events: int
    hubs: int
    rate: float
    budget_s: float
    seed: int
    json: bool
    workdir: Path | None


@dataclass
class HubProcess:
    """One `mehr hub` process (in its own process group, so a SIGKILL takes its scan process)."""

    hub_id: str
    config: Path
    stats_port: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self, log: Path) -> None:
        mehr = str(Path(sys.executable).with_name("mehr"))
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [mehr, "hub", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Fleet:
    """The kits' records, and when each help press was first sent."""

    homes: list[str]
    help_at: dict[str, int]
    records: dict[str, KitRecord] = field(default_factory=dict)
    pressed: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def payload_for(self, home: str) -> Any:
        def payload(index: int) -> bytes:
            now = datetime.now(UTC)
            seq = index + 1
            if index == self.help_at[home]:
                with self.lock:
                    self.pressed.setdefault(home, now.timestamp())
                return event_payload(
                    _KIT, _EPOCH, seq, "help", SensorKind.HELP_BUTTON, "pressed", wire_time(now)
                )
            return event_payload(
                _KIT, _EPOCH, seq, "pir-kitchen", SensorKind.MOTION, index % 2 == 0,
                wire_time(now),
            )  # fmt: skip

        return payload

    def acked(self) -> int:
        return sum(len(r.acked) for r in self.records.values())


def _home_ids(homes: int) -> list[str]:
    return [f"mh-{i:03d}" for i in range(homes)]


def _alerts_config(homes: list[str], webhook_url: str) -> dict[str, Any]:
    """One mahalla, one on-call worker whose only contact is the webhook; one step per alert."""
    return {
        "district": {"name": "Several hubs", "timezone": "Asia/Tashkent", "supervisor": "sw"},
        "mahallas": [
            {"name": "Navbahor", "rota": [{"person": "sw", "start": "00:00", "end": "00:00"}]}
        ],
        "people": [
            {"id": "sw", "name": "Aziza", "languages": ["en"], "methods": [{"url": webhook_url}]}
        ],
        "homes": [{"home": h, "resident": f"Opa {h}", "address": h} for h in homes],
        "policies": {
            s: {"steps": [{"after_s": 0, "notify": ["on_call"]}]}
            for s in ("critical", "high", "medium", "low")
        },
    }  # fmt: skip


def _write_hub_configs(
    work: Path,
    opts: Options,
    cluster: RabbitCluster,
    hub: ClusterUser,
    database_url: str,
    homes: list[str],
    webhook_url: str,
) -> list[HubProcess]:
    (work / "hub.password").write_text(hub.password)
    (work / "alerts.secret").write_text(secrets.token_urlsafe(48))
    (work / "alerts.yaml").write_text(yaml.safe_dump(_alerts_config(homes, webhook_url)))
    registry = {"homes": [home_spec(h, _KIT).model_dump(mode="json") for h in homes]}
    (work / "registry.yaml").write_text(yaml.safe_dump(registry))
    nodes = [f"mqtt://{host}:{port}" for host, port in cluster.mqtt_addresses]
    hubs = []
    for i in range(opts.hubs):
        hub_id = f"hub-{i + 1}"
        first = i % len(nodes)
        stats_port = free_port()
        settings = {
            "hub_id": hub_id,
            "database_url": database_url,
            "mqtt_url": nodes[first],
            "mqtt_fallback_urls": nodes[first + 1 :] + nodes[:first],
            "mqtt_protocol": "3.1.1",
            "mqtt_client_id": f"mehr-{hub_id}",
            "mqtt_username": hub.username,
            "mqtt_password_file": str(work / "hub.password"),
            "registry_file": str(work / "registry.yaml"),
            "alerts_config": str(work / "alerts.yaml"),
            "alerts_secret_file": str(work / "alerts.secret"),
            "stats_port": stats_port,
        }
        config = work / f"{hub_id}.yaml"
        config.write_text(yaml.safe_dump(settings, sort_keys=False))
        hubs.append(HubProcess(hub_id, config, stats_port))
    return hubs


def _psql(server: PostgresServer, database_url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    dbname = database_url.rsplit("/", 1)[1]
    with psycopg.connect(
        f"host=127.0.0.1 port={server.port} user=mehr dbname={dbname}", autocommit=True
    ) as conn:
        return list(conn.execute(sql).fetchall())


def _wait_hubs_connected(hubs: list[HubProcess], timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    waiting = {h.hub_id for h in hubs}
    while waiting and time.monotonic() < deadline:
        for hub in hubs:
            if hub.hub_id not in waiting:
                continue
            if hub.proc is not None and hub.proc.poll() is not None:
                raise RuntimeError(f"{hub.hub_id} exited with {hub.proc.returncode}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{hub.stats_port}/stats", timeout=2
                ) as answer:
                    if json.load(answer).get("broker_connected"):
                        waiting.discard(hub.hub_id)
            except OSError:
                pass
        time.sleep(0.5)  # polling real processes that are starting
    if waiting:
        raise RuntimeError(f"hubs not connected after {timeout} s: {sorted(waiting)}")


def _lease_holders(server: PostgresServer, database_url: str) -> Counter[str]:
    rows = _psql(server, database_url, "SELECT holder FROM hub_leases")
    return Counter(str(r[0]) for r in rows)


def _percentile_ms(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _notified_homes(notes: list[tuple[float, str]]) -> dict[str, list[float]]:
    """Home -> arrival times of help notifications naming it."""
    seen: dict[str, list[float]] = {}
    for at, body in notes:
        try:
            text = json.loads(body).get("message", "")
        except ValueError:
            text = body
        if "Help button" not in text:
            continue
        for home in set(re.findall(r"mh-\d{3}", text)):
            seen.setdefault(home, []).append(at)
    return seen


@contextlib.contextmanager
def _workdir(opts: Options) -> Iterator[Path]:
    import tempfile

    if opts.workdir is not None:
        opts.workdir.mkdir(parents=True, exist_ok=True)
        yield opts.workdir
        return
    with tempfile.TemporaryDirectory(prefix="mehr-multihub-") as tmp:
        yield Path(tmp)


def run(opts: Options) -> dict[str, Any]:
    rng = np.random.default_rng(opts.seed)
    homes = _home_ids(opts.homes)
    with _workdir(opts) as work, contextlib.ExitStack() as stack:
        server = stack.enter_context(running_postgres(durable=True))
        database_url = server.fresh_database()
        hub = hub_user(secrets.token_hex(12), username="mehr-hubs")
        kits = {h: kit_user(h, _KIT, secrets.token_hex(12)) for h in homes}
        cluster = RabbitCluster(work / "rabbitmq", [hub, *kits.values()])
        _LOGGER.info("starting a 3-node RabbitMQ cluster")
        cluster.start(timeout=240)
        stack.callback(cluster.stop)
        sink = WebhookSink()
        stack.callback(sink.stop)
        hubs = _write_hub_configs(work, opts, cluster, hub, database_url, homes, sink.url)
        for one in hubs:
            one.start(work / f"{one.hub_id}.log")
            stack.callback(one.stop)
        _wait_hubs_connected(hubs, 120)
        _LOGGER.info("%d hubs connected", len(hubs))

        fleet = Fleet(homes, {h: int(rng.integers(opts.events // 5, opts.events)) for h in homes})
        deadline = time.monotonic() + opts.budget_s
        dead: set[int] = set()
        threads = []
        for i, home in enumerate(homes):
            fleet.records[home] = KitRecord()
            threads.append(
                threading.Thread(
                    target=run_kit,
                    args=(home, kits[home], opts.events, cluster.mqtt_addresses, i, dead,
                          fleet.records[home], deadline),
                    kwargs={"rate_per_s": opts.rate, "payload": fleet.payload_for(home)},
                    daemon=True,
                )
            )  # fmt: skip
        started = time.monotonic()
        for t in threads:
            t.start()
        total = opts.homes * opts.events
        while fleet.acked() < total // 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting for real traffic to flow
        victim = hubs[0]
        dead.add(0)  # hub 1 started on node 0
        killed_at = time.time()
        cluster.kill_index(0)
        victim.kill()
        _LOGGER.info("killed broker node 0 and %s at %d acknowledged events", victim.hub_id,
                     fleet.acked())  # fmt: skip
        takeover_s = None
        while time.monotonic() < deadline:
            if _lease_holders(server, database_url).get(victim.hub_id, 0) == 0:
                takeover_s = round(time.time() - killed_at, 2)
                break
            time.sleep(0.25)  # polling the real database
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        publish_s = time.monotonic() - started
        acked = {(h, s + 1) for h, r in fleet.records.items() for s in r.acked}
        settle = time.monotonic() + 60
        stored: set[tuple[str, int]] = set()
        while time.monotonic() < settle:
            rows = _psql(server, database_url, "SELECT home_id, seq FROM events")
            stored = {(str(h), int(s)) for h, s in rows}
            if acked <= stored:
                break
            time.sleep(1)  # the survivors are still storing redeliveries
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:
            if len(_notified_homes(sink.collect())) >= len(fleet.pressed):
                break
            time.sleep(0.5)  # the alert engines are still notifying
        rows = _psql(server, database_url, "SELECT COUNT(*) FROM events")
        row_count = int(rows[0][0])
        help_rows = _psql(
            server, database_url,
            "SELECT home_id, COUNT(*) FROM alerts WHERE kind = 'help_button' GROUP BY home_id",
        )  # fmt: skip
        holders = _lease_holders(server, database_url)
        notified = _notified_homes(sink.collect())
        latencies = [notified[h][0] - at for h, at in fleet.pressed.items() if h in notified]
        after_kill = [
            notified[h][0] - at
            for h, at in fleet.pressed.items()
            if h in notified and killed_at <= at <= killed_at + _AFTER_KILL_S
        ]
        alive = [one.hub_id for one in hubs if one.proc is not None and one.proc.poll() is None]
        return {
            "homes": opts.homes,
            "hubs": opts.hubs,
            "hubs_alive_at_end": alive,
            "acked": len(acked),
            "stored": len(stored & acked),
            "lost": len(acked - stored),
            "duplicates": row_count - len(stored),
            "events_per_s": round(len(acked) / publish_s, 1),
            "kits_unfinished": sum(1 for r in fleet.records.values() if not r.finished),
            "help_presses": len(fleet.pressed),
            "help_alerts": sum(int(n) for _, n in help_rows),
            "homes_with_two_help_alerts": sum(1 for _, n in help_rows if int(n) > 1),
            "help_notified_twice": sum(1 for t in notified.values() if len(t) > 1),
            "help_missed": len(set(fleet.pressed) - set(notified)),
            "help_p50_ms": _percentile_ms(latencies, 50),
            "help_p99_ms": _percentile_ms(latencies, 99),
            "help_after_kill": len(after_kill),
            "help_p99_after_kill_ms": _percentile_ms(after_kill, 99),
            "takeover_s": takeover_s,
            "homes_per_hub": dict(holders),
            "load_average": _load_average(),
        }


def _parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homes", type=int, default=100)
    parser.add_argument("--events", type=int, default=100, help="events per home")
    parser.add_argument("--hubs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=2.0, help="events per second per kit")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for the fleet")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    args = parser.parse_args(argv)
    if args.hubs < 2:
        parser.error("--hubs: at least 2 (one is killed)")
    return Options(args.homes, args.events, args.hubs, args.rate, args.budget, args.seed,
                   args.json, args.workdir)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    opts = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    result = run(opts)
    print(json.dumps(result) if opts.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
