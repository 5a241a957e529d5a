"""Writers that go before the routine writer on SQLite's one write lock.

SQLite has one write lock and its busy handler sleeps between tries, so a writer that begins its
next transaction the moment it commits wins the lock again and again. The routine writer does
exactly that under load; anyone else who needs the lock (the urgent writer storing a press, the
alert engine adopting it and recording its first message) waits batch after batch. Those writers
say so here while they need the lock, and the routine writer waits for them before each batch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["PriorityWriters"]


class PriorityWriters:
    """Counts the writers who need the lock first; the routine writer waits while any do."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting = 0

    @contextmanager
    def first(self) -> Iterator[None]:
        """Mark a write (from before it asks for the lock until it commits) as one that goes
        before the next routine batch."""
        with self._changed:
            self._waiting += 1
        try:
            yield
        finally:
            with self._changed:
                self._waiting -= 1
                self._changed.notify_all()

    def busy(self) -> bool:
        """True while some priority writer needs the lock or holds it."""
        return self._waiting > 0

    def wait_until_idle(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for no priority writer to need the lock; True if none does."""
        with self._changed:
            return self._changed.wait_for(lambda: self._waiting == 0, timeout_s)
