"""The disk's priorities: the checkpoint thread's routine flush of the database file, work that
can wait, in the idle I/O class, so that the writers' page reads and commits go first.

Linux's I/O schedulers that know priorities (mq-deadline since 5.14, BFQ) dispatch a waiting
request of the usual class before any of the idle class; an idle one still reaches the disk in
the moments storing leaves it, and mq-deadline sends one that has waited `prio_aging_expire`
(10 s) anyway, while BFQ gives the idle class a small share. Elsewhere (another OS, the `none`
or kyber scheduler) this changes nothing.

Only for I/O nobody else waits on: the flush of `hub.db` (no writer fsyncs it; they sync the
WAL). Not for SQLite's checkpoints, which fsync the WAL first: a writer's commit that syncs the
same file waits for those writes to finish, holding the write lock the urgent writer needs.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

__all__ = ["idle_io_priority", "io_class_of_this_thread"]

_LOGGER = logging.getLogger(__name__)
# Realtime and best-effort carry a level (0-7); none and idle do not.
_LEVELLED = frozenset({1, 2})  # psutil.IOPRIO_CLASS_RT, IOPRIO_CLASS_BE (Linux only)


@contextmanager
def idle_io_priority() -> Iterator[None]:
    """The calling thread in the idle I/O class for the block, then back to the class and level
    it had (unchanged where the system has no such class or refuses)."""
    before = _ionice() if sys.platform == "linux" else None
    lowered = before is not None and _set(psutil.IOPRIO_CLASS_IDLE)
    try:
        yield
    finally:
        if lowered and before is not None:
            io_class, level = before
            restored = _set(io_class, level if io_class in _LEVELLED else None)
            if not restored:
                _LOGGER.warning("this thread stays in the idle I/O class: could not restore it")


def io_class_of_this_thread() -> int | None:
    """The calling thread's I/O class (psutil.IOPRIO_CLASS_*), None where there is none."""
    now = _ionice() if sys.platform == "linux" else None
    return None if now is None else now[0]


def _ionice() -> tuple[int, int] | None:
    """(class, level) of the calling thread."""
    try:
        io_class, level = psutil.Process(threading.get_native_id()).ionice()
    except (psutil.Error, OSError):
        return None
    return int(io_class), int(level)


def _set(io_class: int, value: int | None = None) -> bool:
    try:
        psutil.Process(threading.get_native_id()).ionice(io_class, value)
    except (psutil.Error, OSError, ValueError) as exc:  # a sandbox that forbids it
        _LOGGER.debug("could not set this thread's I/O class to %s: %s", io_class, exc)
        return False
    return True
