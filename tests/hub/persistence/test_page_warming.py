"""The page warming at start: after it, storing each kit's next event and heartbeat reads
nothing from the disk, though the whole database had left the page cache (as after a reboot).

Measured as the disk reads of the writing thread itself (/proc/thread-self/io): without the
warming, the same writes read the pages they land on one at a time. Which pages each read of
the warming reaches is asked of SQLite (its query plans).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from hub.persistence.page_warming import (
    HOME_READS,
    KIT_READS,
    disk_reads_of_this_thread,
    warm_write_pages,
)
from hub.persistence.sqlite_store import SqliteStore
from hub.store.base import NewEvent
from tests.hub.factories import T0, home_spec

HOMES = 1000
# Events per home before the restart: each home's index entries span pages. A multiple of 4,
# so that the next writes (seq HISTORY + 1 and + 2) are a temperature and a motion.
HISTORY = 40
_SPLITS = 2 * 4096


def _reads() -> int:
    reads = disk_reads_of_this_thread()
    assert reads is not None, "no read_bytes in /proc/thread-self/io"
    return reads


def _evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # only clean pages leave the cache; this file's, not the machine's
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _event(home: int, seq: int, minutes: float) -> NewEvent:
    at = T0 + timedelta(minutes=minutes)
    sensor, kind, value = {
        0: ("door-front", "door", "open"),
        1: ("temp-kitchen", "temperature", 21.5),  # in the other home-and-time index
    }.get(seq % 4, ("pir-kitchen", "motion", True))
    return NewEvent(f"home-{home}", f"kit-{home}", 1, seq, sensor, kind, value, None, at, at)


def _heartbeat(seq: int) -> dict[str, object]:
    """A kit's heartbeat about as long as a real one (docs/protocol.md)."""
    return {
        "uptime_s": seq * 60, "outbox": 0, "cpu_temp_c": 48.5, "wifi_rssi_dbm": -61,
        "firmware": "mehr-edge 0.9.4", "sensors_ok": ["pir-kitchen", "pir-bath", "door-front"],
        "disk_free_mb": 5120, "clock_synced": True,
    }  # fmt: skip


def _next_writes(store: SqliteStore, seq: int, every_kind: bool = False) -> None:
    """One event per kit (or, with every_kind, one of each index's kinds) and a heartbeat."""
    for home in range(HOMES):
        seqs = [seq, seq + 1] if every_kind else [seq]
        store.store_events([_event(home, s, seq) for s in seqs], T0)
        store.set_heartbeat(f"kit-{home}", T0 + timedelta(minutes=seq), _heartbeat(seq))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("warming") / "hub.db"
    store = SqliteStore(path)
    for home in range(HOMES):
        store.register_home(home_spec(f"home-{home}", f"kit-{home}"), T0)
    for seq in range(1, HISTORY + 1):  # homes' events interleaved, as a live district's are
        _next_writes(store, seq)
    store.commit()
    store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


@pytest.fixture
def database(prepared: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the prepared database, none of it in the page cache."""
    path = tmp_path / "hub.db"
    shutil.copyfile(prepared, path)
    _evict(path)
    if _disk_reads_of_reading(path) == 0:  # tmpfs, or a filesystem that ignores the request
        pytest.skip("this filesystem keeps the file in memory: disk reads cannot be seen")
    _evict(path)
    yield path


def _disk_reads_of_reading(path: Path) -> int:
    reads: list[int] = []

    def read() -> None:
        before = _reads()
        path.read_bytes()
        reads.append(_reads() - before)

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    return reads[0]


def _next_writes_read(path: Path) -> int:
    """Disk bytes the writing thread read while storing one more event and heartbeat per kit."""
    reads: list[int] = []

    def write() -> None:
        store = SqliteStore(path)
        try:
            before = _reads()
            _next_writes(store, HISTORY + 1, every_kind=True)  # a motion and a temperature
            store.commit()
            reads.append(_reads() - before)
        finally:
            store.close()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    return reads[0]


def test_after_warming_the_next_writes_read_nothing_from_the_disk(database: Path) -> None:
    done = warm_write_pages(database, readers=4, stop=threading.Event(), deadline_s=60)
    assert (done.kits, done.homes, done.finished, done.already_cached) == (
        HOMES, HOMES, True, False,
    )  # fmt: skip
    # A page split may take one page from the file's free list: a page or two at most, against
    # megabytes without the warming.
    assert _next_writes_read(database) <= _SPLITS


def test_without_warming_the_same_writes_read_from_the_disk(database: Path) -> None:
    """The check itself: a cold database makes the writer read."""
    assert _next_writes_read(database) > 200 * 4096


def test_a_warm_cache_is_not_read_again(database: Path) -> None:
    """A restart, not a reboot: the first kits' pages are in memory, and the rest is left."""
    warm_write_pages(database, readers=4, stop=threading.Event(), deadline_s=60)
    again = warm_write_pages(database, readers=4, stop=threading.Event(), deadline_s=60)
    assert again.already_cached and again.kits < HOMES


def test_a_stopped_warming_reads_no_further(database: Path) -> None:
    stop = threading.Event()
    stop.set()
    done = warm_write_pages(database, readers=4, stop=stop, deadline_s=60)
    assert (done.kits, done.finished) == (0, False)


def test_each_read_searches_the_index_its_writes_land_in(database: Path) -> None:
    """A read that scanned a table would warm the pages too, by reading the whole database;
    one on another index would warm the wrong pages."""
    expected = {
        KIT_READS[0]: "sqlite_autoindex_events_1",  # UNIQUE (kit_id, epoch, seq)
        KIT_READS[1]: "sqlite_autoindex_sensor_state_1",  # PRIMARY KEY (kit_id, sensor_id)
        KIT_READS[2]: "sqlite_autoindex_kits_1",  # PRIMARY KEY (id)
        HOME_READS[0]: "events_home_activity",
        HOME_READS[1]: "events_home_other",
    }
    conn = sqlite3.connect(database)
    try:
        conn.execute("ANALYZE")
        for sql, index in expected.items():
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("x",))]
            assert len(plan) == 1 and plan[0].startswith("SEARCH"), (sql, plan)
            assert f"INDEX {index} " in plan[0], (sql, plan)
    finally:
        conn.close()


def test_a_path_with_uri_characters_is_read(tmp_path: Path) -> None:
    """The warming opens the file read-only by URI: "?", "#" and "%" in its path are escaped."""
    path = tmp_path / "district ?#%20" / "hub.db"
    path.parent.mkdir()
    store = SqliteStore(path)
    store.register_home(home_spec("home-1", "kit-1"), T0)
    store.close()
    done = warm_write_pages(path, readers=2, stop=threading.Event(), deadline_s=60)
    assert done.kits == 1
