"""Prometheus exposition of the hub's own figures (ingest counters, rejects by reason, latency
histogram, health), served by the hub's stats server and reused by a web app running the hub."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.stats import HubStats

__all__ = ["HUB_COUNTERS", "HubCollector", "build_hub_registry"]

# Counters always exported (zero until they move), so alert rules and dashboards never query a
# series that does not exist yet. A counter outside this list is exported once it moves.
HUB_COUNTERS: Mapping[str, str] = {
    "received": "MQTT messages taken from the broker.",
    "stored": "Events committed to the store.",
    "duplicates": "Events dropped as already stored (same kit and sequence number).",
    "heartbeats": "Kit heartbeats stored.",
    "heartbeats_not_written": "Kit heartbeats with nothing new, not written (at most one per "
    "heartbeat_store_every_s per kit is).",
    "availability": "Kit online/offline messages stored.",
    "alerts_raised": "Alerts raised by ingest rules and the routine scan.",
    "batches": "Ingest batches committed.",
    "batch_splits": "Batches split to isolate a message that failed to store.",
    "store_errors": "Store attempts that failed and were retried (nothing acknowledged).",
    "scans": "Routine scans run.",
    "scan_errors": "Routine scans that failed.",
    "urgent_on_events": "Help, I'm OK and fall events received on the events topic, not urgent "
    "(kits from before the urgent topic, MQTT 3.1.1 kits, kits whose ACL lacks it).",
    "urgent_over_rate": "Urgent messages past their kit's allowance (urgent_per_kit_burst), "
    "stored at the routine pace.",
    "urgent_demoted": "Urgent messages that found the urgent inbox full and went the routine "
    "way (with the urgent lane, each connection's copy is counted).",
    "wal_restarts": "Times the SQLite WAL, grown past wal_restart_above_mb, was started over.",
    "wal_restarts_put_off": "WAL restarts put off to the next second: a writer or reader held on.",
}


class HubCollector(Collector):
    """Reads one hub's stats at each scrape; holds nothing of its own."""

    def __init__(
        self,
        stats: HubStats,
        health: Callable[[], Mapping[str, Any]] | None = None,
        queues: Mapping[str, Callable[[], int]] | None = None,
    ) -> None:
        self.stats = stats
        self.health = health
        self.queues = dict(queues or {})

    def collect(self) -> Iterator[Metric]:
        """Yield the hub's current metrics."""
        snap = self.stats.snapshot()
        names = dict(HUB_COUNTERS)
        for key, value in snap.items():
            if isinstance(value, int) and key not in names and key not in (
                "queue_depth", "rejected_total",
            ):  # fmt: skip
                names[key] = f"Hub counter: {key}."
        for key, doc in names.items():
            counter = CounterMetricFamily(f"mehr_hub_{key}", doc)
            counter.add_metric([], float(snap.get(key, 0)))
            yield counter
        rejected = CounterMetricFamily(
            "mehr_hub_rejected", "Rejected messages by reason.", labels=["reason"]
        )
        for reason, count in snap["rejected"].items():
            rejected.add_metric([reason], float(count))
        yield rejected
        warnings = CounterMetricFamily(
            "mehr_hub_warnings", "Accepted messages worth a look, by reason.", labels=["reason"]
        )
        for reason, count in snap["warnings"].items():
            warnings.add_metric([reason], float(count))
        yield warnings
        depth = GaugeMetricFamily(
            "mehr_hub_ingest_queue_depth", "Messages waiting for the ingest worker."
        )
        depth.add_metric([], float(snap["queue_depth"]))
        yield depth
        yield from self.stats.latency_histogram.collect()
        yield from self.stats.database_flush_histogram.collect()
        yield from self.stats.writer_waits.histogram.collect()
        if self.health is not None:
            yield from self._health()
        for name, read in self.queues.items():
            gauge = GaugeMetricFamily(f"mehr_{name}_queue_depth", f"Items waiting in {name}.")
            gauge.add_metric([], float(read()))
            yield gauge

    def _health(self) -> Iterator[Metric]:
        assert self.health is not None
        state = self.health()
        up = GaugeMetricFamily(
            "mehr_hub_healthy", "1 when /healthz answers 200 (connected, storing, not stalled)."
        )
        up.add_metric([], 1.0 if state["ok"] else 0.0)
        yield up
        problems = GaugeMetricFamily(
            "mehr_hub_problem", "1 for each problem /healthz names.", labels=["problem"]
        )
        for problem in ("broker_disconnected", "ingest_stalled", "store_errors"):
            problems.add_metric([problem], 1.0 if problem in state["problems"] else 0.0)
        yield problems
        oldest = GaugeMetricFamily(
            "mehr_hub_oldest_unacked_seconds",
            "How long the oldest received message has waited unacknowledged.",
        )
        oldest.add_metric([], float(state["oldest_unacked_s"]))
        yield oldest


def build_hub_registry(
    stats: HubStats,
    health: Callable[[], Mapping[str, Any]] | None = None,
    queues: Mapping[str, Callable[[], int]] | None = None,
) -> CollectorRegistry:
    """A registry of the hub's own (never the process-global default)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(stats, health, queues))
    return registry
