"""bench/index_writes.py on a few homes: its two copies differ only by step 3's extra index, and
the mechanism step 4 is for shows in what the writer logs (the full run stays in bench/)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.index_writes import build, run


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='events'")
        return {r[0] for r in rows}


def test_the_copies_differ_only_by_the_step_3_index(tmp_path: Path) -> None:
    copies = build(tmp_path, homes=20, days=0.5)
    step3, step4 = _indexes(copies["step3"]), _indexes(copies["step4"])
    assert step3 - step4 == {"events_home_time"}
    assert step4 <= step3 and "events_home_other" in step4


def test_an_event_logs_fewer_pages_with_one_home_index(tmp_path: Path) -> None:
    summary = run(homes=200, days=0.5, events=1500, batch=150, rounds=1, work=tmp_path)
    # Random homes: each event lands on its own leaf of every index keyed by home or kit, and
    # each changed page goes to the WAL whole; step 4 has one such index fewer.
    assert summary["step4_wal_bytes_per_event"] < 0.9 * summary["step3_wal_bytes_per_event"]
    assert summary["step3_events_per_s"] > 0 and summary["step4_events_per_s"] > 0
