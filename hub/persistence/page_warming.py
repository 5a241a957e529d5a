"""Reads, when the hub starts, the SQLite pages its writers are about to need, many at a time.

Each stored event lands on pages that belong to its kit or its home: the last leaf of its kit in
the events' unique key, the last leaf of its home in a home-and-time index, its sensor's row in
`sensor_state`, and a heartbeat lands on its kit's row. After a reboot or a power cut none of
these is in the page cache, and every kit reconnects and sends at once. The single writer then
reads them one at a time, each a random read it waits for: at 100,000 homes the disk was 81 %
busy for ~90 s while the hub stored a third of what arrived.

These reads ask for the same pages from several connections at once, so the disk has many
reads in flight instead of one. They run beside ingest, never before it: a press is stored
meanwhile (sharing the disk with them). Only SQLite: PostgreSQL keeps its own buffers
(pg_prewarm does this there).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from hub.persistence.database import open_sqlite
from hub.persistence.event_index_terms import NOT_SIGN_OF_LIFE, SIGN_OF_LIFE

__all__ = [
    "HOME_READS",
    "KIT_READS",
    "WarmedPages",
    "disk_reads_of_this_thread",
    "warm_write_pages",
]

# The last entry of a kit in the events' unique key (kit_id, epoch, seq): where its next event
# goes. Its sensors' rows and its own row (heartbeats, availability).
KIT_READS: Final = (
    "SELECT seq FROM events WHERE kit_id = ? ORDER BY epoch DESC, seq DESC LIMIT 1",
    "SELECT max(occurred_at) FROM sensor_state WHERE kit_id = ?",
    "SELECT last_heartbeat_at FROM kits WHERE id = ?",
)
# The last entry of a home in each home-and-time index (schema steps 3 and 4).
HOME_READS: Final = (
    f"SELECT occurred_at FROM events WHERE home_id = ? AND {SIGN_OF_LIFE} "
    "ORDER BY occurred_at DESC LIMIT 1",
    f"SELECT occurred_at FROM events WHERE home_id = ? AND {NOT_SIGN_OF_LIFE} "
    "ORDER BY occurred_at DESC LIMIT 1",
)
_PER_TASK: Final = 200  # kits handed to a reader at a time
_THREAD_IO: Final = Path("/proc/thread-self/io")

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WarmedPages:
    """What one warming did: kits and homes whose pages were read, and how long it took."""

    kits: int
    homes: int
    seconds: float
    finished: bool  # False: stopped, out of time or failed before the last kit
    already_cached: bool = False  # the first kits' pages were in memory: the rest not read


def warm_write_pages(
    path: Path, readers: int, stop: threading.Event, deadline_s: float
) -> WarmedPages:
    """Read every kit's and home's write pages with `readers` connections at once, kits in
    their registration order; give up when `stop` is set or after `deadline_s`."""
    started = time.monotonic()
    with closing(open_sqlite(path, read_only=True)) as conn:
        conn.execute("SELECT max(id) FROM events").fetchall()  # where every new row goes
        kits = [(str(r[0]), str(r[1])) for r in conn.execute("SELECT id, home_id FROM kits")]
        warming = _Warming(path, kits, stop, started + deadline_s)
        # The first kits read here: if their pages came from memory, so would the rest (a
        # restart, not a reboot), and reading on would only take Python's lock from the
        # writers (~30 µs of Python per kit, ~3 s at 100,000 kits).
        before = disk_reads_of_this_thread()
        chunk = warming.read_next_chunk(conn)
        after = disk_reads_of_this_thread()
        if chunk and before is not None and after == before:
            return WarmedPages(
                chunk, len(warming.homes_seen), round(time.monotonic() - started, 1),
                finished=False, already_cached=True,
            )  # fmt: skip
    threads = [
        threading.Thread(target=warming.read_pages, name=f"hub-warm-{n}", daemon=True)
        for n in range(readers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return WarmedPages(
        warming.kits_done,
        len(warming.homes_seen),
        round(time.monotonic() - started, 1),
        warming.kits_done == len(kits) and not warming.failed,
    )


def disk_reads_of_this_thread() -> int | None:
    """Bytes this thread has made the disk read (None where the kernel does not say)."""
    try:
        for line in _THREAD_IO.read_text().splitlines():
            if line.startswith("read_bytes:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class _Warming:
    """The kits still to read, shared by the reader threads."""

    def __init__(
        self, path: Path, kits: list[tuple[str, str]], stop: threading.Event, give_up_at: float
    ) -> None:
        self.path = path
        self._chunks = iter([kits[i : i + _PER_TASK] for i in range(0, len(kits), _PER_TASK)])
        self._stop = stop
        self._give_up_at = give_up_at
        self._lock = threading.Lock()
        self.homes_seen: set[str] = set()
        self.kits_done = 0
        self.failed = False

    def read_pages(self) -> None:
        """One reader: chunk after chunk on its own connection, until none is left."""
        try:
            with closing(open_sqlite(self.path, read_only=True)) as conn:
                while self.read_next_chunk(conn):
                    pass
        except Exception:  # only slower: the writer reads what it needs itself
            _LOGGER.exception("a reader of the write pages stopped")
            self.failed = True

    def read_next_chunk(self, conn: sqlite3.Connection) -> int:
        """Read the next chunk's pages on `conn`; how many kits it had (0: none was left)."""
        taken = self._next_chunk()
        if taken is None:
            return 0
        chunk, new_homes = taken
        for kit_id, _ in chunk:
            for sql in KIT_READS:
                conn.execute(sql, (kit_id,)).fetchall()
        for home_id in new_homes:
            for sql in HOME_READS:
                conn.execute(sql, (home_id,)).fetchall()
        with self._lock:
            self.kits_done += len(chunk)
        return len(chunk)

    def _next_chunk(self) -> tuple[list[tuple[str, str]], set[str]] | None:
        """The next kits, and those of their homes no reader has taken yet."""
        if self._stop.is_set() or time.monotonic() > self._give_up_at:
            return None
        with self._lock:
            chunk = next(self._chunks, None)
            if chunk is None:
                return None
            new_homes = {home for _, home in chunk} - self.homes_seen
            self.homes_seen.update(new_homes)
            return chunk, new_homes
