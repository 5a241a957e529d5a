"""The ingest store alone: events/s that `store_events` + COMMIT writes, batch by batch.

    .venv/bin/python bench/store.py [--events 20000] [--batch 500] [--rounds 5]
        [--synchronous FULL|NORMAL] [--baseline path/to/old_sqlite_store.py]
        [--postgres-url postgresql://user@host:port/db]

The hub's hot path without the broker: batches of `--batch` motion events from 20 kits, each
batch one transaction, on a fresh SQLite file per round (the store the hub opens). With
`--baseline` (an older copy of hub/persistence/sqlite_store.py, e.g. from `git show
REV:hub/persistence/sqlite_store.py > /tmp/old.py`) the two stores run in alternating rounds on
the same machine and the ratio of medians is printed: the side-by-side figure the
PostgreSQL-capable store was measured with. `--postgres-url` adds the same run on an empty
PostgreSQL database (tables are created; rows are deleted between rounds); `--postgres` starts a
throwaway server from the OS packages on loopback for it (mehr_app/services/postgres.py, fsync on,
PostgreSQL's defaults otherwise: synchronous_commit on).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.persistence.sqlite_store import SqliteStore, open_store
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.store.base import NewEvent
from mehr.contract import SensorKind

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
KITS = 20


def homes() -> list[HomeSpec]:
    """20 homes of one kit with one motion sensor each."""
    return [
        HomeSpec(
            id=f"home-{k}",
            kits=[
                KitSpec(
                    id=f"kit-{k}",
                    sensors=[SensorSpec(id="pir", kind=SensorKind.MOTION, room="Kitchen")],
                )
            ],
        )
        for k in range(KITS)
    ]


def events(n: int, epoch: int) -> list[NewEvent]:
    """n events spread over the kits, one second apart per kit."""
    out = []
    for i in range(n):
        k = i % KITS
        at = T0 + timedelta(seconds=i)
        out.append(
            NewEvent(
                f"home-{k}",
                f"kit-{k}",
                epoch,
                i // KITS + 1,
                "pir",
                "motion",
                True,
                "Kitchen",
                at,
                at,
            )
        )
    return out


def run(store: Any, batch: list[NewEvent], size: int, cpu: list[float]) -> float:
    """Store everything in batches of `size`; return events per wall-clock second, and append
    events per CPU second of this process to `cpu` (less moved by other processes on a shared
    machine; for SQLite it is the code path's own cost, fsync waits excluded)."""
    for spec in homes():
        store.register_home(spec, T0)
    start, start_cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(batch), size):
        store.store_events(batch[i : i + size], T0)
        store.commit()
    elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    cpu.append(len(batch) / elapsed_cpu)
    return len(batch) / elapsed


def load_baseline(path: Path) -> Any:
    """The SqliteStore class of an older copy of the store module."""
    spec = importlib.util.spec_from_file_location("baseline_store", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SqliteStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--postgres-url")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway server")
    args = parser.parse_args()
    if args.postgres:
        from mehr_app.services.postgres import running_postgres

        with running_postgres(fsync=True) as server:
            args.postgres_url = server.fresh_database()
            measure(args)
    else:
        measure(args)


def measure(args: argparse.Namespace) -> None:
    """Run the rounds the arguments ask for and print one JSON line."""
    baseline = load_baseline(args.baseline) if args.baseline else None
    rates: dict[str, list[float]] = {"store": [], "baseline": [], "postgresql": []}
    cpu: dict[str, list[float]] = {"store": [], "baseline": [], "postgresql": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            batch = events(args.events, epoch=r + 1)
            store = SqliteStore(Path(tmp) / f"new-{r}.db", args.synchronous)
            rates["store"].append(run(store, batch, args.batch, cpu["store"]))
            store.close()
            if baseline is not None:
                old = baseline(Path(tmp) / f"old-{r}.db", args.synchronous)
                rates["baseline"].append(run(old, batch, args.batch, cpu["baseline"]))
                old.close()
            if args.postgres_url:
                pg = open_store(args.postgres_url)
                pg.connection.execute("DELETE FROM sensor_state")
                pg.connection.execute("DELETE FROM events")
                rates["postgresql"].append(run(pg, batch, args.batch, cpu["postgresql"]))
                pg.close()
    result: dict[str, Any] = {
        "events": args.events,
        "batch": args.batch,
        "synchronous": args.synchronous,
        **{f"{k}_events_per_s": [round(x) for x in v] for k, v in rates.items() if v},
        **{f"{k}_median": round(statistics.median(v)) for k, v in rates.items() if v},
        **{f"{k}_cpu_median": round(statistics.median(v)) for k, v in cpu.items() if v},
    }
    if rates["baseline"]:
        result["store_over_baseline"] = round(
            statistics.median(rates["store"]) / statistics.median(rates["baseline"]), 3
        )
        result["store_over_baseline_cpu"] = round(
            statistics.median(cpu["store"]) / statistics.median(cpu["baseline"]), 3
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
