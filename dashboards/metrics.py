"""Prometheus metrics, one CollectorRegistry per app: hub counters (when in the hub's process) and
figures read from the database at scrape time (alerts by state, events, kits, queues)."""

from __future__ import annotations

import logging
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
from hub.persistence import web_metrics as stored
from hub.persistence.web_metrics import Histogram

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
            for state, count in stored.alerts_by_state(conn).items():
                states.add_metric([state], float(count))
            yield states
            ev = CounterMetricFamily("mehr_events_stored", "Events stored in the database.")
            ev.add_metric([], float(stored.events_stored(conn)))
            yield ev
            kits = GaugeMetricFamily("mehr_kits", "Kits by availability.", labels=["availability"])
            for avail, count in stored.kits_by_availability(conn).items():
                kits.add_metric([avail], float(count))
            yield kits
            ob = GaugeMetricFamily("mehr_kit_outbox_depth", "Events waiting on kits' disks.")
            ob.add_metric([], float(stored.kit_outbox_depth(conn)))
            yield ob
            rq = GaugeMetricFamily("mehr_open_requests", "Family requests waiting for a worker.")
            rq.add_metric([], float(stored.open_request_count(conn)))
            yield rq
            # The alert engine's own columns, over all alerts ever: cumulative buckets only grow,
            # so Prometheus can take rates and quantiles over any window (a 30-day window here
            # would shrink and break rate()).
            yield _histogram(
                "mehr_alert_ack_latency_seconds",
                "Raised-to-acknowledged time of alerts (web, API or link).",
                stored.ack_latency(conn, ACK_BUCKETS_S),
                ACK_BUCKETS_S,
            )
            yield _histogram(
                "mehr_alert_notify_latency_seconds",
                "Raised-to-first-successful-delivery time of alerts.",
                stored.notify_latency(conn, NOTIFY_BUCKETS_S),
                NOTIFY_BUCKETS_S,
            )
            attempts = CounterMetricFamily(
                "mehr_alert_delivery_attempts",
                "Delivery attempts of alert messages by channel and result.",
                labels=["channel", "result"],
            )
            for (channel, ok), count in stored.delivery_attempts(conn).items():
                attempts.add_metric([channel, "ok" if ok else "failed"], float(count))
            yield attempts
        finally:
            conn.close()


def _histogram(name: str, doc: str, counted: Histogram, buckets: Sequence[float]) -> Metric:
    """A Prometheus histogram of counts the database made in one pass."""
    family = HistogramMetricFamily(name, doc)
    family.add_metric(
        [],
        [(repr(float(b)), float(c)) for b, c in zip(buckets, counted.cumulative, strict=True)]
        + [("+Inf", float(counted.count))],
        counted.total,
    )
    return family


def build_registry(ctx: AppContext) -> CollectorRegistry:
    """A registry of its own for one app (never the process-global default)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_MehrCollector(ctx))
    return registry
