"""Prometheus metrics, one CollectorRegistry per app: hub counters (when in the hub's process) and
figures read from the database at scrape time (alerts by state, events, kits, queues)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dashboards.context import AppContext

__all__ = ["build_registry"]

_LOGGER = logging.getLogger(__name__)


def _quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class _MehrCollector(Collector):
    """Reads everything fresh at each scrape; holds no state of its own."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        """Yield the current metrics."""
        yield from self._from_hub()
        try:
            yield from self._from_db()
        except Exception:  # a scrape must not fail because the database is busy or migrating
            _LOGGER.exception("metrics: reading the database failed")
        for name, depth in self.ctx.extra_queues.items():
            g = GaugeMetricFamily(f"mehr_{name}_queue_depth", f"Items waiting in {name}.")
            g.add_metric([], float(depth()))
            yield g

    def _from_hub(self) -> Iterator[Metric]:
        stats = self.ctx.hub_stats
        if stats is None:
            return
        snap = stats.snapshot()
        for key in ("received", "stored", "duplicates", "alerts_raised", "batches", "store_errors"):
            c = CounterMetricFamily(f"mehr_hub_{key}", f"Hub messages/events: {key}.")
            c.add_metric([], float(snap.get(key, 0)))
            yield c
        rej = CounterMetricFamily(
            "mehr_hub_rejected", "Rejected messages by reason.", labels=["reason"]
        )
        for reason, count in snap["rejected"].items():
            rej.add_metric([reason], float(count))
        yield rej
        q = GaugeMetricFamily(
            "mehr_hub_ingest_queue_depth", "Messages waiting for the ingest worker."
        )
        q.add_metric([], float(snap["queue_depth"]))
        yield q
        lat = snap.get("ingest_latency") or {}
        if lat:
            g = GaugeMetricFamily(
                "mehr_hub_ingest_latency_seconds",
                "Kit-clock to committed latency of recent events.",
                labels=["quantile"],
            )
            g.add_metric(["0.5"], lat["p50_ms"] / 1000)
            g.add_metric(["0.99"], lat["p99_ms"] / 1000)
            yield g

    def _from_db(self) -> Iterator[Metric]:
        conn = self.ctx.db.connect()
        try:
            states = GaugeMetricFamily("mehr_alerts", "Alerts by state.", labels=["state"])
            for state, count in conn.execute("SELECT state, COUNT(*) FROM alerts GROUP BY state"):
                states.add_metric([state], float(count))
            yield states
            # Ids only grow, so MAX(id) counts events ever stored without scanning the table.
            (events,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
            ev = CounterMetricFamily("mehr_events_stored", "Events stored in the database.")
            ev.add_metric([], float(events))
            yield ev
            kits = GaugeMetricFamily("mehr_kits", "Kits by availability.", labels=["availability"])
            for avail, count in conn.execute(
                "SELECT COALESCE(availability, 'unknown'), COUNT(*) FROM kits GROUP BY 1"
            ):
                kits.add_metric([avail], float(count))
            yield kits
            (outbox,) = conn.execute(
                "SELECT COALESCE(SUM(json_extract(last_heartbeat, '$.outbox_depth')), 0) FROM kits"
            ).fetchone()
            ob = GaugeMetricFamily("mehr_kit_outbox_depth", "Events waiting on kits' disks.")
            ob.add_metric([], float(outbox))
            yield ob
            (requests,) = conn.execute(
                "SELECT COUNT(*) FROM web_requests WHERE state IN ('open','accepted')"
            ).fetchone()
            rq = GaugeMetricFamily("mehr_open_requests", "Family requests waiting for a worker.")
            rq.add_metric([], float(requests))
            yield rq
            since = self.ctx.now().timestamp() - 30 * 86400
            # The alert engine's own columns: when a person acknowledged (web, API or link).
            delays = [
                r[0]
                for r in conn.execute(
                    "SELECT acknowledged_at - raised_at FROM alerts "
                    "WHERE acknowledged_at IS NOT NULL AND raised_at>=?",
                    (since,),
                )
            ]
            ack = GaugeMetricFamily(
                "mehr_alert_ack_latency_seconds",
                "Raised-to-acknowledged time of alerts of the last 30 days.",
                labels=["quantile"],
            )
            if delays:
                for q in (0.5, 0.9, 0.99):
                    ack.add_metric([str(q)], _quantile(delays, q))
            yield ack
            yield self._notification_latency(conn, since)
        finally:
            conn.close()

    @staticmethod
    def _notification_latency(conn: sqlite3.Connection, since: float) -> Metric:
        """Raised-to-first-delivered-message time, from the engine's notification rows."""
        g = GaugeMetricFamily(
            "mehr_alert_notify_latency_seconds",
            "Raised-to-first-successful-delivery time of alerts of the last 30 days.",
            labels=["quantile"],
        )
        # alert_notifications.sent_at is set when a channel accepted the message; the first one
        # per alert is what "notified" means (it also sets alerts.notified_at).
        values = [
            r[0]
            for r in conn.execute(
                "SELECT MIN(n.sent_at) - a.raised_at FROM alert_notifications n "
                "JOIN alerts a ON a.id=n.alert_id WHERE n.sent_at IS NOT NULL AND a.raised_at>=? "
                "GROUP BY a.id",
                (since,),
            )
        ]
        if values:
            for q in (0.5, 0.9, 0.99):
                g.add_metric([str(q)], _quantile(values, q))
        return g


def build_registry(ctx: AppContext) -> CollectorRegistry:
    """A registry of its own for one app (never the process-global default)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_MehrCollector(ctx))
    return registry
