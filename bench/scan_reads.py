"""What reading one home's events costs the routine scan when the homes' events are stored as a
live hub stores them: interleaved, in the order they arrive.

The capacity harness writes its history home by home (fast to prepare), which puts one home's
rows next to each other in the table: a friendly layout no live hub has. Here the same fleet
residents' history (bench/capacity_history.py) is written in time order across all homes, then
`SqliteStore.activity_events` (what the scan calls at every look, 36 h, and every re-learn, 28
days) is timed for the same sample of homes:

- with the index the hub ships for it (`events_home_activity`, schema step 3, partial over the
  sign-of-life kinds: the query is answered from the index alone), and
- without it, as before that step (`events_home_time`: home and time only, every row then read
  from the table), by dropping it from the same file and building that index in the same run.

Each is measured with the page cache dropped first (as for a re-learn of weeks nobody read
lately; needs root, else it says so and measures warm only) and again at once (warm). Bytes
read from the disk come from /proc/self/io.

    .venv/bin/python bench/scan_reads.py --homes 2000 --days 21 --sample 100
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.capacity_history import (
    HistorySpec,
    _home_rows,
    _register_homes,
    _sleep_times,
    home_ids,
)
from hub.persistence.sqlite_store import SqliteStore

_COVERING = "events_home_activity"
_OLD = "events_home_time"


def _write_interleaved(db_path: Path, homes: int, days: float, end: datetime) -> int:
    """Register the homes, then write their history in time order across homes."""
    _register_homes(db_path, homes, "fleet")
    spec = HistorySpec(days=days)
    wake, bed = _sleep_times(homes, 2, spec.seed, "fleet")
    end_s = end.timestamp()
    start_s = end_s - days * 86_400.0
    import numpy as np

    rng = np.random.default_rng([spec.seed, homes, 15])
    rows: list[tuple[object, ...]] = []
    for i in range(homes):
        home_rows, _ = _home_rows(
            i, float(wake[i]), float(bed[i]), start_s, end_s, spec, rng, "fleet"
        )
        rows.extend(home_rows)
    rows.sort(key=lambda r: float(r[8]))  # type: ignore[arg-type]  # occurred_at
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    try:
        for first in range(0, len(rows), 100_000):
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO events(home_id, kit_id, epoch, seq, sensor_id, kind, value, room, "
                "occurred_at, received_at, stored_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows[first : first + 100_000],
            )
            db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return len(rows)


def _read_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    return 0


def _drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def _time_reads(
    db_path: Path, homes: list[str], since: datetime, until: datetime
) -> dict[str, Any]:
    store = SqliteStore(db_path)
    try:
        bytes_before = _read_bytes()
        times = []
        rows = 0
        for home in homes:
            started = time.perf_counter()
            rows += len(store.activity_events(home, since, until))
            times.append((time.perf_counter() - started) * 1000)
        read = _read_bytes() - bytes_before
    finally:
        store.close()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(sorted(times)[int(0.9 * (len(times) - 1))], 2),
        "rows_per_home": round(rows / len(homes)),
        "disk_kb_per_home": round(read / len(homes) / 1024, 1),
    }


def _index_bytes(db_path: Path) -> dict[str, float]:
    db = sqlite3.connect(db_path)
    try:
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
        sizes = dict(
            db.execute(
                "SELECT name, sum(pgsize) FROM dbstat WHERE name LIKE 'events%' GROUP BY name"
            )
        )
    except sqlite3.OperationalError:  # a SQLite built without dbstat
        return {}
    finally:
        db.close()
    return {name: round(size / events, 1) for name, size in sizes.items()}


def _measure(db_path: Path, sample: list[str], end: datetime, cold: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"bytes_per_event": _index_bytes(db_path)}
    for label, span in (("relearn_28d", timedelta(days=28)), ("look_36h", timedelta(hours=36))):
        if cold:
            _drop_caches()
            out[f"{label}_cold"] = _time_reads(db_path, sample, end - span, end)
        out[f"{label}_warm"] = _time_reads(db_path, sample, end - span, end)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--homes", type=int, default=2000)
    parser.add_argument("--days", type=float, default=21.0)
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mehr-scan-reads-"))
    work.mkdir(parents=True, exist_ok=True)
    db_path = work / "hub.db"
    end = datetime.now(UTC).replace(microsecond=0)
    started = time.monotonic()
    rows = _write_interleaved(db_path, args.homes, args.days, end)
    print(f"{rows} rows of {args.homes} homes in time order, {time.monotonic() - started:.0f} s",
          file=sys.stderr)  # fmt: skip
    cold = _drop_caches()
    if not cold:
        print("cannot drop the page cache (not root): warm reads only", file=sys.stderr)
    sample = [home_ids(i)[0] for i in random.Random(7).sample(range(args.homes), args.sample)]
    result: dict[str, Any] = {"homes": args.homes, "days": args.days, "rows": rows}
    result["shipped_covering_index"] = _measure(db_path, sample, end, cold)
    db = sqlite3.connect(db_path, isolation_level=None)
    # What the query had before step 3: home and time only, over every kind (step 4 has since
    # made that index partial, over the kinds that are not signs of life).
    db.execute(f"DROP INDEX {_COVERING}")
    db.execute(f"CREATE INDEX {_OLD} ON events(home_id, occurred_at)")
    db.close()
    result["home_time_index_alone"] = _measure(db_path, sample, end, cold)
    print(json.dumps(result))
    if args.workdir is None:
        for path in work.iterdir():
            path.unlink()
        work.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
