"""A monotonic clock a test moves by hand (`ticks.now += 1.0`), for code that takes a
`monotonic: Callable[[], float]`."""

from __future__ import annotations


class Ticks:
    """Seconds on a monotonic clock, from 0, moved only by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
