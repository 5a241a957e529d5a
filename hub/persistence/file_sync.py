"""Flushing the SQLite database file to disk from outside SQLite, keeping SQLite's locks.

Why the hub does it (hub/wal_bound.py): under steady ingest a passive checkpoint copies the WAL
into the database file but never flushes the file, because SQLite flushes it only when a
checkpoint finds the whole WAL copied, and a commit lands during every copy. So everything copied
since the WAL last started over waits in the page cache for the restart's own flush, which runs
while routine ingest is held: traced at 60,000 homes, the restart's flush took 0.45 and 0.67 s
of restarts of 0.46 and 0.67 s. Flushed first, with ingest running, the restart's flush has only
the last moments' pages.

The descriptor is opened once and closed only after the hub's own connections: closing any
descriptor of a file drops every POSIX lock the process holds on that file, SQLite's included
(https://sqlite.org/howtocorrupt.html, section 2.2).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["DatabaseFileSync"]


class DatabaseFileSync:
    """`fdatasync` of one database file, on a descriptor kept open until `close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._lock = threading.Lock()  # close() from the stopping hub, sync() from its thread

    def sync(self) -> None:
        """Write the file's dirty pages to disk (a no-op once closed)."""
        with self._lock:
            if self._fd is not None:
                os.fdatasync(self._fd)

    def close(self) -> None:
        """Close the descriptor: only once no connection of this process uses the file."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
