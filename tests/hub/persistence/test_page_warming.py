"""The page warming at start: after it, storing each kit's next event and heartbeat reads
nothing from the disk, though the whole database had left the page cache (as after a reboot).

Measured as the disk reads of the writing thread itself (/proc/thread-self/io): without the
warming, the same writes read the pages they land on one at a time.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from hub.persistence.page_warming import HOME_READS, KIT_READS, warm_write_pages
from hub.persistence.sqlite_store import SqliteStore
from hub.store.base import NewEvent
from tests.hub.factories import T0, home_spec

HOMES = 300
HISTORY = 60  # events per home before the restart: each home's index entries span pages


def _thread_disk_reads() -> int:
    for line in Path("/proc/thread-self/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    raise AssertionError("no read_bytes in /proc/thread-self/io")


def _evict(path: Path) -> None:
    os.sync()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _event(home: int, seq: int, minutes: float) -> NewEvent:
    at = T0 + timedelta(minutes=minutes)
    sensor, kind = ("pir-kitchen", "motion") if seq % 3 else ("door-front", "door")
    return NewEvent(f"home-{home}", f"kit-{home}", 1, seq, sensor, kind, True, None, at, at)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "hub.db"
    store = SqliteStore(path)
    for home in range(HOMES):
        store.register_home(home_spec(f"home-{home}", f"kit-{home}"), T0)
    # Homes' events interleaved, as a live district writes them.
    for seq in range(1, HISTORY + 1):
        store.store_events([_event(home, seq, seq) for home in range(HOMES)], T0)
        for home in range(HOMES):
            store.set_heartbeat(f"kit-{home}", T0 + timedelta(minutes=seq), {"uptime_s": seq})
    store.commit()
    store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


def _next_writes_read(path: Path) -> int:
    """Disk bytes read while storing one more event and heartbeat per kit, from a cold start."""
    reads: list[int] = []

    def write() -> None:
        store = SqliteStore(path)
        try:
            before = _thread_disk_reads()
            for home in range(HOMES):
                store.store_events([_event(home, HISTORY + 1, HISTORY + 1)], T0)
                store.set_heartbeat(f"kit-{home}", T0 + timedelta(hours=2), {"uptime_s": 0})
            store.commit()
            reads.append(_thread_disk_reads() - before)
        finally:
            store.close()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    return reads[0]


def test_after_warming_the_next_writes_read_nothing_from_the_disk(database: Path) -> None:
    _evict(database)
    done = warm_write_pages(database, readers=4, stop=threading.Event(), deadline_s=60)
    assert (done.kits, done.homes, done.finished) == (HOMES, HOMES, True)
    assert _next_writes_read(database) == 0


def test_without_warming_the_same_writes_read_from_the_disk(database: Path) -> None:
    """The check itself: a cold database makes the writer read."""
    _evict(database)
    assert _next_writes_read(database) > 100 * 4096


def test_a_stopped_warming_reads_no_further(database: Path) -> None:
    stop = threading.Event()
    stop.set()
    done = warm_write_pages(database, readers=4, stop=stop, deadline_s=60)
    assert (done.kits, done.finished) == (0, False)


def test_each_read_is_a_search_of_one_kit_or_home(database: Path) -> None:
    """A read that scanned a table would warm the pages too, by reading the whole database."""
    conn = sqlite3.connect(database)
    try:
        conn.execute("ANALYZE")
        for sql in (*KIT_READS, *HOME_READS):
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("x",))]
            assert plan and all(step.startswith("SEARCH") for step in plan), (sql, plan)
    finally:
        conn.close()
