"""`mehr kit check` puts the kit in test mode for the walk test and takes it out at the end."""

from __future__ import annotations

import getpass
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.alerts.engine import open_alerts_db
from hub.alerts.testmode import TestModes
from hub.persistence.sqlite_store import SqliteStore
from mehr.clock import SystemClock
from mehr_app.cli import main
from tests.hub.factories import home_spec


def test_kit_check_turns_test_mode_on_at_start_and_off_at_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = tmp_path / "hub.db"
    store = SqliteStore(db_path)
    store.register_home(home_spec("home-1", "kit-1"), datetime.now(UTC))
    # The kit is up: `kit check` stops early (exit 3) for a kit the hub never saw online.
    store.set_availability("kit-1", "online", datetime.now(UTC))
    store.commit()
    store.close()

    # Nothing fires within the (zero) timeout: the walk test fails, test mode still ends.
    code = main(["--lang", "en", "kit", "check", "--kit", "kit-1", "--hub-db", str(db_path),
                 "--timeout", "0"])
    assert code == 1
    out = capsys.readouterr().out
    assert "test mode on for kit kit-1 until" in out and "(Asia/Tashkent)" in out

    conn = open_alerts_db(db_path)
    try:
        conn.row_factory = sqlite3.Row
        (row,) = conn.execute("SELECT id FROM test_modes").fetchall()
        modes = TestModes(conn, SystemClock())
        actor = f"installer:{getpass.getuser()}"
        assert [(a["actor"], a["action"]) for a in modes.audit_trail(row["id"])] == [
            (actor, "start"), (actor, "end"),
        ]
        assert modes.current("home-1", "kit-1") is None
    finally:
        conn.close()

