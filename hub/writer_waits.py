"""How long the routine writer waited, and for what, while messages queued behind it.

Publish→stored latency is mostly the single writer's own work; its tail is the moments it waits
for something else: SQLite's write lock held by another connection (the scan, the alert engine,
the urgent lane), the fsync of its COMMIT, a WAL restart that holds it between batches (hub/
wal_bound.py), urgent work it lets go first, and Python's garbage collector stopping every
thread of the process. Each is timed where it happens, kept as a Prometheus histogram by cause,
and a long one is logged with its cause (at most one line per cause every `_LOG_EVERY_S`), so an
operator who sees the latency tail can say what made it.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from prometheus_client import Histogram

__all__ = ["WaitCause", "WriterWaits"]

_LOGGER = logging.getLogger(__name__)

# A wait this long shows in the publish→stored p99 (its target is 250 ms): counted apart, and
# logged.
SLOW_S: Final = 0.1
_LOG_EVERY_S: Final = 10.0
_BUCKETS_S: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class WaitCause(Enum):
    """What the routine writer waited for."""

    LOCK = "lock"  # BEGIN IMMEDIATE: another connection held SQLite's write lock
    COMMIT = "commit"  # its own COMMIT: the WAL's fsync
    WAL_RESTART = "wal_restart"  # held between batches while the WAL was started over
    URGENT_FIRST = "urgent_first"  # help presses and falls (and their alerts) went first
    GC = "gc"  # the garbage collector's full pass stopped every thread of the hub process


@dataclass
class _Tally:
    count: int = 0
    total_s: float = 0.0
    slow: int = 0
    max_s: float = 0.0
    logged_at: float = float("-inf")
    slow_since_log: int = 0


class WriterWaits:
    """Thread-safe tallies of the routine writer's waits, by cause."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._tallies = {cause: _Tally() for cause in WaitCause}
        self._gc_started: float | None = None
        # Full passes timed by the collector's callback, counted at the next record or snapshot:
        # the callback runs wherever the collection began, possibly inside `record` with the
        # lock held (or inside the histogram's), so it only appends (atomic under the GIL).
        self._gc_pauses: list[float] = []
        self.histogram = Histogram(
            "mehr_hub_writer_wait_seconds",
            "How long the routine ingest writer waited, by cause (lock: another connection held "
            "SQLite's write lock; commit: its fsync; wal_restart: held while the WAL was started "
            "over; urgent_first: urgent work went first; gc: Python's full collection).",
            labelnames=["cause"],
            buckets=_BUCKETS_S,
            registry=None,
        )

    def record(self, cause: WaitCause, seconds: float) -> None:
        """Count one wait."""
        self._count_gc_pauses()
        self._record(cause, seconds)

    def _count_gc_pauses(self) -> None:
        while True:
            try:
                pause = self._gc_pauses.pop()
            except IndexError:  # none left (another thread may have taken the last)
                return
            self._record(WaitCause.GC, pause)

    def _record(self, cause: WaitCause, seconds: float) -> None:
        self.histogram.labels(cause.value).observe(seconds)
        with self._lock:
            tally = self._tallies[cause]
            tally.count += 1
            tally.total_s += seconds
            tally.max_s = max(tally.max_s, seconds)
            if seconds < SLOW_S:
                return
            tally.slow += 1
            tally.slow_since_log += 1
            now = self._monotonic()
            if now - tally.logged_at < _LOG_EVERY_S:
                return
            tally.logged_at = now
            folded, tally.slow_since_log = tally.slow_since_log - 1, 0
        _LOGGER.info(
            "ingest waited %.0f ms for %s (%d more waits over %.0f ms since the last line)",
            seconds * 1000,
            cause.value,
            folded,
            SLOW_S * 1000,
        )

    def timed(self, cause: WaitCause, started: float) -> None:
        """Count a wait that began at `started` (time.perf_counter) and ends now."""
        self.record(cause, time.perf_counter() - started)

    def watch_garbage_collector(self) -> None:
        """Time the collector's full passes (generation 2) from now on, in this process.

        The young generations take microseconds; a full pass walks every object the hub holds
        (at 100,000 homes, millions) with every thread stopped.
        """
        gc.callbacks.append(self._on_gc)

    def stop_watching_garbage_collector(self) -> None:
        """Undo `watch_garbage_collector` (the hub stopped)."""
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started is not None:
            self._gc_pauses.append(time.perf_counter() - self._gc_started)
            self._gc_started = None

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Per cause: waits, their total and longest (s), and how many were slow."""
        self._count_gc_pauses()
        with self._lock:
            return {
                cause.value: {
                    "count": tally.count,
                    "total_s": round(tally.total_s, 3),
                    "slow": tally.slow,
                    "max_s": round(tally.max_s, 4),
                }
                for cause, tally in self._tallies.items()
            }
