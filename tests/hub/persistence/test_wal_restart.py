"""The hub's WAL stays bounded under steady ingest (hub/wal_bound.py).

Real SQLite files and real threads: a writer commits batch after batch without pause and a
reader queries without pause, as ingest and the scan process do at a district's peak. A passive
checkpoint alone copies frames, but a commit lands during each checkpoint, so the WAL never
starts over and its file grows with everything ever written; the restart needs the routine
writer to stop at a batch boundary, or it never gets the write lock.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import psutil
import pytest

from hub.io_priority import idle_io_priority, io_class_of_this_thread
from hub.persistence.database import checkpoint_passive, checkpoint_passive_left, open_sqlite
from hub.persistence.file_sync import DatabaseFileSync
from hub.wal_bound import RoutineWriterPause, WalBound, WalOutcome

_ROW_BYTES = 400
_ROWS_PER_COMMIT = 40  # the writer's batch


class _Traffic:
    """A writer and a reader on their own connections until stopped; counts commits."""

    def __init__(self, path: Path, pause: RoutineWriterPause) -> None:
        self.path = path
        self.pause = pause
        self.commits = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write), threading.Thread(target=self._read)]

    def __enter__(self) -> _Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def wait_for_commits(self, more: int) -> None:
        with self._changed:
            target = self.commits + more
            assert self._changed.wait_for(lambda: self.commits >= target, timeout=30)

    def _write(self) -> None:
        db = open_sqlite(self.path, synchronous="NORMAL")
        db.execute("PRAGMA wal_autocheckpoint=0")  # as the hub's writers: checkpoints elsewhere
        try:
            while not self._stop.is_set():
                self.pause.at_batch_boundary()  # as the hub's routine writer
                rows = [(os.urandom(4).hex(), os.urandom(_ROW_BYTES)) for _ in range(40)]
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT INTO t(home, body) VALUES (?, ?)", rows)
                db.execute("COMMIT")
                with self._changed:
                    self.commits += 1
                    self._changed.notify_all()
        finally:
            db.close()

    def _read(self) -> None:
        db = open_sqlite(self.path)
        try:
            while not self._stop.is_set():
                db.execute("SELECT COUNT(*) FROM t WHERE home = 'abcd0123'").fetchone()
        finally:
            db.close()


def _database(path: Path) -> None:
    db = open_sqlite(path)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, home TEXT NOT NULL, body BLOB NOT NULL)")
    db.execute("CREATE INDEX t_home ON t(home)")
    db.close()


def _checkpoints(
    path: Path, pause: RoutineWriterPause, step: Callable[[sqlite3.Connection], None], rounds: int
) -> float:
    """Run `step` on a checkpointer's connection every 20 commits; the WAL file's largest size
    per commit made (read while the connections are open: the last one to close deletes the
    file; per commit, as the writer's pace differs between runs on a loaded machine)."""
    wal = Path(f"{path}-wal")
    checkpointer = open_sqlite(path, busy_timeout_s=0.5)  # the hub's 0.1 s, with room for CI
    largest = 0
    try:
        with _Traffic(path, pause) as traffic:
            for _ in range(rounds):
                traffic.wait_for_commits(20)
                step(checkpointer)
                largest = max(largest, wal.stat().st_size)
            commits = traffic.commits
    finally:
        checkpointer.close()
    assert commits * _ROWS_PER_COMMIT * _ROW_BYTES > 4_000_000  # enough traffic to mean something
    return largest / commits


def test_a_restart_keeps_the_wal_small_under_steady_writes(tmp_path: Path) -> None:
    limit = 256 * 1024
    pause = RoutineWriterPause()
    outcomes: list[WalOutcome] = []
    # Each look a thousand seconds after the last: a put-off try's back-off (tested below) has
    # always passed, so every look tries; a loaded machine puts off some tries.
    bound = WalBound(limit, pause, monotonic=lambda: time.monotonic() + 1000.0 * len(outcomes))

    def bounded(conn: sqlite3.Connection) -> None:
        outcomes.append(bound.look(conn))

    _database(tmp_path / "passive.db")
    _database(tmp_path / "bounded.db")
    passive_only = _checkpoints(tmp_path / "passive.db", pause, checkpoint_passive, rounds=25)
    with_restarts = _checkpoints(tmp_path / "bounded.db", pause, bounded, rounds=25)
    # The WAL grew past the limit between looks, and was started over at most of them.
    assert outcomes.count(WalOutcome.RESTARTED) >= 13, outcomes
    # Passive checkpoints alone: the file holds everything written since the start. With
    # restarts it holds about what is written between two looks (per commit: far less).
    assert passive_only > 5 * with_restarts, (passive_only, with_restarts)


def test_the_routine_writer_is_held_only_while_asked() -> None:
    pause = RoutineWriterPause()
    pause.at_batch_boundary()  # nothing asked: returns at once
    stopped = threading.Event()

    def writer() -> None:
        while not stopped.is_set():
            pause.at_batch_boundary()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with pause.held() as paused:
            assert paused  # the writer reached a boundary and waits there
    finally:
        stopped.set()
        thread.join(timeout=10)
    assert not thread.is_alive()  # released when the block ended


def test_each_request_holds_the_writer_once_and_a_stopping_hub_lets_it_go() -> None:
    stopping = threading.Event()
    pause = RoutineWriterPause(stopping=stopping)

    def writer() -> None:  # the routine writer, with batches to store one after another
        while not stopping.is_set():
            pause.at_batch_boundary()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(2):  # one request after another: the writer stops for each
            with pause.held() as paused:
                assert paused
        with pause.held() as paused:
            assert paused
            stopping.set()  # the hub stops while a restart holds the writer
            thread.join(timeout=10)
            assert not thread.is_alive()  # let go without waiting for the block's end
    finally:
        stopping.set()
        thread.join(timeout=10)


@contextmanager
def _wal_past_256_kib(path: Path, pause: RoutineWriterPause) -> Iterator[_Connections]:
    """A database whose WAL holds ~400 KB, an idle routine writer stopping at `pause`'s
    requests (between batches, with nothing to store), and a checkpoint connection."""
    _database(path)
    stopped = threading.Event()
    holds: list[tuple[float, float]] = []

    def idle_writer() -> None:
        while not stopped.wait(0.005):
            held = pause.at_batch_boundary()
            if held is not None:
                ended = time.monotonic()
                holds.append((ended - held, ended))

    writer = open_sqlite(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    checkpointer = open_sqlite(path, busy_timeout_s=0.1)
    thread = threading.Thread(target=idle_writer)
    thread.start()
    try:
        for _ in range(50):
            writer.execute("INSERT INTO t(home, body) VALUES (?, ?)", ("h", os.urandom(8000)))
        yield _Connections(writer, checkpointer, holds)
    finally:
        stopped.set()
        thread.join(timeout=10)
        writer.close()
        checkpointer.close()


class _Connections(NamedTuple):
    writer: sqlite3.Connection
    checkpointer: sqlite3.Connection
    holds: list[tuple[float, float]]  # when the routine writer was held (monotonic, from, to)


def test_a_restarted_wal_is_left_alone_until_it_fills_again(tmp_path: Path) -> None:
    """The file keeps its size after a restart (it is written over, not truncated): what counts
    is what the WAL holds, or every look would hold ingest again for nothing; and until the next
    commit, the WAL still says what it held when it was started over."""
    path = tmp_path / "hub.db"
    pause = RoutineWriterPause()
    with _wal_past_256_kib(path, pause) as (writer, checkpointer, _):
        bound = WalBound(256 * 1024, pause)
        assert bound.look(checkpointer) is WalOutcome.RESTARTED
        # Nothing written since: the WAL still says what it held, and is left alone.
        assert bound.look(checkpointer) is WalOutcome.SMALL
        writer.execute("INSERT INTO t(home, body) VALUES (?, ?)", ("h", os.urandom(100)))
        assert Path(f"{path}-wal").stat().st_size > 256 * 1024  # the file is as large as before
        assert checkpoint_passive(checkpointer) < 64 * 1024  # but written from its beginning
        assert bound.look(checkpointer) is WalOutcome.SMALL


def test_a_restart_a_reader_holds_off_is_tried_again_later_and_later(tmp_path: Path) -> None:
    """A long reader (a backup, a report) keeps the WAL from starting over: each try holds the
    routine writer for a moment, so tries come after 1, 2, 4 ... s, not every second."""
    path = tmp_path / "hub.db"
    _database(path)
    stopped = threading.Event()
    pause = RoutineWriterPause(stopping=stopped)
    now = [0.0]
    bound = WalBound(256 * 1024, pause, monotonic=lambda: now[0])

    def idle_writer() -> None:
        while not stopped.wait(0.005):
            pause.at_batch_boundary()

    writer = open_sqlite(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    for _ in range(50):
        writer.execute("INSERT INTO t(home, body) VALUES (?, ?)", ("h", os.urandom(8000)))
    reader = open_sqlite(path)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM t").fetchone()  # a snapshot inside the WAL, kept
    checkpointer = open_sqlite(path, busy_timeout_s=0.1)
    thread = threading.Thread(target=idle_writer)
    thread.start()
    try:
        seen = []
        for step in (0.0, 0.5, 0.5, 1.0, 1.0, 2.0):  # at 0, 0.5, 1, 2, 3, 5 s
            now[0] += step
            seen.append(bound.look(checkpointer))
        put_off, waiting = WalOutcome.PUT_OFF, WalOutcome.WAITING
        assert seen == [put_off, waiting, put_off, waiting, put_off, waiting]
        reader.execute("COMMIT")
        now[0] += 3.0  # 8 s: the next try is due, and nothing holds it off now
        assert bound.look(checkpointer) is WalOutcome.RESTARTED
    finally:
        stopped.set()
        thread.join(timeout=10)
        for conn in (reader, writer, checkpointer):
            conn.close()


def test_a_slow_restart_is_logged_with_the_copies_before_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each restart holds routine ingest: a long one says whether the copies before it caught
    up with ingest, the first thing to know about what held it."""
    pause = RoutineWriterPause()
    ticks = [0.0]

    def every_look_takes_200_ms() -> float:
        ticks[0] += 0.2
        return ticks[0]

    path = tmp_path / "hub.db"
    with _wal_past_256_kib(path, pause) as (_, checkpointer, _):
        database_file = DatabaseFileSync(path)  # let go once the connections have closed
        bound = WalBound(
            256 * 1024, pause, every_look_takes_200_ms, sync_database=database_file.sync
        )
        with caplog.at_level(logging.INFO, logger="hub.wal_bound"):
            assert bound.look(checkpointer) is WalOutcome.RESTARTED
    database_file.close()
    (line,) = [r.getMessage() for r in caplog.records if "started over" in r.getMessage()]
    assert "MB) started over in 200 ms with routine ingest held" in line
    # Nothing held the copies back (no reader): each copied every frame. Six copies until one
    # was quick (none was), then a flush and a copy, three times, as no flush was quick either.
    assert "the last of 9 copies before it took 200 ms and left 0.0 MB uncopied" in line
    assert line.endswith("flushes of the database file before it: 200 ms, 200 ms, 200 ms")
    # The flush after the first copy took 200 ms too: routine at a district's peak, held
    # nothing, and is not logged (a line every few seconds would bury the ones that matter).
    assert not any("flushing the database file" in r.getMessage() for r in caplog.records)


def test_the_database_file_is_flushed_before_ingest_is_held(tmp_path: Path) -> None:
    """Under steady ingest a passive copy never flushes the database file, so the restart's
    own flush wrote out everything copied since the last restart while routine ingest was held.
    Flushed first, with ingest running, it has only what came in the last moments."""
    pause = RoutineWriterPause()
    path = tmp_path / "hub.db"
    flushes: list[tuple[float, float]] = []
    with _wal_past_256_kib(path, pause) as connections:
        database_file = DatabaseFileSync(path)  # let go once the connections have closed

        def flush() -> None:
            started = time.monotonic()
            database_file.sync()
            flushes.append((started, time.monotonic()))

        bound = WalBound(256 * 1024, pause, sync_database=flush)
        assert bound.look(connections.checkpointer) is WalOutcome.RESTARTED
    database_file.close()
    (hold,) = connections.holds  # the restart held the writer once
    assert flushes, "the database file was flushed"
    assert all(flushed <= hold[0] for _, flushed in flushes), (flushes, hold)


@contextmanager
def _writer_and_checkpointer(path: Path) -> Iterator[tuple[sqlite3.Connection, sqlite3.Connection]]:
    """A fresh database, a writer that leaves checkpoints to others (as the hub's), and a
    checkpoint connection; both closed at the end."""
    _database(path)
    writer = open_sqlite(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    checkpointer = open_sqlite(path)
    try:
        yield writer, checkpointer
    finally:
        writer.close()
        checkpointer.close()


def test_a_flush_that_keeps_the_disk_busy_is_logged_at_a_bounded_rate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]

    def slow_flush() -> None:  # what a flush costs on a busy disk, on the injected clock
        now[0] += 0.8

    bound = WalBound(1024 * 1024 * 1024, RoutineWriterPause(), lambda: now[0], slow_flush)
    with (
        _writer_and_checkpointer(tmp_path / "hub.db") as (writer, checkpointer),
        caplog.at_level(logging.INFO, logger="hub.wal_bound"),
    ):
        for _ in range(3):  # three looks, each after new writes: three slow flushes
            writer.execute("INSERT INTO t(home, body) VALUES (?, ?)", ("h", b"x" * 8000))
            bound.look(checkpointer)
            now[0] += 1.0
    (line,) = [r.getMessage() for r in caplog.records]  # one line within the minute
    assert line.startswith("flushing the database file took 800 ms (")


def test_each_copy_is_flushed_and_an_idle_wal_is_not_flushed_again(tmp_path: Path) -> None:
    """What a copy writes into the database file is flushed after it, a little each second
    with ingest running, not all at once before a restart; nothing copied, nothing flushed."""
    path = tmp_path / "hub.db"
    flushes = [0]
    with _writer_and_checkpointer(path) as (writer, checkpointer):
        database_file = DatabaseFileSync(path)  # let go once the connections have closed

        def flush() -> None:
            database_file.sync()
            flushes[0] += 1

        bound = WalBound(1024 * 1024 * 1024, RoutineWriterPause(), sync_database=flush)
        writer.execute("INSERT INTO t(home, body) VALUES (?, ?)", ("h", os.urandom(8000)))
        assert bound.look(checkpointer) is WalOutcome.SMALL
        assert flushes[0] == 1  # the copy wrote to the file
        assert bound.look(checkpointer) is WalOutcome.SMALL
        assert flushes[0] == 1  # nothing new copied: an idle hub does not flush each second
        writer.execute("INSERT INTO t(home, body) VALUES (?, ?)", ("h", os.urandom(8000)))
        bound.look(checkpointer)
        assert flushes[0] == 2
    database_file.close()


def test_a_passive_copy_says_what_a_readers_older_snapshot_kept_it_from_copying(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.db"
    _database(path)
    writer = open_sqlite(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    reader = open_sqlite(path)
    checkpointer = open_sqlite(path)
    try:
        writer.execute("INSERT INTO t(home, body) VALUES (?, ?)", ("h", os.urandom(100)))
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM t").fetchone()  # a snapshot at this frame
        for _ in range(20):
            writer.execute("INSERT INTO t(home, body) VALUES (?, ?)", ("h", os.urandom(8000)))
        held, left = checkpoint_passive_left(checkpointer)
        assert held is not None and left is not None
        assert left > 100_000, "the frames after the reader's snapshot stay in the WAL"
        reader.execute("COMMIT")
        assert checkpoint_passive_left(checkpointer)[1] == 0
    finally:
        writer.close()
        reader.close()
        checkpointer.close()


class _PauseSeeingIoClass(RoutineWriterPause):
    """The routine writer's pause, noting the holding thread's I/O class while it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.io_classes: list[int | None] = []

    @contextmanager
    def held(self) -> Iterator[bool]:
        with super().held() as paused:
            self.io_classes.append(io_class_of_this_thread())
            yield paused


def _io_classes_settable() -> bool:
    if sys.platform != "linux":
        return False
    with idle_io_priority():
        return io_class_of_this_thread() == psutil.IOPRIO_CLASS_IDLE


@pytest.mark.skipif(not _io_classes_settable(), reason="no I/O classes to set here")
def test_the_flush_after_a_copy_is_idle_and_the_restart_is_not(tmp_path: Path) -> None:
    """The flush after each copy waits for the disk behind the writers (the idle I/O class);
    the flushes before a restart and the restart, which hold or are about to hold ingest, keep
    the thread's own class, and so does the thread afterwards."""
    own = io_class_of_this_thread()
    assert own != psutil.IOPRIO_CLASS_IDLE
    pause = _PauseSeeingIoClass()
    path = tmp_path / "hub.db"
    flush_classes: list[int | None] = []
    with _wal_past_256_kib(path, pause) as connections:
        database_file = DatabaseFileSync(path)  # let go once the connections have closed

        def flush() -> None:
            flush_classes.append(io_class_of_this_thread())
            database_file.sync()

        bound = WalBound(256 * 1024, pause, sync_database=flush, flush_io_idle=True)
        assert bound.look(connections.checkpointer) is WalOutcome.RESTARTED
    database_file.close()
    after_copy, *before_restart = flush_classes
    assert after_copy == psutil.IOPRIO_CLASS_IDLE
    assert before_restart and set(before_restart) == {own}
    assert pause.io_classes == [own]  # while ingest was held
    assert io_class_of_this_thread() == own
