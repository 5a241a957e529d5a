"""Several hubs on a 3-node RabbitMQ cluster: kill a broker node and a hub while kits publish.

Real parts, all on 127.0.0.1: RabbitMQ 3.10 (three nodes, rabbitmq_mqtt, quorum-queue
sessions; mehr_app/services/broker_cluster.py) with one broker user per kit; 2–3 `mehr hub`
processes (each its own hub_id, client id and persistent session, MQTT 3.1.1) on one database;
a kit fleet (mehr_app/services/cluster_fleet.py: QoS 1, re-send after reconnect, next node on
failure) publishing real contract events with help presses spread over the run; a webhook
receiver standing for the workers' phones. When a third of the events are stored, broker node 3
and the last hub are SIGKILLed together.

Prints one JSON line: events/s stored, takeover time (kill to every partition held by a live
hub), help press → first webhook (p50/p99/max, all presses and those pressed around the kill),
and the checks: events acknowledged to kits stored exactly once, one alert per press, no step
sent twice.

    .venv/bin/python bench/hubs_cluster.py --homes 100 --events 100 --rate 5 --hubs 3

The hubs share one PostgreSQL database (`database_url`; the OS package's server on a free
loopback port, fsync on), or with `--database sqlite` one SQLite file (hubs on one machine).
Each hub starts at its own broker node and has the other two as `mqtt_fallback_urls`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.db_query import query as _query
from hub.coordination import partition_of
from mehr.contract import SensorKind, encode, make_event
from mehr_app.services.alerts_config import two_step_alerts
from mehr_app.services.broker_cluster import RabbitCluster, hub_user, kit_user
from mehr_app.services.cluster_fleet import KitRecord, run_kit
from mehr_app.services.cluster_hubs import cluster_hub_settings, homes_per_hub, lease_holders
from mehr_app.services.http_sink import HttpSink
from mehr_app.services.hub_config import write_registry
from mehr_app.services.ports import free_port
from mehr_app.services.postgres import running_postgres

PARTITIONS = 64


def _alerts_yaml(path: Path, sink: HttpSink) -> Path:
    path.write_text(yaml.safe_dump(two_step_alerts(sink.port, 5, "Bench")))
    return path


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)  # polling real processes
    raise TimeoutError(what)


class KitPayloads:
    """One kit's events as bytes, made once per sequence number (re-sends are the same bytes);
    the press sequence numbers are help presses, timed at their first publish."""

    def __init__(self, kit_id: str, presses: set[int]) -> None:
        self.kit_id = kit_id
        self.epoch = secrets.randbelow(2**40) + 1
        self.presses = presses
        self.made: dict[int, bytes] = {}
        self.pressed_at: dict[int, float] = {}

    def __call__(self, index: int) -> bytes:
        if index not in self.made:
            now = datetime.now(UTC)
            value: str | bool
            if index in self.presses:
                self.pressed_at[index] = time.monotonic()
                sensor, kind, value = "help", SensorKind.HELP_BUTTON, "pressed"
            else:
                sensor, kind, value = "pir-kitchen", SensorKind.MOTION, index % 2 == 0
            event = make_event(
                kit=self.kit_id, epoch=self.epoch, seq=index + 1, sensor=sensor, kind=kind,
                value=value, ts=now,
            )
            self.made[index] = encode(event)
        return self.made[index]


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="mehr-hubs-"))
    hub_account = hub_user(secrets.token_hex(8))
    homes = [(f"h{i:03d}", f"k{i:03d}") for i in range(args.homes)]
    users = {home: kit_user(home, kit, secrets.token_hex(8)) for home, kit in homes}
    cluster = RabbitCluster(workdir / "rabbit", [hub_account, *users.values()])
    sink = HttpSink()
    hubs: list[subprocess.Popen[bytes]] = []
    started = time.monotonic()
    cluster.start()
    # A node whose MQTT never answers (its vhost down since the cluster formed) would send
    # its hub and kits to the other nodes silently and skew the kill (docs/benchmarks.md).
    try:
        cluster.wait_ready()
    except BaseException:
        cluster.stop()
        raise
    cluster_start_s = time.monotonic() - started
    sink.start()
    databases = contextlib.ExitStack()
    db: Path | str = workdir / "hub.db"
    if args.database == "postgresql":
        db = databases.enter_context(running_postgres(fsync=True)).fresh_database()
    try:
        registry = write_registry(workdir / "reg.yaml", homes)
        alerts = _alerts_yaml(workdir / "alerts.yaml", sink)
        ports = []
        for j in range(args.hubs):
            port = free_port()
            settings: dict[str, Any] = {
                **cluster_hub_settings(
                    j, cluster.mqtt_addresses, hub_account.username, hub_account.password, db,
                    partitions=PARTITIONS, ttl_s=args.ttl, renew_s=args.renew,
                ),
                "registry_file": str(registry),
                "stats_port": port,
                "alerts_config": str(alerts),
                "alerts_secret": secrets.token_urlsafe(48),
                "public_base_url": "https://mehr.test",
            }
            config = workdir / f"hub-{j}.yaml"
            config.write_text(yaml.safe_dump(settings))
            with (workdir / f"hub-{j}.log").open("ab") as err:
                hubs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "mehr_app", "hub", "--config", str(config)],
                        stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                    )
                )
            ports.append(port)
            _wait(lambda p=port: _healthy(p), 180, f"hub-{j} healthy")
        _wait(
            lambda: len(set(lease_holders(db).values())) == args.hubs
            and len(lease_holders(db)) == PARTITIONS,
            60, "partitions shared by every hub",
        )
        owner_before = lease_holders(db)
        # Presses spread over the run: every `homes / presses`-th home, at an even share of
        # its events, so some fall before, around and after the kill.
        presses = {
            homes[k * args.homes // args.presses][0]: args.events * (k + 1) // (args.presses + 1)
            for k in range(args.presses)
        }
        payloads = {
            home: KitPayloads(kit, {presses[home]} if home in presses else set())
            for home, kit in homes
        }
        records = {home: KitRecord() for home, _ in homes}
        dead: set[int] = set()
        deadline = time.monotonic() + args.budget
        threads = [
            threading.Thread(
                target=run_kit,
                args=(home, users[home], args.events, cluster.mqtt_addresses, i % 3, dead,
                      records[home], deadline),
                kwargs={
                    "rate_per_s": args.rate,
                    "topic": f"mehr/v1/homes/{home}/kits/{kit}/events",
                    "payload": payloads[home],
                },
                daemon=True,
            )
            for i, (home, kit) in enumerate(homes)
        ]
        fleet_started = time.monotonic()
        for thread in threads:
            thread.start()
        total = args.homes * args.events
        _wait(
            lambda: _query(db, "SELECT COUNT(*) FROM events")[0][0] >= total // 3,
            args.budget, "a third of the events stored",
        )
        killed_at = killed_wall = None
        takeover_s = None
        if args.kill:
            # A machine dies: broker node 3 and the last hub, together.
            dead.add(2)
            cluster.kill_index(2)
            killed_hub = hubs[-1]
            os.killpg(killed_hub.pid, signal.SIGKILL)  # with its scan process
            killed_at = time.monotonic()
            killed_wall = time.time()
            killed_hub.wait(timeout=10)
            live = {f"hub-{j}" for j in range(args.hubs - 1)}
            _wait(
                lambda: len(lease_holders(db)) == PARTITIONS
                and set(lease_holders(db).values()) <= live,
                args.ttl + args.renew + 60, "the killed hub's partitions taken over",
            )
            takeover_s = time.monotonic() - killed_at
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        acked = sum(len(r.acked) for r in records.values())
        _wait(
            lambda: _query(db, "SELECT COUNT(*) FROM events")[0][0] >= acked,
            60, "every acknowledged event stored",
        )
        pressed = [h for h in presses if presses[h] in records[h].acked]
        _wait(
            lambda: all(
                any(r.path == "/duty" and h.encode() in r.body for r in list(sink.requests))
                for h in pressed
            ),
            60, "every press's second step sent",
        )
        fleet_s = time.monotonic() - fleet_started
        stored, distinct = _query(
            db, "SELECT COUNT(*), COUNT(DISTINCT kit_id || ':' || epoch || ':' || seq) FROM events"
        )[0]
        first_stored, last_stored = _query(
            db, "SELECT MIN(stored_at), MAX(stored_at) FROM events"
        )[0]
        alerts_per_home = dict(
            _query(db, "SELECT home_id, COUNT(*) FROM alerts WHERE kind = 'help_button' "
                       "GROUP BY home_id")
        )
        counts = [c for (c,) in _query(db, "SELECT count FROM alerts WHERE kind = 'help_button'")]
        attempts = _query(
            db, "SELECT n.id, COUNT(d.id) FROM alert_notifications n "
                "LEFT JOIN alert_delivery_attempts d ON d.notification_id = n.id GROUP BY n.id"
        )
        requests = list(sink.requests)
        latency: dict[str, float] = {}
        for home in pressed:
            at = payloads[home].pressed_at[presses[home]]
            arrivals = [r.at for r in requests if r.path == "/sw" and home.encode() in r.body]
            if arrivals:
                latency[home] = min(arrivals) - at
        around_kill = [
            latency[h] for h in latency
            if killed_at is not None and takeover_s is not None
            and killed_at - 5 <= payloads[h].pressed_at[presses[h]] <= killed_at + takeover_s + 5
        ]
        steps_twice = {
            (path, home)
            for path in ("/sw", "/duty")
            for home in pressed
            if sum(1 for r in requests if r.path == path and home.encode() in r.body) > 1
        }
        killed_homes = sum(
            1 for h, _ in homes
            if owner_before[partition_of(h, PARTITIONS)] == f"hub-{args.hubs - 1}"
        )
        # Who does each home's work (scans, alerts) before the kill and at the end.
        owner_after = lease_holders(db)
        per_hub = {
            when: homes_per_hub(owner, (h for h, _ in homes), PARTITIONS)
            for when, owner in (("before_kill", owner_before), ("at_end", owner_after))
        }
        return {
            "hubs": args.hubs,
            "database": args.database,
            "homes": args.homes,
            "events_offered": total,
            "rate_per_kit": args.rate,
            "lease_ttl_s": args.ttl,
            "lease_renew_s": args.renew,
            "cluster_start_s": round(cluster_start_s, 1),
            "acked_to_kits": acked,
            "stored": stored,
            "stored_distinct": distinct,
            "lost_acked": max(0, acked - stored),
            "kits_unfinished": sum(1 for r in records.values() if not r.finished),
            "events_per_s_stored": round(stored / max(1e-9, last_stored - first_stored), 1),
            "fleet_s": round(fleet_s, 1),
            "killed": None if killed_wall is None else {
                "broker_node": 3, "hub": f"hub-{args.hubs - 1}", "its_homes": killed_homes,
                "at_s": round(killed_wall - first_stored, 1),
            },
            "takeover_s": None if takeover_s is None else round(takeover_s, 1),
            "takeover_bound_s": args.ttl + args.renew,
            "homes_per_hub": per_hub,
            "presses": len(pressed),
            "alerts_per_press_max": max(alerts_per_home.values(), default=0),
            "alert_counts_max": max(counts, default=0),
            "attempts_per_notification_max": max((n for _, n in attempts), default=0),
            "steps_sent_twice": len(steps_twice),
            "help_to_notification_s": _summary(list(latency.values())),
            "help_to_notification_around_kill_s": _summary(around_kill),
            "kit_reconnects": sum(len(r.reconnects) for r in records.values()),
            "broker_vhost_restarts": cluster.vhost_restarts,
        }
    finally:
        for proc in hubs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in hubs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        cluster.stop()
        sink.stop()
        databases.close()
        if os.environ.get("MEHR_BENCH_KEEP"):
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _summary(values: list[float]) -> dict[str, float | int] | None:
    if not values:
        return None
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p99": round(p99, 2),
        "max": round(ordered[-1], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homes", type=int, default=100)
    parser.add_argument("--events", type=int, default=100, help="events per kit")
    parser.add_argument("--rate", type=float, default=5.0, help="events/s per kit (0: burst)")
    parser.add_argument(
        "--hubs", type=int, default=2, choices=(1, 2, 3),
        help="hub processes (1: the cost of replicated ingest, compared; never killed)",
    )
    parser.add_argument("--presses", type=int, default=20, help="help presses in the run")
    parser.add_argument("--ttl", type=float, default=15.0, help="lease TTL, s")
    parser.add_argument("--renew", type=float, default=5.0, help="lease renewal period, s")
    parser.add_argument(
        "--no-kill", dest="kill", action="store_false",
        help="kill nothing (the baseline the kill run is compared with)",
    )
    parser.add_argument("--budget", type=float, default=180.0, help="fleet deadline, s")
    parser.add_argument(
        "--database", choices=("postgresql", "sqlite"), default="postgresql",
        help="the hubs' shared database (default PostgreSQL on loopback)",
    )
    args = parser.parse_args(argv)
    if args.hubs == 1 and args.kill:
        parser.error("one hub is never killed here: add --no-kill")
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
