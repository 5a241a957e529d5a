"""Counters of what the hub received, stored, dropped as duplicate and rejected (by reason)."""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from typing import Any

from prometheus_client import Histogram

from hub.writer_waits import WriterWaits

__all__ = ["DATABASE_FLUSH_BUCKETS_S", "INGEST_LATENCY_BUCKETS_S", "HubStats", "nearest_rank"]

# Kit clock to committed: milliseconds on a healthy LAN, seconds for an outbox draining after an
# outage, minutes past the last bucket for a kit that was offline (then +Inf holds it).
INGEST_LATENCY_BUCKETS_S = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip

# Flushing what the WAL's copies wrote into the database file: tens of milliseconds on a quiet
# SSD, a few hundred at a district's peak; seconds mean a disk busy with storing (the flush
# waits in the idle I/O class) or one that cannot keep up.
DATABASE_FLUSH_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def nearest_rank(sorted_values: list[float], q: float) -> float:
    """Return the q-quantile (0 < q <= 1) of ascending values by the nearest-rank method.

    The rank ceil(q * n) never decreases as q grows, so p50 <= p99 for any sample size (the old
    formulas picked index n//2 for p50 but int(0.99 n) - 1 for p99: with two samples p50 was the
    larger one and p99 the smaller).
    """
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class HubStats:
    """Thread-safe counters; one instance per hub (no module-level state)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._warnings: Counter[str] = Counter()
        # Rejects of registered kits, by kit and reason (unknown senders are not keyed, so a
        # flood of made-up kit ids cannot grow this).
        self._rejected_by_kit: dict[str, Counter[str]] = {}
        self.queue_depth = 0
        # Publish-to-committed latency of recent events, in seconds (bounded: newest 100,000).
        self._latency: deque[float] = deque(maxlen=100_000)
        # The same latencies as a Prometheus histogram (cumulative buckets that aggregate across
        # hubs and over time); registry=None keeps it out of the process-global registry.
        self.latency_histogram = Histogram(
            "mehr_hub_ingest_latency_seconds",
            "Kit-clock to committed-in-the-store latency of stored events.",
            buckets=INGEST_LATENCY_BUCKETS_S,
            registry=None,
        )
        self.database_flush_histogram = Histogram(
            "mehr_hub_database_flush_seconds",
            "Time to flush the SQLite database file after the WAL's copies, waiting for the disk "
            "included (ingest is not held, but shares the disk with it).",
            buckets=DATABASE_FLUSH_BUCKETS_S,
            registry=None,
        )
        self.writer_waits = WriterWaits()

    def incr(self, name: str, amount: int = 1) -> None:
        """Add to a named counter (received, stored, duplicates, alerts_raised, ...)."""
        with self._lock:
            self._counts[name] += amount

    def reject(self, reason: str, kit_id: str | None = None) -> None:
        """Count one rejected message under its reason (and its kit, when registered)."""
        with self._lock:
            self._rejected[reason] += 1
            if kit_id is not None:
                self._rejected_by_kit.setdefault(kit_id, Counter())[reason] += 1

    def rejected_of_kit(self, kit_id: str) -> dict[str, int]:
        """Return one registered kit's rejects by reason."""
        with self._lock:
            return dict(self._rejected_by_kit.get(kit_id, {}))

    def warn(self, reason: str) -> None:
        """Count something accepted but worth a look (for example an unregistered sensor)."""
        with self._lock:
            self._warnings[reason] += 1

    def observe_latency(self, seconds: list[float]) -> None:
        """Record how long events took from the kit's clock to committed in the store."""
        with self._lock:
            self._latency.extend(seconds)
        for value in seconds:
            # A kit clock slightly ahead gives a negative latency; it belongs in the first bucket.
            self.latency_histogram.observe(max(0.0, value))

    def latency_quantiles(self) -> dict[str, float]:
        """Return p50/p99 (ms) of recent publish-to-committed latency, empty if none."""
        with self._lock:
            values = sorted(self._latency)
        if not values:
            return {}
        return {
            "p50_ms": round(nearest_rank(values, 0.5) * 1000, 2),
            "p99_ms": round(nearest_rank(values, 0.99) * 1000, 2),
            "samples": len(values),
        }

    def get(self, name: str) -> int:
        """Return one counter."""
        with self._lock:
            return self._counts[name]

    def rejected(self, reason: str | None = None) -> int:
        """Return rejects of one reason, or of all reasons."""
        with self._lock:
            if reason is None:
                return sum(self._rejected.values())
            return self._rejected[reason]

    def raise_to(self, name: str, value: int) -> None:
        """Keep a named counter at the highest value seen (a high-water mark)."""
        with self._lock:
            self._counts[name] = max(self._counts[name], value)

    def take_counts(self) -> dict[str, int]:
        """Return the named counters and reset them (a worker process reports its deltas)."""
        with self._lock:
            counts = dict(self._counts)
            self._counts.clear()
            return counts

    def snapshot(self) -> dict[str, Any]:
        """Return all counters as a JSON-able dict."""
        latency = self.latency_quantiles()
        waits = self.writer_waits.snapshot()  # outside our lock: it may log
        with self._lock:
            return {
                **dict(sorted(self._counts.items())),
                "rejected": dict(sorted(self._rejected.items())),
                "rejected_total": sum(self._rejected.values()),
                "rejected_by_kit": {
                    kit: dict(sorted(reasons.items()))
                    for kit, reasons in sorted(self._rejected_by_kit.items())
                },
                "warnings": dict(sorted(self._warnings.items())),
                "queue_depth": self.queue_depth,
                "ingest_latency": latency,
                "writer_waits": waits,
            }
