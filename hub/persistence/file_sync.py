"""Flushing the SQLite database file to disk from outside SQLite, keeping SQLite's locks.

Why the hub does it (hub/wal_bound.py): under steady ingest a passive checkpoint copies the WAL
into the database file but never flushes the file, because SQLite flushes it only when a
checkpoint finds the whole WAL copied, and a commit lands during every copy. So everything copied
since the WAL last started over waits in the page cache for the restart's own flush, which runs
while routine ingest is held: traced at 60,000 homes, the restart's flush took 0.45 and 0.67 s
of restarts of 0.46 and 0.67 s. Flushed by the checkpoint thread after each copy, with ingest
running, the restart's flush has only the last moments' pages.

Closing any descriptor of a file drops every POSIX lock the process holds on that file, SQLite's
included (https://sqlite.org/howtocorrupt.html, section 2.2): another process could then take
the database over and delete the WAL under the connections still open here. So a process opens
one descriptor per database file, shared by every hub in it, and closes it when the last of them
lets go, after their connections have closed. `fdatasync` on a read-only descriptor flushes the
file's pages whoever wrote them (Linux: writeback is per file, not per descriptor).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DatabaseFileSync", "held_database_files"]

# Not every system has fdatasync (macOS): fsync flushes the file's metadata as well.
_flush = getattr(os, "fdatasync", os.fsync)


@dataclass(slots=True)
class _Descriptor:
    fd: int
    path: Path
    users: int


_descriptors: dict[tuple[int, int], _Descriptor] = {}  # by (device, inode)
_descriptors_lock = threading.Lock()


class DatabaseFileSync:
    """One user's hold on the process's descriptor of a database file, to flush it with."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # close() from a stopping hub, sync() from its thread
        stat = os.stat(path)
        self._key: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        with _descriptors_lock:
            shared = _descriptors.get(self._key)
            if shared is None:  # opened only when none is: a second one could not be closed
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                shared = _descriptors[self._key] = _Descriptor(fd, path, 0)
            shared.users += 1
        self._fd = shared.fd

    def sync(self) -> None:
        """Write the file's dirty pages to disk (nothing once closed)."""
        with self._lock:
            if self._key is not None:
                _flush(self._fd)

    def close(self) -> None:
        """Let go; the last user of the process closes the descriptor. Call it only once this
        user's connections to the file have closed."""
        with self._lock:
            if self._key is None:
                return
            with _descriptors_lock:
                shared = _descriptors[self._key]
                shared.users -= 1
                if shared.users == 0:
                    del _descriptors[self._key]
                    os.close(shared.fd)
            self._key = None


def held_database_files() -> list[Path]:
    """The database files this process holds a descriptor of (for tests and diagnostics)."""
    with _descriptors_lock:
        return [shared.path for shared in _descriptors.values()]
