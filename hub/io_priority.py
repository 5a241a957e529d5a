"""The disk's priorities: the checkpoint thread's flushes, work that can wait, in the idle I/O
class, so that the writer's page reads and commits go first.

Linux's I/O schedulers that know priorities (mq-deadline since 5.14, BFQ) dispatch a waiting
request of the usual class before any of the idle class, and an idle one that has waited too
long (mq-deadline: `prio_aging_expire`, 10 s) anyway: the flushes still get the disk, in the
moments storing leaves it. Elsewhere (another OS, the `none` scheduler) this changes nothing.
The priority is per thread, and a new thread takes its creator's.

Only for a thread that holds no lock another writer waits for: a thread in the idle class that
held SQLite's write lock while its commit waited for the disk would hold up the very writer it
means to let go first (why the scan process, which commits routines, keeps the usual class).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

__all__ = ["io_class_of_this_thread", "lower_io_priority_of_this_thread", "usual_io_priority"]

_LOGGER = logging.getLogger(__name__)


def lower_io_priority_of_this_thread() -> bool:
    """Put the calling thread (and the threads it starts from now on) in the idle I/O class;
    False where the system has no such class."""
    return _set_class(psutil.IOPRIO_CLASS_IDLE) if sys.platform == "linux" else False


@contextmanager
def usual_io_priority() -> Iterator[None]:
    """The usual class for a moment that must not wait (the WAL's restart, with ingest held),
    then back to the idle class."""
    lowered = sys.platform == "linux" and io_class_of_this_thread() == psutil.IOPRIO_CLASS_IDLE
    if lowered:
        _set_class(psutil.IOPRIO_CLASS_NONE)
    try:
        yield
    finally:
        if lowered:
            _set_class(psutil.IOPRIO_CLASS_IDLE)


def io_class_of_this_thread() -> int | None:
    """The calling thread's I/O class (psutil.IOPRIO_CLASS_*), None where there is none."""
    if sys.platform != "linux":
        return None
    try:
        return int(psutil.Process(threading.get_native_id()).ionice().ioclass)
    except (psutil.Error, OSError):
        return None


def _set_class(io_class: int) -> bool:
    try:
        psutil.Process(threading.get_native_id()).ionice(io_class)
    except (psutil.Error, OSError) as exc:  # a container that forbids it: the usual class
        _LOGGER.info("could not set this thread's I/O priority (%s): it keeps the usual", exc)
        return False
    return True
