"""Reconnect delays: exponential backoff with jitter, so a district's kits do not reconnect in step.

After a broker restart every kit loses its connection at the same moment; without jitter they
would all come back in the same second, again and again.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays of initial * 2**n, capped, each drawn from its upper half ("equal jitter")."""

    def __init__(
        self, initial: float = 1.0, maximum: float = 60.0, rng: random.Random | None = None
    ) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("expected 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self._rng = rng or random.Random()
        self.attempt = 0

    def next(self) -> float:
        """Return the delay before the next attempt and count the attempt."""
        ceiling = min(self.maximum, self.initial * 2 ** min(self.attempt, 32))
        self.attempt += 1
        # Half fixed, half random: never hammer the broker, yet spread the kits out.
        return float(ceiling / 2 + self._rng.uniform(0, ceiling / 2))

    def reset(self) -> None:
        """Start again from the initial delay (after a successful connection)."""
        self.attempt = 0
