"""Routine-scan benchmark: the hub's once-a-minute check of every home, on a real SQLite file.

    .venv/bin/python bench/routine_scan.py [--homes 200] [--days 28] [--per-day 60]

Prints, for the per-home scan (`ScanSettings(gated=False)`: every home's events read every
pass) and the hub's gated scan (hub/scan_gate.py: one vectorised decision, only flagged homes
read), side by side on copies of one database: the first scan (which learns every home's
routine from its history) and the median of steady scans one virtual minute apart, with a
minute of every home's events stored before each (routines cached, re-learned every 6 h).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.routine_scan import RoutineScanner, ScanSettings
from hub.stats import HubStats
from hub.store.base import NewEvent
from mehr.clock import ManualClock
from mehr.contract import SensorKind

ROOMS = (
    ("pir-kitchen", "Kitchen"),
    ("pir-bath", "Bathroom"),
    ("pir-bed", "Bedroom"),
    ("pir-living", "Living room"),
)


def populate(store: SqliteStore, homes: int, days: int, per_day: int, start: datetime) -> None:
    """Register homes and write `per_day` motion events a day between 07:00 and 22:00 local."""
    rng = random.Random(7)
    for h in range(homes):
        sensors = [SensorSpec(id=s, kind=SensorKind.MOTION, room=r) for s, r in ROOMS]
        store.register_home(
            HomeSpec(id=f"home-{h}", kits=[KitSpec(id=f"kit-{h}", sensors=sensors)]), start
        )
        batch = []
        seq = 0
        for day in range(days):
            day_start = start + timedelta(days=day, hours=2)  # 07:00 in Tashkent
            for offset in sorted(rng.uniform(0, 15 * 3600) for _ in range(per_day)):
                seq += 1
                sensor, room = rng.choice(ROOMS)
                at = day_start + timedelta(seconds=offset)
                batch.append(
                    NewEvent(f"home-{h}", f"kit-{h}", 1, seq, sensor, "motion", True, room, at, at)
                )
        store.store_events(batch, start)
        store.commit()


def _minute_of_events(
    store: SqliteStore, homes: int, per_home: int, at: datetime, seq0: int, rng: random.Random
) -> int:
    """Store `per_home` motion events of every home in the minute before `at` (the fleet's
    rate: one movement per 20 s), as ingest would between two passes; return the next seq."""
    seq = seq0
    batch = []
    for h in range(homes):
        for k in range(per_home):
            seq += 1
            sensor, room = rng.choice(ROOMS)
            when = at - timedelta(seconds=60 - 60 * (k + 0.5) / per_home)
            batch.append(
                NewEvent(f"home-{h}", f"kit-{h}", 2, seq, sensor, "motion", True, room, when, when)
            )
    store.store_events(batch, at)
    store.commit()
    return seq


def _run(db: Path, args: argparse.Namespace, start: datetime, gated: bool) -> dict[str, float]:
    store = SqliteStore(db, synchronous="NORMAL")
    clock = ManualClock(start + timedelta(days=args.days, hours=6))
    stats = HubStats()
    scanner = RoutineScanner(store, clock, stats, settings=ScanSettings(gated=gated))
    t0 = time.perf_counter()
    scanner.scan()
    first = time.perf_counter() - t0
    steady = []
    rng = random.Random(11)
    seq = 0
    for _ in range(args.rounds):
        clock.advance(60)
        seq = _minute_of_events(store, args.homes, args.new_per_minute, clock.now(), seq, rng)
        t0 = time.perf_counter()
        scanner.scan()
        steady.append(time.perf_counter() - t0)
    store.close()
    med = statistics.median(steady)
    return {
        "first_scan_s": round(first, 3),
        "steady_scan_s_median": round(med, 4),
        "steady_scan_ms_per_home": round(med / args.homes * 1000, 4),
        "homes_read_per_steady_pass": (stats.get("scan_homes_read") - args.homes) / args.rounds
        if gated
        else args.homes,
    }


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homes", type=int, default=200)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--per-day", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--new-per-minute", type=int, default=3, help="events per home stored between passes"
    )
    args = parser.parse_args()
    start = datetime(2026, 10, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.db"
        store = SqliteStore(base, synchronous="NORMAL")
        populate(store, args.homes, args.days, args.per_day, start)
        store.close()
        results = {}
        for name, gated in (("per_home", False), ("gated", True)):
            db = Path(tmp) / f"{name}.db"
            shutil.copyfile(base, db)
            results[name] = _run(db, args, start, gated)
    ratio = results["per_home"]["steady_scan_s_median"] / max(
        results["gated"]["steady_scan_s_median"], 1e-9
    )
    print(
        json.dumps(
            {
                "homes": args.homes,
                "events_per_home": args.days * args.per_day,
                "new_events_per_home_per_pass": args.new_per_minute,
                **results,
                "steady_per_home_over_gated": round(ratio, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
