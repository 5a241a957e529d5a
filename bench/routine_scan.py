"""Routine-scan benchmark: the hub's once-a-minute check of every home, on a real SQLite file.

    .venv/bin/python bench/routine_scan.py [--homes 200] [--days 28] [--per-day 60]

Prints the time of the first scan (which learns every home's routine from its history) and the
median of steady scans (routines cached, re-learned every 6 h), per home and in all.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.routine_scan import RoutineScanner
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


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homes", type=int, default=200)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--per-day", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    start = datetime(2026, 10, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db", synchronous="NORMAL")
        populate(store, args.homes, args.days, args.per_day, start)
        clock = ManualClock(start + timedelta(days=args.days, hours=6))
        scanner = RoutineScanner(store, clock, HubStats())
        t0 = time.perf_counter()
        scanner.scan()
        first = time.perf_counter() - t0
        steady = []
        for _ in range(args.rounds):
            clock.advance(60)
            t0 = time.perf_counter()
            scanner.scan()
            steady.append(time.perf_counter() - t0)
        store.close()
    med = statistics.median(steady)
    print(
        json.dumps(
            {
                "homes": args.homes,
                "events_per_home": args.days * args.per_day,
                "first_scan_s": round(first, 3),
                "first_scan_ms_per_home": round(first / args.homes * 1000, 2),
                "steady_scan_s_median": round(med, 3),
                "steady_scan_ms_per_home": round(med / args.homes * 1000, 3),
                "homes_scanned_per_minute_in_half_a_core": int(30 / (med / args.homes)),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
