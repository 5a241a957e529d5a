"""Logging of rejected messages at a bounded rate: a flood of junk must not flood the log.

The first few rejects of each reason are logged one by one (enough to see what a broken kit
sends); after that, one summary line per interval says how many more there were, by reason,
with the latest example of each. Every reject is still counted in HubStats.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime

from mehr.clock import Clock

__all__ = ["RejectLog"]

_LOGGER = logging.getLogger(__name__)


class RejectLog:
    """Logs the first `first_per_reason` rejects of each reason, then a summary per interval."""

    def __init__(self, clock: Clock, first_per_reason: int = 10, summary_every_s: float = 60.0):
        self.clock = clock
        self.first_per_reason = first_per_reason
        self.summary_every_s = summary_every_s
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self._suppressed: Counter[str] = Counter()
        self._examples: dict[str, str] = {}
        self._last_summary: datetime | None = None

    def record(self, reason: str, topic: str, detail: str) -> None:
        """Log one reject now, or fold it into the next summary line."""
        with self._lock:
            self._seen[reason] += 1
            seen = self._seen[reason]
            if seen > self.first_per_reason:
                self._suppressed[reason] += 1
                self._examples[reason] = f"{topic[:120]!r}: {detail[:160]}"
        if seen <= self.first_per_reason:
            # %r: a topic or detail from a hostile sender may hold newlines or control codes.
            _LOGGER.warning(
                "rejected message on %r: %s: %r%s",
                topic[:200],
                reason,
                detail[:300],
                " (further rejects of this reason are summarised)"
                if seen == self.first_per_reason
                else "",
            )
        self.flush()

    def flush(self, force: bool = False) -> None:
        """Write the summary line if the interval has passed (or `force`) and rejects wait."""
        now = self.clock.now()
        with self._lock:
            if self._last_summary is None:
                self._last_summary = now
            due = (now - self._last_summary).total_seconds() >= self.summary_every_s
            if not self._suppressed or not (due or force):
                return
            counts = dict(sorted(self._suppressed.items()))
            examples = dict(sorted(self._examples.items()))
            self._suppressed.clear()
            self._examples.clear()
            self._last_summary = now
        _LOGGER.warning(
            "rejected %d more messages since the last summary, by reason: %s; latest of each: %s",
            sum(counts.values()),
            counts,
            examples,
        )
