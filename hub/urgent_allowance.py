"""How many urgent messages each kit may put on the urgent path: a token bucket per kit.

The urgent inbox and writer are shared by every home the hub serves. A faulty or hostile kit
that floods help presses or accelerometer windows would fill them, and a real press from another
home would wait behind its flood. A kit past its allowance is not refused: its urgent messages
go the routine way, stored in well under a second at a district's peak (docs/benchmarks.md),
while every other kit keeps the fast path. A person who falls and presses help sends a handful
(a fall, its window, a few presses); the default burst covers that many times over.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["UrgentAllowance", "kit_of_topic"]

# Past this many kits with a bucket, those whose allowance has refilled are forgotten (a full
# bucket is what a kit not seen before gets), so the table holds only kits sending now. The
# next pruning waits until the table has doubled: never a pass over it per message.
_PRUNE_ABOVE = 10_000


def kit_of_topic(topic: str) -> str:
    """The kit a message came from, as its topic names it (all but the last level): cheap
    enough for the network thread, and a kit's ACL lets it publish under its own name only."""
    return topic.rpartition("/")[0]


class UrgentAllowance:
    """Up to `burst` urgent messages at once per kit, refilled at `per_s` a second.

    Used by one network thread (each connection has its own): not thread-safe.
    """

    def __init__(
        self, burst: int, per_s: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if burst < 1 or per_s <= 0:
            raise ValueError(f"burst must be >= 1 and per_s > 0, not {burst} and {per_s}")
        self.burst = burst
        self.per_s = per_s
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # kit -> (tokens, as of when)
        self._prune_above = _PRUNE_ABOVE

    def take(self, kit: str) -> bool:
        """Spend one of the kit's allowance; False when it has none left."""
        now = self._monotonic()
        tokens, since = self._buckets.get(kit, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - since) * self.per_s)
        allowed = tokens >= 1.0
        self._buckets[kit] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._prune_above:
            self._forget_refilled(now)
            self._prune_above = max(_PRUNE_ABOVE, 2 * len(self._buckets))
        return allowed

    def kits_tracked(self) -> int:
        """How many kits have a bucket (the table's size)."""
        return len(self._buckets)

    def _forget_refilled(self, now: float) -> None:
        self._buckets = {
            kit: (tokens, since)
            for kit, (tokens, since) in self._buckets.items()
            if tokens + (now - since) * self.per_s < self.burst
        }
