"""The routine scan's learned routines in memory: the most recently used ones, the rest read back
from the store when a home is read.

A routine is ~8 KB in memory (three 12 x 24 float64 tables and its scalars): kept for every home
that is 800 MB at 100,000 homes, most of it for homes the gated scan does not read for an hour.
The store keeps every routine anyway (`save_routine`, JSON whose floats read back bit for bit),
so a routine read back is the one that was learned, and the scan's decisions do not depend on
whether it came from memory or from the store.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime

from detectors import DetectorError, Routine
from hub.persistence.sqlite_store import SqlStore

__all__ = ["RoutineCache"]

_LOGGER = logging.getLogger(__name__)


class RoutineCache:
    """Up to `capacity` routines by home, least recently used dropped first (None: no bound)."""

    def __init__(self, store: SqlStore, capacity: int | None) -> None:
        if capacity is not None and capacity < 0:
            raise ValueError(f"routine cache capacity must be >= 0 or None, not {capacity}")
        self.store = store
        self.capacity = capacity
        self._held: OrderedDict[str, tuple[datetime, Routine]] = OrderedDict()
        self.reads = 0  # routines read back from the store (for the benchmarks)

    def __len__(self) -> int:
        return len(self._held)

    def get(self, home_id: str) -> tuple[datetime, Routine] | None:
        """A home's routine and when it was learned: from memory, else from the store (None:
        none stored, or the stored one is unreadable and must be learned again)."""
        held = self._held.get(home_id)
        if held is not None:
            self._held.move_to_end(home_id)
            return held
        stored = self.store.load_routine(home_id)
        if stored is None:
            return None
        self.reads += 1
        try:
            routine = Routine.from_dict(stored[1])
        except DetectorError as exc:
            _LOGGER.warning("stored routine of %s unreadable, learning it again: %s", home_id, exc)
            return None
        self.put(home_id, stored[0], routine)
        return stored[0], routine

    def put(self, home_id: str, learned_at: datetime, routine: Routine) -> None:
        """Hold a routine just learned (or read) as the most recently used."""
        if self.capacity == 0:
            return
        self._held[home_id] = (learned_at, routine)
        self._held.move_to_end(home_id)
        if self.capacity is not None:
            while len(self._held) > self.capacity:
                self._held.popitem(last=False)

    def forget(self, home_id: str) -> None:
        """Drop a home's routine from memory (it stays in the store)."""
        self._held.pop(home_id, None)
