"""A prepared capacity database is reused only by code with the same schema: one prepared by
other code would be migrated inside the measured run (an index rebuilt over every event) or
refused as too new."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bench.capacity import _hub_config, _parse, _prepared_key, _reuse_prepared, _taken_in
from hub.persistence.schema_core import MIGRATIONS


def _prepared(tmp_path: Path, core_schema: int) -> Path:
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "hub.db").write_bytes(b"a prepared database")
    opts = _parse(["--homes", "3", "--prepared", str(prepared)])
    meta = {**_prepared_key(opts), "core_schema": core_schema}
    meta |= {"rows": 7, "history_end": "2026-11-29T12:00:00+00:00"}
    (prepared / "prepared.json").write_text(json.dumps(meta))
    return prepared


def test_a_database_prepared_at_another_schema_is_prepared_anew(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path, core_schema=len(MIGRATIONS) - 1)
    opts = _parse(["--homes", "3", "--prepared", str(prepared)])
    work = tmp_path / "work"
    work.mkdir()
    assert _reuse_prepared(opts, work) is None
    assert not (work / "hub.db").exists()


def test_a_database_prepared_at_another_alerts_schema_is_prepared_anew(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path, core_schema=len(MIGRATIONS))
    meta = json.loads((prepared / "prepared.json").read_text())
    meta["schemas"][0] -= 1
    (prepared / "prepared.json").write_text(json.dumps(meta))
    opts = _parse(["--homes", "3", "--prepared", str(prepared)])
    work = tmp_path / "work"
    work.mkdir()
    assert _reuse_prepared(opts, work) is None


def test_a_database_prepared_at_this_schema_is_reused(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path, core_schema=len(MIGRATIONS))
    opts = _parse(["--homes", "3", "--prepared", str(prepared)])
    work = tmp_path / "work"
    work.mkdir()
    reused = _reuse_prepared(opts, work)
    assert reused is not None and reused[0] == 7
    assert (work / "hub.db").read_bytes() == b"a prepared database"


def test_a_hub_setting_for_a_side_by_side_reaches_the_hubs_config(tmp_path: Path) -> None:
    opts = _parse(["--homes", "3", "--hub-setting", "scan_nice=0", "--hub-setting", "x=a b"])
    assert opts.hub_settings == {"scan_nice": 0, "x": "a b"}
    written = yaml.safe_load(
        _hub_config(tmp_path, "hub", {}, 1, 60.0, extra=opts.hub_settings).read_text()
    )
    assert written["scan_nice"] == 0 and written["x"] == "a b"
    with pytest.raises(SystemExit):
        _parse(["--homes", "3", "--hub-setting", "scan_nice"])


def test_a_heartbeat_acknowledged_without_a_write_counts_as_taken_in() -> None:
    stats = {"stored": 10, "heartbeats": 4, "heartbeats_not_written": 6, "rejected_total": 1}
    assert _taken_in(stats) == 21
