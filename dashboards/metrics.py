"""Prometheus metrics, one CollectorRegistry per app: hub counters (when in the hub's process) and
figures read from the database at scrape time (alerts by state, events, kits, queues)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from dashboards.context import AppContext
from hub.metrics import HubCollector

__all__ = ["ACK_BUCKETS_S", "NOTIFY_BUCKETS_S", "build_registry"]

_LOGGER = logging.getLogger(__name__)


# Seconds from raised to first delivered message (channels answer in seconds; retries take
# minutes) and to a person's acknowledgement (the district's targets are minutes).
NOTIFY_BUCKETS_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
ACK_BUCKETS_S = (30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0)


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
        # The same families the hub's own /metrics serves (hub.metrics), when in its process.
        if self.ctx.hub_stats is not None:
            yield from HubCollector(self.ctx.hub_stats).collect()

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
            # The alert engine's own columns, over all alerts ever: cumulative buckets only grow,
            # so Prometheus can take rates and quantiles over any window (a 30-day window here
            # would shrink and break rate()).
            yield _latency_histogram(
                conn,
                "mehr_alert_ack_latency_seconds",
                "Raised-to-acknowledged time of alerts (web, API or link).",
                "SELECT acknowledged_at - raised_at AS d FROM alerts "
                "WHERE acknowledged_at IS NOT NULL",
                ACK_BUCKETS_S,
            )
            # alert_notifications.sent_at is set when a channel accepted the message; the first
            # one per alert is what "notified" means (it also sets alerts.notified_at).
            yield _latency_histogram(
                conn,
                "mehr_alert_notify_latency_seconds",
                "Raised-to-first-successful-delivery time of alerts.",
                "SELECT MIN(n.sent_at) - a.raised_at AS d FROM alert_notifications n "
                "JOIN alerts a ON a.id=n.alert_id WHERE n.sent_at IS NOT NULL GROUP BY a.id",
                NOTIFY_BUCKETS_S,
            )
            attempts = CounterMetricFamily(
                "mehr_alert_delivery_attempts",
                "Delivery attempts of alert messages by channel and result.",
                labels=["channel", "result"],
            )
            for channel, ok, count in conn.execute(
                "SELECT channel, ok, COUNT(*) FROM alert_delivery_attempts GROUP BY 1, 2"
            ):
                attempts.add_metric([channel, "ok" if ok else "failed"], float(count))
            yield attempts
        finally:
            conn.close()


def _latency_histogram(
    conn: sqlite3.Connection, name: str, doc: str, durations_sql: str, buckets: Sequence[float]
) -> Metric:
    """Count the durations the query returns into cumulative buckets, in SQL (one pass)."""
    columns = ", ".join(f"COALESCE(SUM(d <= {float(b)!r}), 0)" for b in buckets)
    row = conn.execute(
        f"SELECT {columns}, COUNT(*), COALESCE(SUM(d), 0) FROM ({durations_sql})"
    ).fetchone()
    *cumulative, count, total = row
    family = HistogramMetricFamily(name, doc)
    family.add_metric(
        [],
        [(repr(float(b)), float(c)) for b, c in zip(buckets, cumulative, strict=True)]
        + [("+Inf", float(count))],
        float(total),
    )
    return family


def build_registry(ctx: AppContext) -> CollectorRegistry:
    """A registry of its own for one app (never the process-global default)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_MehrCollector(ctx))
    return registry
