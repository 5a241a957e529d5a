"""What the `sensor_state` upsert costs the ingest thread (issue 12: "sensor state in memory with
periodic flushes, if it pays").

    .venv/bin/python bench/sensor_state_cost.py --homes 10000 [--batches 300] [--batch 20]

On a fresh SQLite file (the hub's own SqliteStore, synchronous FULL as shipped) holding one
state row per sensor of N homes (5 sensors each) and as many events: batches of events of
random homes go through `SqliteStore.store_events` and a COMMIT, the hub's ingest path, timed
as (store_events, commit). Then the same batches' `sensor_state` upserts alone (the statement
`store_events` runs for each new event, copied here because it is inline there) inside a
transaction that is rolled back. The upsert's share of (store_events + commit) is what keeping
sensor state in memory could save the ingest thread at most. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
sys.path = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

from hub.persistence.sqlite_store import SqliteStore  # noqa: E402
from hub.persistence.timestamps import to_epoch  # noqa: E402
from hub.store.base import NewEvent  # noqa: E402

_SENSORS = ("pir-bed", "pir-bath", "pir-kitchen", "pir-living", "door-front")
# As in SqliteStore.store_events (the newest event per sensor; see its comment).
_UPSERT = (
    "INSERT INTO sensor_state(kit_id, sensor_id, home_id, kind, room, value, "
    "occurred_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT(kit_id, sensor_id) DO UPDATE "
    "SET kind=excluded.kind, room=excluded.room, value=excluded.value, "
    "occurred_at=excluded.occurred_at WHERE excluded.occurred_at >= occurred_at "
    "OR occurred_at > ?"
)


def _event(home: int, sensor: str, seq: int, at: datetime) -> NewEvent:
    kind = "door" if sensor.startswith("door") else "motion"
    value: object = "open" if kind == "door" else True
    return NewEvent(f"h{home}", f"k{home}", 1, seq, sensor, kind, value, "Room", at, at)


def run(homes: int, batches: int, batch: int, seed: int) -> dict[str, object]:
    """Fill, then time the ingest path and the upserts alone."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "hub.db", "FULL")
        t0 = datetime(2026, 11, 29, tzinfo=UTC)
        seq = 0
        fill = []
        for h in range(homes):
            for s in _SENSORS:
                seq += 1
                fill.append(_event(h, s, seq, t0))
            if len(fill) >= 50_000:
                store.store_events(fill, t0)
                store.commit()
                fill = []
        store.store_events(fill, t0)
        store.commit()
        plans = []
        for b in range(batches):
            at = t0 + timedelta(seconds=b + 1)
            rows = []
            for _ in range(batch):
                seq += 1
                rows.append(_event(rng.randrange(homes), rng.choice(_SENSORS), seq, at))
            plans.append(rows)
        store_s, commit_s, upsert_s = [], [], []
        for rows in plans:
            a = time.perf_counter()
            store.store_events(rows, rows[0].received_at)
            b_ = time.perf_counter()
            store.commit()
            c = time.perf_counter()
            store_s.append(b_ - a)
            commit_s.append(c - b_)
        conn = store.connection
        for rows in plans:
            conn.execute("BEGIN IMMEDIATE")
            a = time.perf_counter()
            for ev in rows:
                conn.execute(
                    _UPSERT,
                    (ev.kit_id, ev.sensor_id, ev.home_id, ev.kind, ev.room, "true",
                     to_epoch(ev.occurred_at) + 1, to_epoch(ev.received_at) + 86_400),
                )  # fmt: skip
            upsert_s.append(time.perf_counter() - a)
            conn.execute("ROLLBACK")
        store.close()
    total = sum(store_s) + sum(commit_s)
    return {
        "homes": homes,
        "batch": batch,
        "batches": batches,
        "store_events_ms_per_batch_median": round(statistics.median(store_s) * 1000, 3),
        "commit_ms_per_batch_median": round(statistics.median(commit_s) * 1000, 3),
        "upserts_ms_per_batch_median": round(statistics.median(upsert_s) * 1000, 3),
        "upsert_us_per_event": round(sum(upsert_s) / (batches * batch) * 1e6, 2),
        "upsert_share_of_store_and_commit": round(sum(upsert_s) / total, 4),
    }


def main() -> int:
    """Parse arguments, run, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homes", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    print(json.dumps(run(a.homes, a.batches, a.batch, a.seed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
