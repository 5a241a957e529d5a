"""The shipped Prometheus scrape config and alert rules: valid for promtool, and every metric
they query is one that the hub's or the web app's /metrics really exports."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from dashboards import create_app
from hub.metrics import build_hub_registry
from hub.stats import HubStats
from tests.dashboards.conftest import World, settings_for

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")


def _exposition(world: World) -> str:
    """What Prometheus scrapes in the two-service layout: the hub's port and the web app's."""
    conn = sqlite3.connect(world.db_path)
    with conn:
        conn.execute(
            "INSERT INTO alert_delivery_attempts (notification_id, at, method_index, channel,"
            " destination, ok, error, duration_s) VALUES (1, 0, 0, 'telegram', 'tg', 0, 'x', 1)"
        )
    conn.close()
    stats = HubStats()
    stats.observe_latency([0.01])
    health = {"ok": True, "problems": [], "oldest_unacked_s": 0.0, "store_failures_in_row": 0}
    hub = generate_latest(build_hub_registry(stats, lambda: health)).decode()
    app = create_app(settings_for(world.db_path), clock=world.clock)
    web = TestClient(app).get("/metrics").text
    return hub + web


def test_alert_rules_query_only_exported_metrics(world: World) -> None:
    """A renamed metric would silently disable an alert: every name in rules.yml is exported."""
    text = _exposition(world)
    assert 'mehr_alert_delivery_attempts_total{channel="telegram",result="failed"} 1.0' in text
    assert "mehr_alert_ack_latency_seconds_bucket" in text
    # Families by their TYPE line, so a labelled counter with no sample yet still counts.
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    exported = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split()
            family = family.removesuffix("_total")
            exported |= {family + suffix for suffix in suffixes.get(kind, ("",))}
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    names = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
            names |= set(re.findall(r"\bmehr_[a-z_]+", rule["expr"]))
    assert names, "no Mehr metric in the rules"
    assert names <= exported, names - exported
    wanted = {"MehrIngestStalled", "MehrKitFleetOffline", "MehrNotificationFailures"}
    assert wanted <= {r["alert"] for g in rules["groups"] for r in g["rules"]}


def test_scrape_config_targets_the_hub_and_the_web_app() -> None:
    """Two jobs: the hub's stats port and the web app's port, both at /metrics."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert targets == {"mehr-hub": ["hub:8787"], "mehr-web": ["web:8080"]}
    assert config["rule_files"] == ["rules.yml"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt: prometheus)")
def test_promtool_accepts_the_config_the_rules_and_the_exposition(world: World) -> None:
    """promtool: config and rules valid, and the exposition passes its metric lint."""
    assert PROMTOOL is not None
    for args in (["check", "config", str(PROMETHEUS / "prometheus.yml")],
                 ["check", "rules", str(PROMETHEUS / "rules.yml")]):  # fmt: skip
        result = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60,
                                check=False)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
    lint = subprocess.run([PROMTOOL, "check", "metrics"], input=_exposition(world),
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr
