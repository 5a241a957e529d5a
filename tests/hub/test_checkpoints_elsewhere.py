"""On SQLite the hub's checkpoint thread alone moves the WAL into the database: no other commit
of the hub's copies it and fsyncs the file in the committing thread (the critical alert lane
did so inside its write turn, while the routine writer waited for that turn). And what the hub
loaded at start is left out of the garbage collector's full passes."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hub.alerts.engine
import hub.service
from hub.alerts.engine import open_alerts_connection
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.smtp_sink import SmtpSink
from tests.hub.alerts.test_end_to_end import SECRET, alerts_yaml
from tests.hub.one_kit import start_one_kit_hub

# More pages than SQLite's automatic checkpoint waits for (1,000).
_PAGES = 1500


def _commit_pages(conn: Any) -> None:
    conn.execute("CREATE TABLE filler(body BLOB)")
    for _ in range(_PAGES // 50):
        conn.execute("BEGIN IMMEDIATE")
        for _ in range(50):
            conn.execute("INSERT INTO filler(body) VALUES (randomblob(4000))")
        conn.execute("COMMIT")


@pytest.mark.parametrize("elsewhere", [True, False])
def test_an_alert_engine_connection_checkpoints_only_when_nobody_else_does(
    tmp_path: Path, elsewhere: bool
) -> None:
    db = tmp_path / "hub.db"
    conn = open_alerts_connection(db, checkpoints_elsewhere=elsewhere)
    try:
        before = db.stat().st_size
        _commit_pages(conn)
        grown_mb = (db.stat().st_size - before) / 1e6
    finally:
        conn.close()
    if elsewhere:
        assert grown_mb < 0.5, "the commits copied the WAL into the database themselves"
    else:  # a connection of its own (the web app, a tool) still keeps its WAL in check
        assert grown_mb > 2


def test_the_hubs_connections_leave_the_wal_to_its_checkpoint_thread(
    tmp_path: Path,
    mosquitto: Mosquitto,
    hub_password: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[Any] = []

    def keeping(open_: Callable[..., Any]) -> Callable[..., Any]:
        def open_and_keep(*args: Any, **kwargs: Any) -> Any:
            opened.append(result := open_(*args, **kwargs))
            return result

        return open_and_keep

    monkeypatch.setattr(
        hub.alerts.engine, "open_alerts_connection", keeping(open_alerts_connection)
    )
    monkeypatch.setattr(hub.service, "open_store", keeping(hub.service.open_store))
    smtp = SmtpSink()
    smtp.start()
    try:
        the_hub, _, _ = start_one_kit_hub(
            tmp_path, mosquitto, hub_password,
            alerts_config=alerts_yaml(tmp_path / "alerts.yaml", smtp), alerts_secret=SECRET,
        )  # fmt: skip
        try:
            assert gc.get_freeze_count() > 0, "what the hub loaded at start is frozen"
            the_hub.tick()  # the scan's and the engine's own stores, as a pass opens them
            looked_at = 0
            for conn in (getattr(c, "connection", c) for c in opened):
                try:
                    every_pages = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
                except sqlite3.ProgrammingError:
                    # Closed (the start's store, which checkpoints: no checkpoint thread yet)
                    # or another thread's (the ingest writers': `_prepare_writer` turns theirs
                    # off).
                    continue
                assert every_pages == 0
                looked_at += 1
            # The full engine and its critical lane, and the pass's scan store.
            assert looked_at >= 3
        finally:
            the_hub.stop()
    finally:
        smtp.stop()
    assert gc.get_freeze_count() == 0, "a stopped hub leaves the process's heap as it was"


def test_hubs_in_one_process_share_the_freeze_and_the_last_to_stop_lifts_it() -> None:
    heap = hub.service._StartupHeap()
    try:
        heap.freeze()
        heap.freeze()  # a second hub (the web app's, a test's)
        heap.release()
        assert gc.get_freeze_count() > 0, "the other hub still runs"
        heap.release()
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
