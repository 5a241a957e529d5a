"""Each sensor's newest state kept by the routine writer and written to `sensor_state` a slice
at a time, in key order, instead of one upsert per event (issue 12: "sensor state in memory with
periodic flushes").

Why: at 100,000 homes the disk is the limit, and each event dirtied about three random pages,
one of them its sensor's `sensor_state` row. Written per event, ~4,000 of that table's pages a
second reach the WAL and then the database file. Kept here and written once a cycle in key
order, a page takes all its sensors' changes at once (and a motion ON and its OFF a few seconds
later are one write): by the table's size, roughly a third as many pages (an estimate; the
100,000-home runs in docs/benchmarks.md measure the latency, not the pages).

What it costs: readers of `sensor_state` in other connections (dashboards, the scan, reports)
see a sensor's state at most two cycles late. Nothing is lost: `events` is the record and is
committed before any acknowledgement, as before; a state not yet written when the hub stops
uncleanly is written again from the newest events at the next start
(`replay_sensor_states`).

The rule for which event wins is `_UPSERT_SENSOR_STATE`'s: the newer one, or any over a state
stamped more than a day after that event's arrival. The buffer applies it between events it
holds; the upsert applies it again against the table when the slice is written.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

# A writer that has not committed for this long writes the states due in a transaction of
# their own (`idle_due`); while batches flow, their commits carry the slices (an extra COMMIT
# after each batch would be an extra fsync each time).
IDLE_AFTER_S = 0.25

# (kit_id, sensor_id, home_id, kind, room, value, occurred_at, future_limit): the upsert's
# parameters in its order.
StateRow = tuple[str, str, str, str, str | None, str, float, float]


def _key(row: StateRow) -> tuple[str, str]:
    return row[0], row[1]


def _wins(new: StateRow, old: StateRow) -> bool:
    """The upsert's rule: the newer event wins, and so does any over a state from a broken
    clock (stamped after the new event's future limit)."""
    return new[6] >= old[6] or old[6] > new[7]  # occurred_at, future_limit


def _keep_newest(held: dict[tuple[str, str], StateRow], rows: Iterable[StateRow]) -> None:
    """Fold `rows` into `held`, one per sensor, by the upsert's rule."""
    for row in rows:
        key = _key(row)
        old = held.get(key)
        if old is None or _wins(row, old):
            held[key] = row


class SensorStateBuffer:
    """The newest state per (kit, sensor), written a slice per commit over `cycle_s`.

    Not thread-safe: it belongs to one store, used by one thread. States noted in a transaction
    are pending until it commits (a rolled-back batch leaves none behind). Each cycle, what was
    noted in the last one is sorted by key and written over the next `cycle_s`, a share in each
    commit proportional to the time passed, so no commit carries a large write.
    """

    def __init__(self, cycle_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        if cycle_s <= 0:
            raise ValueError(f"cycle_s must be positive, not {cycle_s}")
        self.cycle_s = cycle_s
        self._monotonic = monotonic
        self._pending: list[StateRow] = []
        self._noted: dict[tuple[str, str], StateRow] = {}
        self._writing: list[StateRow] = []
        self._written = 0  # of _writing, committed
        self._offered = 0  # of _writing, in the open transaction
        self._cycle_began = monotonic()
        self._last_commit = self._cycle_began

    def note(self, row: StateRow) -> None:
        """A stored event's state, in the open transaction."""
        self._pending.append(row)

    def rolled_back(self) -> None:
        """The open transaction rolled back: forget what it noted and what it wrote."""
        self._pending.clear()
        self._offered = self._written

    def committed(self) -> None:
        """The open transaction committed: its states wait for their cycle, its slice is
        written."""
        _keep_newest(self._noted, self._pending)
        self._pending.clear()
        self._written = self._offered
        self._last_commit = self._monotonic()

    def due(self) -> list[StateRow]:
        """The rows to write in this transaction (key order): the share of the cycle that
        time has reached. A new cycle starts when the last one's rows are all written and
        `cycle_s` has passed."""
        until = self._due_until()
        rows = self._writing[self._offered : until]  # a second call in one transaction goes on
        self._offered = max(self._offered, until)
        return rows

    def idle_due(self) -> bool:
        """Rows are due and no commit has carried any for IDLE_AFTER_S (a quiet writer, or
        batches that wrote nothing): worth a transaction of their own."""
        quiet = self._monotonic() - self._last_commit >= min(IDLE_AFTER_S, self.cycle_s)
        return quiet and self._due_until() > self._offered

    def _due_until(self) -> int:
        now = self._monotonic()
        if now < self._cycle_began:  # an injected clock set back: the cycle starts again there
            self._cycle_began = now
            self._last_commit = min(self._last_commit, now)
        elapsed = now - self._cycle_began
        if self._written >= len(self._writing) and elapsed >= self.cycle_s:
            self._writing = sorted(self._noted.values(), key=_key)
            self._noted = {}
            self._written = self._offered = 0
            self._cycle_began = now
            elapsed = 0.0
        share = min(1.0, elapsed / self.cycle_s)
        return math.ceil(len(self._writing) * share)

    def everything(self) -> list[StateRow]:
        """Every committed state not yet written (for a clean stop), newest per sensor, in key
        order."""
        rows: dict[tuple[str, str], StateRow] = {}
        _keep_newest(rows, [*self._writing[self._written :], *self._noted.values()])
        return sorted(rows.values(), key=_key)

    def all_written(self) -> None:
        """`everything()` committed."""
        self._noted = {}
        self._writing = []
        self._written = self._offered = 0

    def waiting(self) -> int:
        """States noted and not yet written (pending ones included)."""
        return len(self._writing) - self._written + len(self._noted) + len(self._pending)
