"""In the two-service layout the hub is its own process: its stats server must serve Prometheus
text with the ingest counters, rejects by reason and latency histogram buckets."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from mehr.contract import SensorKind, TopicKind, topic_for
from mehr_app.services.mosquitto import Mosquitto, free_port
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import kit_user
from tests.hub.one_kit import operator_hub_config
from tests.hub.test_end_to_end import write_registry


def _scrape(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            return str(response.read().decode())
    except OSError:
        return ""


def _subscribed(stats_url: str) -> bool:
    # /metrics answers before the hub's subscription is granted; what a kit publishes before
    # that goes to nobody (seen once in CI under load).
    try:
        with urllib.request.urlopen(stats_url, timeout=2) as response:
            return bool(json.loads(response.read()).get("broker_connected"))
    except OSError:
        return False


def _value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return -1.0


def test_hub_process_serves_ingest_counters_and_histogram_buckets(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    """`mehr hub` alone (no web app in its process): /metrics on the stats port counts stored
    events, a malformed message under its reason, and latency as cumulative buckets."""
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    mosquitto.restart()
    port = free_port()
    config = operator_hub_config(
        tmp_path, mosquitto, hub_password, port,
        registry_file=str(write_registry(tmp_path / "reg.yaml", [("home-1", "kit-1")])),
    )  # fmt: skip
    hub = subprocess.Popen(
        [sys.executable, "-m", "mehr_app", "hub", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    kit = SimpleKit("home-1", "kit-1", mosquitto.host, mosquitto.port, user.username,
                    user.password, mqtt_v5=True)  # fmt: skip
    try:
        wait_until(lambda: _scrape(url) != "" or hub.poll() is not None, 30, "hub /metrics")
        assert hub.poll() is None, hub.stderr.read() if hub.stderr else ""
        wait_until(lambda: _subscribed(url.replace("/metrics", "/stats")), 30, "hub subscribed")
        kit.connect()
        for _ in range(3):
            kit.event("door", SensorKind.DOOR, "open")
        kit.client.publish(topic_for("home-1", "kit-1", TopicKind.EVENTS), b"{not json", qos=1)
        kit.flush()
        wait_until(lambda: _value(_scrape(url), "mehr_hub_stored_total") >= 3, 20, "3 stored")
        text = _scrape(url)
        assert _value(text, "mehr_hub_received_total") >= 5  # birth, three events, the junk
        rejected = [
            line for line in text.splitlines() if line.startswith("mehr_hub_rejected_total{")
        ]
        assert sum(float(line.split()[-1]) for line in rejected) == 1.0, rejected
        assert _value(text, 'mehr_hub_ingest_latency_seconds_bucket{le="+Inf"}') == 3.0
        assert _value(text, "mehr_hub_ingest_latency_seconds_count") == 3.0
        assert "# TYPE mehr_hub_ingest_latency_seconds histogram" in text
        assert "# TYPE mehr_hub_database_flush_seconds histogram" in text  # exported from start
        assert _value(text, "mehr_hub_healthy") == 1.0
    finally:
        kit.close()
        hub.terminate()
        hub.wait(timeout=30)
