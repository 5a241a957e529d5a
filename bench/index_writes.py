"""What one stored event costs the database's writer with schema step 3's indexes and step 4's,
side by side on copies of one file.

Step 4 (hub/persistence/schema_core.py) keeps every event in one home-and-time index instead of
two. This bench measures the mechanism that change is for, on the hub's own write path
(`SqliteStore.store_events` and a commit per batch, synchronous=FULL, no checkpoint during a
round, as the hub's writer runs):

- the fleet's history written in time order across all homes (bench/scan_reads.py), with
  step 3's `events_home_time` built as it went, so both copies' indexes grew the same way;
- two copies: step 4 as shipped, and step 3 (the same file with `events_home_time` kept);
- rounds alternating the copies: `--events` motion events of homes picked at random, in batches
  of `--batch` (each batch one commit), as a district's traffic arrives.

Reported per copy, medians over the rounds: events/s and the WAL's bytes per event (every page a
commit changes is written to the WAL whole: the page-sized cost of landing on another home's
leaf). It is the writer alone on a file that fits in memory; a district's file does not, and
there each of those pages is also a random read (docs/benchmarks.md, the 60,000-home runs).

    .venv/bin/python bench/index_writes.py --homes 5000 --days 3 --events 30000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.capacity_history import home_ids
from bench.scan_reads import _write_interleaved
from hub.persistence.database import disable_auto_checkpoint
from hub.persistence.sqlite_store import SqliteStore
from hub.store.base import NewEvent

_STEP3_INDEX = "CREATE INDEX events_home_time ON events(home_id, occurred_at)"
_EPOCH_BASE = 1_000  # live events' epochs, above the history's: never taken for duplicates


def build(work: Path, homes: int, days: float) -> dict[str, Path]:
    """The two copies: {"step3": path, "step4": path}."""
    base = work / "base.db"
    SqliteStore(base).close()  # the shipped schema (step 4)
    with sqlite3.connect(base, isolation_level=None) as db:
        db.execute(_STEP3_INDEX)  # grows with the history, as in a step-3 database
    _write_interleaved(base, homes, days, datetime.now(UTC))
    copies = {"step3": work / "step3.db", "step4": work / "step4.db"}
    for path in copies.values():
        shutil.copyfile(base, path)
    base.unlink()
    with sqlite3.connect(copies["step4"], isolation_level=None) as db:
        db.execute("DROP INDEX events_home_time")
    return copies


def _batches(
    homes: int, events: int, batch: int, epoch: int, rng: np.random.Generator
) -> list[list[NewEvent]]:
    now = datetime.now(UTC)
    picks = rng.integers(0, homes, size=events)
    out: list[list[NewEvent]] = []
    for first in range(0, events, batch):
        chunk = []
        for k in range(first, min(first + batch, events)):
            home, kit = home_ids(int(picks[k]))
            at = now + timedelta(milliseconds=k)
            chunk.append(
                NewEvent(home, kit, epoch, k, "pir-bench", "motion", k % 2 == 0, "Oshxona", at, at)
            )
        out.append(chunk)
    return out


def one_round(path: Path, batches: list[list[NewEvent]]) -> dict[str, float]:
    """Store the batches on `path` as the hub's writer does; events/s and WAL bytes/event."""
    store = SqliteStore(path, "FULL")
    try:
        disable_auto_checkpoint(store.connection)
        store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        wal = Path(f"{path}-wal")
        events = sum(len(b) for b in batches)
        started = time.perf_counter()
        for chunk in batches:
            store.store_events(chunk, chunk[-1].received_at)
            store.commit()
        elapsed = time.perf_counter() - started
        wal_bytes = wal.stat().st_size
        store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        store.close()
    return {"events_per_s": events / elapsed, "wal_bytes_per_event": wal_bytes / events}


def run(
    homes: int, days: float, events: int, batch: int, rounds: int, work: Path
) -> dict[str, Any]:
    """Build the copies, alternate rounds on them, and return the medians and their ratios."""
    started = time.monotonic()
    copies = build(work, homes, days)
    built_s = time.monotonic() - started
    rng = np.random.default_rng(7)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in copies}
    for r in range(rounds):
        batches = _batches(homes, events, batch, _EPOCH_BASE + r, rng)
        order = list(copies) if r % 2 == 0 else list(reversed(copies))
        for name in order:
            results[name].append(one_round(copies[name], batches))
    summary: dict[str, Any] = {
        "homes": homes, "history_days": days, "events_per_round": events, "batch": batch,
        "rounds": rounds, "build_s": round(built_s, 1),
    }  # fmt: skip
    for name, rows in results.items():
        for field in ("events_per_s", "wal_bytes_per_event"):
            summary[f"{name}_{field}"] = round(statistics.median(r[field] for r in rows), 1)
    summary["speedup"] = round(summary["step4_events_per_s"] / summary["step3_events_per_s"], 3)
    summary["wal_bytes_ratio"] = round(
        summary["step4_wal_bytes_per_event"] / summary["step3_wal_bytes_per_event"], 3
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--homes", type=int, default=5000)
    parser.add_argument("--days", type=float, default=3.0, help="history per home")
    parser.add_argument("--events", type=int, default=30_000, help="events per round and copy")
    parser.add_argument("--batch", type=int, default=150, help="events per commit")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    a = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=a.workdir) as tmp:
        summary = run(a.homes, a.days, a.events, a.batch, a.rounds, Path(tmp))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
