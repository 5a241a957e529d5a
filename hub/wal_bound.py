"""Keeps the hub's SQLite WAL from growing without end under steady ingest.

A passive checkpoint copies the WAL's frames into the database file without waiting for anyone,
but the WAL starts over from its beginning only when a commit finds every frame copied and no
reader inside it. Under a district's steady ingest a commit lands during every checkpoint, so
that moment never comes: in a 60,000-home run the file reached 7.6 GB, and at that rate it grows
by gigabytes an hour until the disk is full.

So when the WAL holds more than the limit, the checkpoint thread asks the routine writer to wait
at its next batch boundary, copies what was written meanwhile, and restarts the WAL (SQLite's
RESTART checkpoint: a short wait for the urgent writer, the scan process and readers, each
bounded by the connection's busy timeout). Without the routine writer's pause the restart
almost never gets the write lock: the writer takes it again the moment it commits. Help
presses and falls are not paused: their writer has its own connection, and the restart only
waits for it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from enum import Enum
from typing import Final

from hub.persistence.database import checkpoint_passive, restart_wal

__all__ = ["RoutineWriterPause", "WalBound", "WalOutcome"]

# The longest the routine writer waits at a boundary: a checkpoint thread that stalls never holds
# ingest for longer.
_MAX_PAUSE_S: Final = 2.0
# How long the checkpoint thread waits for the routine writer to finish the batch in hand.
_PAUSE_WAIT_S: Final = 1.0


class WalOutcome(Enum):
    """What one look at the WAL did."""

    SMALL = "small"  # under the limit: the passive checkpoint was all
    RESTARTED = "restarted"
    PUT_OFF = "put_off"  # a writer or reader held on: tried again at the next look


class RoutineWriterPause:
    """Lets the checkpoint thread hold the routine writer between two batches."""

    def __init__(self) -> None:
        self._requested = threading.Event()
        self._paused = threading.Event()
        self._resume = threading.Event()
        self._resume.set()

    def at_batch_boundary(self) -> None:
        """The routine writer calls this before each batch: wait here while a restart runs."""
        if not self._requested.is_set():
            return
        self._paused.set()
        self._resume.wait(_MAX_PAUSE_S)
        self._paused.clear()

    @contextlib.contextmanager
    def held(self) -> Iterator[bool]:
        """Hold the routine writer for the block; yields whether it did stop (it may be busy with
        a batch for longer than the wait, or not running)."""
        self._resume.clear()
        self._requested.set()
        try:
            yield self._paused.wait(_PAUSE_WAIT_S)
        finally:
            self._requested.clear()
            self._resume.set()


class WalBound:
    """Looks at the WAL after each passive checkpoint and starts it over when it holds too much.

    `conn` (given to each look) is the checkpoint thread's own connection; its busy timeout
    bounds each wait of the restart (for the urgent writer, then for readers), so routine ingest
    waits about twice that at most.
    """

    def __init__(self, limit_bytes: int, pause: RoutineWriterPause) -> None:
        self.limit_bytes = limit_bytes
        self.pause = pause
        # What the WAL held when it was last started over: it still says so until the next
        # commit writes from its beginning, and an idle hub must not be held again for that.
        self._held_at_restart: int | None = None

    def look(self, conn: sqlite3.Connection) -> WalOutcome:
        """One look: a passive checkpoint, and a restart when the WAL holds more than the limit
        written since it last started over."""
        held = checkpoint_passive(conn)
        if held <= self.limit_bytes or held == self._held_at_restart:
            return WalOutcome.SMALL
        with self.pause.held() as paused:
            if not paused:
                return WalOutcome.PUT_OFF
            checkpoint_passive(conn)  # what was committed during the first one: little now
            if not restart_wal(conn):
                return WalOutcome.PUT_OFF
            self._held_at_restart = checkpoint_passive(conn)  # nothing left to copy: only reads
            return WalOutcome.RESTARTED
