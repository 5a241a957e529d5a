"""Fuzz benchmark: hostile input against the hub as the operator runs it; prints one JSON line.

    .venv/bin/python bench/fuzz.py --mqtt [--payloads 100000] [--chunk 2000] [--seed 1]
    .venv/bin/python bench/fuzz.py --api ...   (the HTTP part; see run_api)

MQTT part: a real Mosquitto, the real hub process (`mehr hub --config ...`, routine scan and alert
engine on, alerts delivered to a local webhook), several kits each with their own broker
credentials. Every kit topic (events, accel, heartbeat, availability) gets hostile payloads from
simulators/hostile.py, interleaved with valid events (some of them help presses). After each
chunk a canary event must be stored within `--canary-timeout-s`, or the chunk counts as an
ingest stall. At the end: hub crashes (the process died), stalls, valid events lost, rows in the
database that do not pass the contract again ("invalid rows"), rejects by reason from /stats, and
the bytes the hub wrote to its log.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.broker_auth import BrokerUser, hub_acl_rules, kit_acl_rules
from mehr.contract import (
    ContractError,
    SensorKind,
    TopicKind,
    encode,
    event_topic,
    make_event,
    parse_message,
    topic_for,
)
from mehr_app.services.homes import home_spec
from mehr_app.services.mosquitto import Mosquitto, free_port
from simulators.hostile import HOSTILE_TOPIC_KINDS, hostile_payload, wire_time

HUB_USER = "mehr-hub"
# Valid events and canaries have epochs of their own (hostile payloads use epoch 1).
VALID_EPOCH = 1001
CANARY_EPOCH = 1002


class _Webhook(BaseHTTPRequestHandler):
    """A local stand-in for an SMS gateway: counts the alert messages the hub sends."""

    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def _alerts_config(path: Path, homes: list[str], webhook_port: int) -> Path:
    sms = {"url": f"json://127.0.0.1:{webhook_port}/send", "kind": "sms"}
    example = Path(__file__).resolve().parents[1] / "hub" / "alerts" / "examples" / "district.yaml"
    config = yaml.safe_load(example.read_text())  # its policies; people and homes are ours
    config.pop("gateways", None)  # the example's SMS/Telegram accounts need real credentials
    config |= {
        "district": {"name": "Fuzz", "timezone": "Asia/Tashkent", "supervisor": "sup"},
        "mahallas": [
            {"name": "Navbahor", "rota": [{"person": "sw", "start": "00:00", "end": "00:00"}]}
        ],
        "people": [
            {"id": "sw", "name": "Worker", "languages": ["uz"], "methods": [sms]},
            {"id": "sup", "name": "Supervisor", "languages": ["uz"], "methods": [sms]},
        ],
        "homes": [{"home": h, "resident": f"Resident {h}", "address": "Navbahor"} for h in homes],
    }
    config["district"]["duty_officers"] = [{"person": "sup", "start": "00:00", "end": "00:00"}]
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


class Kit:
    """One kit's paho client, publishing with its own credentials."""

    def __init__(self, broker: Mosquitto, user: BrokerUser, home: str) -> None:
        self.home, self.kit = home, user.username
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"fuzz-{self.kit}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.username_pw_set(user.username, user.password)
        self.client.max_inflight_messages_set(500)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.pending: list[mqtt.MQTTMessageInfo] = []
        self.valid_seq = 0
        self.canary_seq = 0
        self.help_presses = 0

    def publish(self, kind: TopicKind, payload: bytes) -> None:
        self.pending.append(
            self.client.publish(topic_for(self.home, self.kit, kind), payload, qos=1)
        )

    def valid_event(self, rng: random.Random) -> None:
        self.valid_seq += 1
        help_press = rng.random() < 0.01
        self.help_presses += help_press
        event = make_event(
            kit=self.kit, epoch=VALID_EPOCH, seq=self.valid_seq,
            sensor="help" if help_press else "pir-kitchen",
            kind=SensorKind.HELP_BUTTON if help_press else SensorKind.MOTION,
            value="pressed" if help_press else rng.random() < 0.5,
            ts=datetime.now(UTC),
        )  # fmt: skip
        self.publish(event_topic(event.kind), encode(event))

    def canary(self) -> int:
        self.canary_seq += 1
        event = make_event(
            kit=self.kit, epoch=CANARY_EPOCH, seq=self.canary_seq, sensor="pir-kitchen",
            kind=SensorKind.MOTION, value=True, ts=datetime.now(UTC),
        )  # fmt: skip
        self.publish(TopicKind.EVENTS, encode(event))
        return self.canary_seq

    def flush(self) -> None:
        for info in self.pending:
            info.wait_for_publish(120)
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()


