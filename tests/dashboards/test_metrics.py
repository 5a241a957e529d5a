"""/metrics: one registry per app, hub counters when given, database figures, Grafana JSON valid."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from dashboards import create_app
from hub.stats import HubStats
from tests.dashboards.conftest import World, settings_for


def test_metrics_show_hub_counters_and_alert_states(world: World) -> None:
    """Events in, rejects by reason, alerts by state and queue depths are all exposed."""
    stats = HubStats()
    stats.incr("received", 7)
    stats.reject("malformed")
    app = create_app(settings_for(world.db_path), clock=world.clock, hub_stats=stats,
                     extra_queues={"influx": lambda: 3})
    text = TestClient(app).get("/metrics").text
    assert "mehr_hub_received_total 7.0" in text
    assert 'mehr_hub_rejected_total{reason="malformed"} 1.0' in text
    assert 'mehr_alerts{state="raised"} 2.0' in text
    assert "mehr_kit_outbox_depth 4.0" in text
    assert "mehr_influx_queue_depth 3.0" in text
    # A second app has its own registry: nothing leaks between instances.
    other = TestClient(create_app(settings_for(world.db_path), clock=world.clock)).get("/metrics")
    assert "mehr_hub_received_total" not in other.text


def test_metrics_token_is_enforced(world: World) -> None:
    """With a token configured, an anonymous scrape is refused."""
    app = create_app(settings_for(world.db_path, metrics_token="t0k"), clock=world.clock)
    client = TestClient(app)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer t0k"}).status_code == 200


def test_grafana_dashboard_uses_exported_metric_names() -> None:
    """Every metric the Grafana dashboard queries is one /metrics exports."""
    root = Path(__file__).resolve().parents[2] / "dashboards" / "grafana"
    dash = json.loads((root / "mehr-overview.json").read_text())
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    # The web app's collector and the hub's (hub/metrics.py and the histogram in hub/stats.py).
    hub = root.parents[1] / "hub"
    sources = (root.parent / "metrics.py", hub / "metrics.py", hub / "stats.py")
    source = "".join(path.read_text() for path in sources)
    for name in ("mehr_events_stored", "mehr_hub_rejected", "mehr_alerts",
                 "mehr_alert_ack_latency_seconds", "mehr_kit_outbox_depth",
                 "mehr_hub_ingest_latency_seconds"):
        assert name in exprs and name in source
