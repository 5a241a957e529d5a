"""PriorityWriters: the routine writer waits while a press or the engine's critical lane needs
SQLite's write lock, and goes on when they are done."""

from __future__ import annotations

import threading

from hub.write_priority import PriorityWriters


def test_the_routine_writer_waits_while_a_priority_writer_needs_the_lock() -> None:
    writers = PriorityWriters()
    assert not writers.busy() and writers.wait_until_idle(0)
    inside, release = threading.Event(), threading.Event()

    def press() -> None:
        with writers.first():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=press)
    thread.start()
    try:
        assert inside.wait(10)
        assert writers.busy()
        assert not writers.wait_until_idle(0.01)  # bounded: the routine writer gives up waiting
        release.set()
        assert writers.wait_until_idle(10)
        assert not writers.busy()
    finally:
        release.set()
        thread.join(10)


def test_nested_and_overlapping_writers_are_counted() -> None:
    writers = PriorityWriters()
    with writers.first():
        with writers.first():
            assert writers.busy()
        assert writers.busy()  # one still needs the lock
    assert not writers.busy()
