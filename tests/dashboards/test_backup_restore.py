"""`mehr backup` while the database is in use, then `mehr restore`: the restored database
serves the same homes and alerts through the web app's API."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dashboards import create_app
from mehr_app.cli import main
from tests.dashboards.conftest import World, login, settings_for


def _served(db_path: Path, world: World) -> dict[str, Any]:
    """What an admin reads through the API: homes, alerts, and one alert in full."""
    app = create_app(settings_for(db_path), clock=world.clock)
    with TestClient(app) as client:
        login(client, "admin")
        return {
            "homes": client.get("/api/v1/homes").json(),
            "alerts": client.get("/api/v1/alerts").json(),
            "alert_a": client.get(f"/api/v1/alerts/{world.alert_a}").json(),
        }


def test_restored_backup_serves_the_same_homes_and_alerts(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The backup is taken while another connection holds committed pages in the WAL (what
    `cp` can miss) and a reader is open; restore brings back every home and alert."""
    live = sqlite3.connect(world.db_path)
    live.execute("PRAGMA wal_autocheckpoint=0")
    (mode,) = live.execute("PRAGMA journal_mode=WAL").fetchone()
    assert mode == "wal"
    (home_id,) = live.execute("SELECT id FROM homes ORDER BY id LIMIT 1").fetchone()
    live.execute("UPDATE homes SET name='Saodat opa (renamed)' WHERE id=?", (home_id,))
    live.commit()
    assert world.db_path.with_name(world.db_path.name + "-wal").stat().st_size > 0
    before = _served(world.db_path, world)
    assert before["alerts"] and "Saodat opa (renamed)" in str(before["homes"])
    reader = sqlite3.connect(world.db_path)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM alerts").fetchone()
    backup = tmp_path / "backups" / "mehr-2026-11-29.db"
    try:
        assert main(["backup", "--db", str(world.db_path), "--out", str(backup)]) == 0
    finally:
        reader.rollback()
        reader.close()
        live.close()
    assert "integrity ok" in capsys.readouterr().out
    assert main(["backup", "--db", str(world.db_path), "--out", str(backup)]) == 1
    assert "never overwritten" in capsys.readouterr().err

    restored = tmp_path / "restored" / "mehr.db"
    restored.parent.mkdir()
    assert main(["restore", "--from", str(backup), "--db", str(restored)]) == 0
    assert _served(restored, world) == before


def test_restore_refuses_to_replace_a_database_without_force_and_keeps_the_old_one(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A restore over a live database needs --force, and the old file is kept aside."""
    backup = tmp_path / "b.db"
    assert main(["backup", "--db", str(world.db_path), "--out", str(backup)]) == 0
    assert main(["restore", "--from", str(backup), "--db", str(world.db_path)]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["restore", "--from", str(backup), "--db", str(world.db_path), "--force"]) == 0
    assert world.db_path.with_name(world.db_path.name + ".before-restore").exists()


def test_backup_of_a_postgresql_url_is_refused_naming_what_to_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "copy.db"
    code = main(["backup", "--db", "postgresql://mehr@127.0.0.1/mehr", "--out", str(out)])
    assert code == 1
    assert "pg_dump" in capsys.readouterr().err
    assert not out.exists()