def _stored(db: Path, kit: str, epoch: int, seq: int) -> bool:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return False
    try:
        row = conn.execute(
            "SELECT 1 FROM events WHERE kit_id=? AND epoch=? AND seq=?", (kit, epoch, seq)
        ).fetchone()
        return row is not None
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def _invalid_rows(db: Path, max_age_s: float, max_ahead_s: float, started: datetime) -> int:
    """Rows that would not pass the contract and the hub's time rules again."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    bad = 0
    late = datetime.now(UTC) + timedelta(seconds=max_ahead_s)
    early = started - timedelta(seconds=max_age_s)
    for r in conn.execute("SELECT * FROM events"):
        at = datetime.fromtimestamp(r["occurred_at"], UTC)
        body: dict[str, Any] = {
            "v": 1, "kit": r["kit_id"], "epoch": r["epoch"], "seq": r["seq"],
            "sensor": r["sensor_id"], "kind": r["kind"], "ts": wire_time(at),
        }  # fmt: skip
        value = json.loads(r["value"])
        kind = (
            TopicKind.ACCEL if r["kind"] == "accel_window" else event_topic(SensorKind(r["kind"]))
        )
        if kind is TopicKind.ACCEL:
            body.update(value)
        else:
            body["value"] = value
        try:
            parse_message(topic_for(r["home_id"], r["kit_id"], kind), json.dumps(body).encode())
        except ContractError:
            bad += 1
            continue
        bad += not early <= at <= late
    for r in conn.execute("SELECT id, home_id, last_heartbeat FROM kits"):
        if r["last_heartbeat"] is None:
            continue
        beat = {k: v for k, v in json.loads(r["last_heartbeat"]).items() if k != "hub_offset_s"}
        try:
            parse_message(
                topic_for(r["home_id"], r["id"], TopicKind.HEARTBEAT), json.dumps(beat).encode()
            )
        except ContractError:
            bad += 1
    conn.close()
    return bad


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return dict(json.loads(response.read()))


def run_mqtt(args: argparse.Namespace) -> dict[str, Any]:
    """The MQTT part: hostile payloads on every kit topic through Mosquitto to the hub process."""
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="mehr-fuzz-"))
    hub_password = secrets.token_urlsafe(16)
    homes = [(f"home-{i + 1}", f"kit-{i + 1}") for i in range(args.kits)]
    users = {
        kit: BrokerUser(kit, secrets.token_urlsafe(12), kit_acl_rules(home, kit))
        for home, kit in homes
    }
    broker = Mosquitto(
        work / "mosquitto",
        users=[BrokerUser(HUB_USER, hub_password, hub_acl_rules()), *users.values()],
    )
    broker.start()
    webhook = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    registry = work / "registry.yaml"
    registry.write_text(
        yaml.safe_dump({"homes": [home_spec(h, k).model_dump(mode="json") for h, k in homes]})
    )
    db = work / "hub.db"
    stats_port = free_port()
    config = work / "hub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "mqtt_url": broker.url,
                "mqtt_username": HUB_USER,
                "mqtt_password": hub_password,
                "mqtt_protocol": "5",
                "db_path": str(db),
                "registry_file": str(registry),
                "stats_port": stats_port,
                "scan_interval_s": 5,
                "alerts_config": str(
                    _alerts_config(
                        work / "alerts.yaml", [h for h, _ in homes], webhook.server_address[1]
                    )
                ),
                "alerts_secret": secrets.token_urlsafe(32),
            }
        )
    )
    log = work / "hub.log"
    stats_url = f"http://127.0.0.1:{stats_port}"

    def start_hub() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mehr_app", "hub", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
        )
        deadline = time.monotonic() + 90  # a loaded 2-core machine starts a hub slowly
        while time.monotonic() < deadline:
            try:
                if _get_json(f"{stats_url}/healthz").get("ok"):
                    return proc
            except OSError:
                pass
            time.sleep(0.05)  # waiting for another process to come up
        raise RuntimeError(f"hub did not become healthy; see {log}")

    started = datetime.now(UTC)
    try:
        hub = start_hub()
        kits = [Kit(broker, users[kit], home) for home, kit in homes]
    except BaseException:
        webhook.shutdown()
        broker.stop()
        raise
    crashes = stalls = sent = valid_sent = 0
    styles: dict[str, int] = {}
    canary_waits: list[float] = []
    t0 = time.perf_counter()
    try:
        while sent < args.payloads:
            for _ in range(min(args.chunk, args.payloads - sent)):
                kit = rng.choice(kits)
                kind = rng.choice(HOSTILE_TOPIC_KINDS)
                style, payload = hostile_payload(
                    kind, kit.kit, rng.randrange(1, 2**62), datetime.now(UTC), rng
                )
                styles[style] = styles.get(style, 0) + 1
                kit.publish(kind, payload)
                sent += 1
                if rng.random() < args.valid_ratio:
                    kit.valid_event(rng)
                    valid_sent += 1
            canaries = [(kit, kit.canary()) for kit in kits]
            for kit in kits:
                kit.flush()
            waited = time.perf_counter()
            deadline = waited + args.canary_timeout_s
            while not all(_stored(db, k.kit, CANARY_EPOCH, s) for k, s in canaries):
                if hub.poll() is not None:
                    crashes += 1
                    hub = start_hub()
                if time.perf_counter() > deadline:
                    stalls += 1
                    break
                time.sleep(0.05)  # the hub is storing in another process
            canary_waits.append(time.perf_counter() - waited)
        elapsed = time.perf_counter() - t0
        # Every valid event must be in: lost ones are counted, not waited for forever.
        deadline = time.perf_counter() + args.canary_timeout_s
        while time.perf_counter() < deadline and not all(
            _stored(db, k.kit, VALID_EPOCH, k.valid_seq) for k in kits if k.valid_seq
        ):
            time.sleep(0.1)  # the hub is storing in another process
        stats = _get_json(f"{stats_url}/stats")
        health = _get_json(f"{stats_url}/healthz")
    finally:
        for kit in kits:
            kit.close()
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)
            hub.wait(timeout=30)
        else:
            crashes += 1
        webhook.shutdown()
        broker.stop()
    conn = sqlite3.connect(db)
    valid_stored = conn.execute(
        "SELECT COUNT(*) FROM events WHERE epoch=?", (VALID_EPOCH,)
    ).fetchone()[0]
    alerts = conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
    conn.close()
    log_text = log.read_text(errors="replace")
    canary_waits.sort()
    return {
        "part": "mqtt",
        "payloads": sent,
        "valid_events_sent": valid_sent,
        "help_presses_sent": sum(k.help_presses for k in kits),
        "valid_events_stored": valid_stored,
        "kits": args.kits,
        "hub_crashes": crashes,
        "ingest_stalls": stalls,
        "invalid_rows": _invalid_rows(db, 30 * 86400, 300, started),
        "rejected_total": stats["rejected_total"],
        "rejected": stats["rejected"],
        "stored": stats.get("stored", 0),
        "alerts": alerts,
        "alert_messages_sent": _Webhook.received,
        "healthz_at_end": health,
        "log_bytes": log.stat().st_size,
        "log_lines": log_text.count("\n"),
        "tracebacks_in_log": log_text.count("Traceback"),
        "canary_wait_s_median": round(canary_waits[len(canary_waits) // 2], 3),
        "canary_wait_s_max": round(canary_waits[-1], 3),
        "elapsed_s": round(elapsed, 1),
        "payloads_per_s": round(sent / elapsed, 1),
        "styles": dict(sorted(styles.items())),
        "seed": args.seed,
    }


def run_api(args: argparse.Namespace) -> dict[str, Any]:
    """The HTTP part: schemathesis over the web app's OpenAPI, anonymous and per role
    (bench/fuzz_api.py, which can also run alone)."""
    import fuzz_api  # bench/ is this script's folder, so it is on sys.path

    argv = ["--cases", str(args.cases), "--seed", str(args.seed), "--jobs", str(args.jobs)]
    if fuzz_api.main(argv) != 0:
        return {"api_server_errors": True}
    return {"api": "no HTTP 5xx, /healthz 200 afterwards"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mqtt", action="store_true", help="fuzz the hub's MQTT ingest")
    parser.add_argument("--api", action="store_true", help="fuzz the web app's HTTP API")
    parser.add_argument("--payloads", type=int, default=100_000, help="hostile MQTT payloads")
    parser.add_argument("--chunk", type=int, default=2000, help="payloads between canaries")
    parser.add_argument("--kits", type=int, default=4, help="kits (each its own home)")
    parser.add_argument("--valid-ratio", type=float, default=0.1, help="valid events per payload")
    parser.add_argument("--canary-timeout-s", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=50_000, help="API cases (schemathesis)")
    parser.add_argument("--jobs", type=int, default=2, help="API client processes")
    args = parser.parse_args(argv)
    if not (args.mqtt or args.api):
        parser.error("choose --mqtt and/or --api")
    failed = False
    for wanted, run in ((args.mqtt, run_mqtt), (args.api, run_api)):
        if wanted:
            result = run(args)
            print(json.dumps(result, ensure_ascii=False))
            failed |= bool(result.get("hub_crashes") or result.get("ingest_stalls"))
            failed |= bool(result.get("invalid_rows") or result.get("api_server_errors"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
