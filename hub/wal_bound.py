"""Keeps the hub's SQLite WAL from growing without end under steady ingest.

A passive checkpoint copies the WAL's frames into the database file without waiting for anyone,
but the WAL starts over from its beginning only when a commit finds every frame copied and no
reader inside it. Under a district's steady ingest a commit lands during every checkpoint, so
that moment never comes: in a 60,000-home run the file reached 7.6 GB, and at that rate it grows
by gigabytes an hour until the disk is full.

So when the WAL holds more than the limit, the checkpoint thread first copies until little is
left, then asks the routine writer to wait at its next batch boundary and restarts the WAL
(SQLite's RESTART checkpoint: it takes the write lock, copies the last frames, fsyncs, and waits
for readers to leave the WAL, each wait bounded by the connection's busy timeout). Without the
routine writer's pause the restart almost never gets the write lock: the writer takes it again
the moment it commits. Help presses and falls have their own writer, which is not paused; it
waits for the restart's write lock like for any other writer's. A restart that is put off (a
long reader, another process writing) is tried again after a growing delay.

The passive copies never flush the database file (SQLite does only when a copy finds the whole
WAL copied), so the restart's own flush wrote out everything copied since the last restart
while ingest was held: 0.45-0.67 s at 60,000 homes. So the checkpoint thread flushes the file
itself (hub/persistence/file_sync.py), with ingest running: after each copy that copied
anything, which spreads the writes out, and again before it holds the writer, until a flush is
quick. Flushed only before each restart (~1 GB at once at 100,000 homes), the routine writer's
batches slowed to 100-200 ms for seconds at a time, about every 19 s, the restarts' period: its
page reads and commits share the disk with the flush.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Final

from hub.io_priority import idle_io_priority
from hub.persistence.database import checkpoint_passive_left, restart_wal

__all__ = ["RoutineWriterPause", "WalBound", "WalOutcome"]

_LOGGER = logging.getLogger(__name__)

# The longest the routine writer waits at a boundary for one request: a checkpoint thread that
# stalls never holds ingest for longer, and each request holds it at most once.
_MAX_PAUSE_S: Final = 2.0
# How long the checkpoint thread waits for the routine writer to finish the batch in hand.
_PAUSE_WAIT_S: Final = 1.0
# Before pausing the writer, passive checkpoints are repeated (up to this many more) until one
# takes less than `_QUICK_COPY_S`: the pause then covers only what a quick copy leaves.
_DRAIN_TRIES: Final = 5
_QUICK_COPY_S: Final = 0.05
# Then the database file is flushed, and what came meanwhile copied, up to this many times until
# a flush takes less than `_QUICK_SYNC_S`: the restart's own flush then has little to write.
_SYNC_TRIES: Final = 3
_QUICK_SYNC_S: Final = 0.05
# A restart this long (ingest held throughout) is logged at INFO with what came before it.
_SLOW_RESTART_S: Final = 0.1
# A flush after a copy this long is logged (at most every `_SLOW_FLUSH_LOG_EVERY_S`): ingest
# is not held, but its reads and commits share the disk with it. At 100,000 homes each second's
# flush took 0.2-0.3 s: routine at a district's peak, not worth a line every few seconds.
_SLOW_FLUSH_S: Final = 0.5
_SLOW_FLUSH_LOG_EVERY_S: Final = 60.0
# After a put-off restart the next try waits this long, doubling up to the cap.
_BACKOFF_FIRST_S: Final = 1.0
_BACKOFF_MAX_S: Final = 60.0
# Put-offs in a row after which the log says why the WAL keeps growing.
_WARN_AFTER: Final = 10


class WalOutcome(Enum):
    """What one look at the WAL did."""

    SMALL = "small"  # under the limit (or nothing written since the last restart)
    RESTARTED = "restarted"
    PUT_OFF = "put_off"  # a writer or reader held on: tried again after a delay
    WAITING = "waiting"  # over the limit, but the delay after a put-off has not passed yet


class RoutineWriterPause:
    """Lets the checkpoint thread hold the routine writer between two batches.

    Requests are numbered: the writer stops at most once per request (and for at most
    `_MAX_PAUSE_S`), and `held()` reports a stop only for its own request.
    """

    def __init__(self, stopping: threading.Event | None = None) -> None:
        self._lock = threading.Condition()
        self._request = 0  # the open request's number, 0 if none is open
        self._last_request = 0
        self._stopped_for = 0  # the request the writer is stopped for
        self._served = 0  # the last request the writer stopped for (or gave up on)
        self._stopping = stopping or threading.Event()

    def at_batch_boundary(self) -> float | None:
        """The routine writer calls this before each batch: wait here while a restart runs.
        Returns how long it was held (s), None when no restart asked it to stop."""
        with self._lock:
            request = self._request
            if request in (0, self._served):
                return None
            started = time.monotonic()
            self._served = request
            self._stopped_for = request
            self._lock.notify_all()
            deadline = time.monotonic() + _MAX_PAUSE_S
            while self._request == request and not self._stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(min(left, 0.1))  # and look at the hub's stop now and then
            self._stopped_for = 0
            return time.monotonic() - started

    def release_all(self) -> None:
        """Let a waiting writer go at once (the hub is stopping)."""
        with self._lock:
            self._request = 0
            self._lock.notify_all()

    @contextlib.contextmanager
    def held(self) -> Iterator[bool]:
        """Hold the routine writer for the block; yields whether it did stop for this request
        (it may be busy with a batch for longer than the wait, or not running)."""
        with self._lock:
            self._last_request += 1
            request = self._last_request
            self._request = request
            stopped = self._lock.wait_for(
                lambda: self._stopped_for == request, timeout=_PAUSE_WAIT_S
            )
        try:
            yield stopped
        finally:
            with self._lock:
                self._request = 0
                self._lock.notify_all()


class WalBound:
    """Looks at the WAL after each passive checkpoint and starts it over when it holds too much.

    `conn` (given to each look) is the checkpoint thread's own connection; its busy timeout
    bounds each wait of the restart (for a writer, then for readers).
    """

    def __init__(
        self,
        limit_bytes: int,
        pause: RoutineWriterPause,
        monotonic: Callable[[], float] = time.monotonic,
        sync_database: Callable[[], None] | None = None,
        flush_io_idle: bool = False,
    ) -> None:
        self.limit_bytes = limit_bytes
        self.pause = pause
        self._monotonic = monotonic
        self._sync_database = sync_database  # flushes the database file (None: the restart does)
        # The flush after each copy in the idle I/O class (hub/io_priority.py), behind the
        # writers' reads and commits; the flushes before a restart, which holds ingest, not.
        self._flush_io_idle = flush_io_idle
        # What the WAL held when it was last started over: it still says so until the next
        # commit writes from its beginning, and an idle hub must not be held again for that.
        self._held_at_restart: int | None = None
        self._put_offs = 0
        self._next_try = 0.0
        self._flushed_bytes = 0  # of the WAL's copied frames, how much was flushed since
        self._next_slow_flush_log = 0.0

    def look(self, conn: sqlite3.Connection) -> WalOutcome:
        """One look: a passive checkpoint and a flush of what it copied, and a restart when the
        WAL holds more than the limit written since it last started over."""
        held, copy_s, left = self._copy(conn)
        self._flush_copied(held, left)
        if held is None or held <= self.limit_bytes or held == self._held_at_restart:
            return WalOutcome.SMALL
        if self._monotonic() < self._next_try:
            return WalOutcome.WAITING
        # Copy until a copy is quick, so that the writer's pause covers little.
        copies = 1
        while copy_s >= _QUICK_COPY_S and copies <= _DRAIN_TRIES:
            _, copy_s, left = self._copy(conn)
            copies += 1
        syncs_s: list[float] = []
        while self._sync_database is not None and len(syncs_s) < _SYNC_TRIES:
            syncs_s.append(self._timed(self._sync_database))
            _, copy_s, left = self._copy(conn)  # what ingest wrote during the flush
            copies += 1
            if syncs_s[-1] < _QUICK_SYNC_S:
                break
        with self.pause.held() as paused:
            started = self._monotonic()
            restarted = restart_wal(conn) if paused else None
            restart_s = self._monotonic() - started
        if restarted is None:
            return self._put_off("the routine writer did not stop at a batch boundary")
        if not restarted.done:
            return self._put_off("a writer or a reader held on (a backup, a long report?)")
        # What holds ingest longer than a moment needs explaining: whether the copies before
        # it caught up with ingest, and how long flushing the database file took before it.
        # Each restart is logged, at INFO when it held ingest for long.
        _LOGGER.log(
            logging.INFO if restart_s >= _SLOW_RESTART_S else logging.DEBUG,
            "the WAL (%.0f MB) started over in %.0f ms with routine ingest held; the last of %d "
            "copies before it took %.0f ms and left %.1f MB uncopied; flushes of the database "
            "file before it: %s",
            (restarted.held_bytes or 0) / 1e6, restart_s * 1000, copies, copy_s * 1000,
            (left or 0) / 1e6, ", ".join(f"{s * 1000:.0f} ms" for s in syncs_s) or "none",
        )  # fmt: skip
        self._held_at_restart = restarted.held_bytes
        self._put_offs = 0
        self._next_try = 0.0
        self._flushed_bytes = 0  # the WAL's frames are counted from its beginning again
        return WalOutcome.RESTARTED

    def _flush_copied(self, held: int | None, left: int | None) -> None:
        """Flush the database file if the copies wrote to it since the last flush."""
        if self._sync_database is None or held is None or left is None:
            return
        copied = held - left
        if copied < self._flushed_bytes:  # SQLite started the WAL over by itself
            self._flushed_bytes = 0
        if copied == self._flushed_bytes:
            return  # nothing copied since: an idle hub does not flush every second
        with idle_io_priority() if self._flush_io_idle else contextlib.nullcontext():
            flush_s = self._timed(self._sync_database)
        if flush_s >= _SLOW_FLUSH_S and self._monotonic() >= self._next_slow_flush_log:
            self._next_slow_flush_log = self._monotonic() + _SLOW_FLUSH_LOG_EVERY_S
            _LOGGER.info(
                "flushing the database file took %.0f ms (%.0f MB of WAL copied since the last "
                "flush); ingest was not held, but shares the disk with it (a disk busy with "
                "storing, or one that cannot keep up)",
                flush_s * 1000, (copied - self._flushed_bytes) / 1e6,
            )  # fmt: skip
        self._flushed_bytes = copied

    def _timed(self, step: Callable[[], None]) -> float:
        started = self._monotonic()
        step()
        return self._monotonic() - started

    def _copy(self, conn: sqlite3.Connection) -> tuple[int | None, float, int | None]:
        """A passive checkpoint: what the WAL holds, how long the copy took (s), and what it
        left uncopied (quick is not caught up when a reader's snapshot stopped it)."""
        started = self._monotonic()
        held, left = checkpoint_passive_left(conn)
        return held, self._monotonic() - started, left

    def _put_off(self, why: str) -> WalOutcome:
        self._put_offs += 1
        delay = min(_BACKOFF_FIRST_S * 2 ** (self._put_offs - 1), _BACKOFF_MAX_S)
        self._next_try = self._monotonic() + delay
        if self._put_offs % _WARN_AFTER == 0:
            _LOGGER.warning(
                "the SQLite WAL could not be started over %d times in a row (%s); it keeps "
                "growing until it can",
                self._put_offs,
                why,
            )
        return WalOutcome.PUT_OFF
