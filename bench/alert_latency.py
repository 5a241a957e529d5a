"""Alert latency: help-button press at a simulated kit to the email at an SMTP server, through
real parts: Mosquitto, the hub (ingest + alert engine + apprise) and aiosmtpd on loopback.

    .venv/bin/python bench/alert_latency.py [--runs 100]

Each run presses the button, waits for the on-call worker's email, then resolves the alert
so the next press opens a new one. Prints p50/p95/p99/max in milliseconds (and JSON with --json).
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.alerts.config import load_alerts_config
from hub.alerts.lifecycle import AlertService, Outcome
from hub.broker_auth import BrokerUser, hub_acl_rules, kit_acl_rules
from hub.config import HubSettings, MqttProtocol
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.service import Hub
from mehr.clock import SystemClock
from mehr.contract import SensorKind
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.smtp_sink import SmtpSink
from simulators.simple_kit import SimpleKit

HOME, KIT = "home-1", "kit-1"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    work = Path(tempfile.mkdtemp(prefix="mehr-alert-bench-"))
    hub_password = secrets.token_urlsafe(16)
    kit_user = BrokerUser(KIT, secrets.token_urlsafe(12), kit_acl_rules(HOME, KIT))
    broker = Mosquitto(
        work / "mosquitto",
        users=[BrokerUser("mehr-hub", hub_password, hub_acl_rules()), kit_user],
    )
    broker.start()
    smtp = SmtpSink()
    smtp.start()
    registry = {
        "homes": [
            HomeSpec(
                id=HOME,
                name="Bench home",
                mahalla="Navbahor",
                kits=[
                    KitSpec(
                        id=KIT,
                        sensors=[
                            SensorSpec(id="help", kind=SensorKind.HELP_BUTTON, room="Bedroom")
                        ],
                    )
                ],
            ).model_dump(mode="json")
        ]
    }
    (work / "registry.yaml").write_text(yaml.safe_dump(registry))
    alerts = {
        "district": {"name": "Bench", "supervisor": "sw"},
        "mahallas": [
            {"name": "Navbahor", "rota": [{"person": "sw", "start": "00:00", "end": "00:00"}]}
        ],
        "people": [{"id": "sw", "name": "Aziza", "methods": [{"url": smtp.url("sw@mehr.test")}]}],
        "homes": [{"home": HOME, "resident": "Mavluda opa", "address": "Navbahor 12"}],
        "policies": {
            s: {"steps": [{"after_s": 0, "notify": ["on_call"]}]}
            for s in ("critical", "high", "medium", "low")
        },
    }
    (work / "alerts.yaml").write_text(yaml.safe_dump(alerts))
    settings = HubSettings(
        mqtt_url=broker.url,
        mqtt_username="mehr-hub",
        mqtt_password=hub_password,
        mqtt_protocol=MqttProtocol.V5,
        db_path=work / "hub.db",
        registry_file=work / "registry.yaml",
        stats_port=0,
        alerts_config=work / "alerts.yaml",
        alerts_secret=secrets.token_urlsafe(48),
        # One kit presses --runs times in a row: each press must take the urgent path measured
        # here, not go the routine way past the kit's allowance.
        urgent_per_kit_burst=max(30, args.runs),
    )
    hub = Hub(settings)
    hub.start()
    kit = SimpleKit(
        HOME, KIT, broker.host, broker.port, kit_user.username, kit_user.password, mqtt_v5=True
    )
    kit.connect()
    conn = sqlite3.connect(work / "hub.db", isolation_level=None, timeout=30)
    svc = AlertService(conn, load_alerts_config(work / "alerts.yaml"), SystemClock())
    latencies: list[float] = []
    try:
        for run in range(args.runs):
            started = time.perf_counter()
            kit.event("help", SensorKind.HELP_BUTTON, "pressed")
            try:
                mail = smtp.inbox.get(timeout=10)
            except queue.Empty:
                raise SystemExit(f"run {run}: no email within 10 s") from None
            latencies.append(mail.at - started)
            # Close it, so the next press is a new alert rather than a repeat merged into it.
            for alert in svc.list_alerts("bench", states=["raised", "notified"]):
                svc.resolve(alert.id, "bench", Outcome.FALSE_ALARM)
    finally:
        conn.close()
        kit.close()
        hub.stop()
        smtp.stop()
        broker.stop()
    ms = [v * 1000 for v in latencies]
    result = {
        "runs": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(_percentile(ms, 95), 1),
        "p99_ms": round(_percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"help press -> email at SMTP, {result['runs']} runs: p50 {result['p50_ms']} ms, "
            f"p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms"
        )


if __name__ == "__main__":
    main()
