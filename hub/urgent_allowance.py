"""How many urgent messages each kit may put on the urgent path (a token bucket per kit and
kind of message, by its topic: help, I'm OK and falls on `urgent`, accelerometer windows on
`accel`, and older kits' presses on `events`), and the warning that names the kits past it.

The urgent inbox and writer are shared by every home the hub serves. A faulty or hostile kit
that floods help presses or accelerometer windows would fill them, and a real press from another
home would wait behind its flood. A kit past its allowance is not refused: those of its urgent
messages go the routine way, with everything else it sends, while every other kit keeps the
fast path. A person who falls and presses help sends a handful; a kit back from an outage may
send many windows at once, but they draw on the windows' allowance, never on its presses'.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["OverAllowanceWarnings", "UrgentAllowance"]

_LOGGER = logging.getLogger(__name__)

# Past this many buckets, those that have refilled are forgotten (a full bucket is what a topic
# not seen before gets), so the table holds only kits sending now. The next pruning waits until
# the table has doubled: never a pass over it per message.
_PRUNE_ABOVE = 10_000


class UrgentAllowance:
    """Up to `burst` urgent messages at once per topic, refilled at `per_s` a second.

    A kit's ACL lets it publish on its own exact topics only, so a kit cannot spread a flood
    over names of its choosing. Used by one network thread (each connection has its own): not
    thread-safe.
    """

    def __init__(
        self, burst: int, per_s: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if burst < 1 or per_s <= 0:
            raise ValueError(f"burst must be >= 1 and per_s > 0, not {burst} and {per_s}")
        self.burst = burst
        self.per_s = per_s
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # topic -> (tokens, as of when)
        self._prune_above = _PRUNE_ABOVE

    def take(self, topic: str) -> bool:
        """Spend one of the allowance of the kit's messages on `topic`; False when none is
        left."""
        now = self._monotonic()
        tokens, since = self._buckets.get(topic, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - since) * self.per_s)
        allowed = tokens >= 1.0
        self._buckets[topic] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._prune_above:
            self._forget_refilled(now)
            self._prune_above = max(_PRUNE_ABOVE, 2 * len(self._buckets))
        return allowed

    def tracked(self) -> int:
        """How many topics have a bucket (the table's size)."""
        return len(self._buckets)

    def _forget_refilled(self, now: float) -> None:
        self._buckets = {
            topic: (tokens, since)
            for topic, (tokens, since) in self._buckets.items()
            if tokens + (now - since) * self.per_s < self.burst
        }


class OverAllowanceWarnings:
    """Names the kits past their allowance in one warning at most every `every_s` (each kit
    seen since the last line, up to `named_max`), however many messages they send."""

    def __init__(
        self,
        burst: int,
        per_s: float,
        every_s: float = 60.0,
        named_max: int = 20,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._allowance = f"{burst} at once, {per_s:.1f}/s"
        self.every_s = every_s
        self.named_max = named_max
        self._monotonic = monotonic
        self._lock = threading.Lock()  # the network thread or the link process's relay
        self._topics: set[str] = set()
        self._next_line = 0.0

    def note(self, topic: str, total: int) -> None:
        """One more message on `topic` went the routine way; `total` so far from all kits."""
        with self._lock:
            if len(self._topics) < self.named_max:
                self._topics.add(topic)
            now = self._monotonic()
            if now < self._next_line:
                return
            self._next_line = now + self.every_s
            topics, self._topics = sorted(self._topics), set()
        _LOGGER.warning(
            "urgent messages past their kit's allowance (%s) are stored at the routine pace, so "
            "that other homes' presses do not wait: %s; %d so far (a stuck button, faulty or "
            "tampered firmware, or a backlog after an outage?)",
            self._allowance, ", ".join(topics), total,
        )  # fmt: skip
