"""Storage per event and the retention job's cost, on a copy of a hub database.

    .venv/bin/python bench/retention.py --db /tmp/capacity_prep_10k/hub.db [--keep-days 7]
        [--seconds 60] [--workdir /tmp]

Measures (SQLite's dbstat) the bytes of the events table and its indexes per event, then, on a
copy (the given file is never written), runs the retention job's own step
(`hub.persistence.retention.summarise_old_events`, one transaction of 1,000 events, as
`hub/retention.py` runs it) for `--seconds` with raw events kept `--keep-days`: events folded
per second, each transaction's time (how long it holds the write lock), and the bytes per
hourly-summary row and events per row it produced. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
sys.path = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

from hub.persistence.retention import migrate_retention, summarise_old_events  # noqa: E402
from hub.persistence.sqlite_store import SqliteStore  # noqa: E402


def _sizes(db: Path, names: tuple[str, ...]) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(names))
        rows = conn.execute(
            f"SELECT name, SUM(pgsize) FROM dbstat WHERE name IN ({marks}) GROUP BY name", names
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}
    finally:
        conn.close()


def run(db: Path, keep_days: float, seconds: float, workdir: Path) -> dict[str, object]:
    """Measure sizes, fold for `seconds` on a copy, measure again."""
    event_parts = (
        "events", "events_home_other", "events_home_activity", "sqlite_autoindex_events_1"
    )
    before = _sizes(db, event_parts)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        events, newest = conn.execute("SELECT COUNT(*), MAX(stored_at) FROM events").fetchone()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        copy = Path(tmp) / "hub.db"
        shutil.copyfile(db, copy)
        store = SqliteStore(copy, "FULL")
        migrate_retention(store.connection)
        cutoff = float(newest) - keep_days * 86_400.0
        after, folded, tx_ms = 0, 0, []
        stop = time.monotonic() + seconds
        t0 = time.monotonic()
        while time.monotonic() < stop:
            a = time.perf_counter()
            batch = summarise_old_events(store, after, cutoff, 1000)
            store.commit()
            tx_ms.append((time.perf_counter() - a) * 1000)
            folded += batch.summarised
            after = batch.next_after_id
            if batch.at_end:
                break
        wall = time.monotonic() - t0
        summaries = int(store.connection.execute("SELECT COUNT(*) FROM event_hours").fetchone()[0])
        store.close()
        hours = _sizes(copy, ("event_hours", "sqlite_autoindex_event_hours_1"))
    per_event = sum(before.values()) / events
    per_summary = sum(hours.values()) / max(1, summaries)
    return {
        "events": events,
        "bytes_per_event": round(per_event, 1),
        "bytes_per_event_parts": {k: round(v / events, 1) for k, v in before.items()},
        "keep_days": keep_days,
        "folded": folded,
        "folded_per_s": round(folded / wall, 1),
        "tx_ms_p50": round(float(np.percentile(tx_ms, 50)), 2),
        "tx_ms_p99": round(float(np.percentile(tx_ms, 99)), 2),
        "tx_ms_max": round(max(tx_ms), 2),
        "summary_rows": summaries,
        "events_per_summary_row": round(folded / max(1, summaries), 2),
        "bytes_per_summary_row": round(per_summary, 1),
    }


def main() -> int:
    """Parse arguments, run, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--keep-days", type=float, default=7.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    a = parser.parse_args()
    print(json.dumps(run(a.db, a.keep_days, a.seconds, a.workdir)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
