"""The routine scan's in-memory decision at district size: `ScanGate.feed` and `ScanGate.due`
(hub/scan_gate.py, what each hub scan pass runs before reading any home) over N homes.

    .venv/bin/python bench/scan_gate.py [--homes 100000] [--events-per-s 5000] [--rounds 7]

Every home gets a plan as a close look leaves it (a silence begun in the last hours with a
limit of 1-4 h, a lead of 45 min); then each round feeds one scan interval (60 s) of the
fleet's events (`--events-per-s`, random homes, rows as the events-table tail returns them)
and asks which homes are due; flagged homes get a fresh plan, as a close look leaves them.
Prints medians (ms) of feed and due, the homes flagged (a model's figure: it depends on the
plans drawn here), and
the gate's bytes per home (its arrays), as one JSON line. It does not include the tail query
itself or reading the flagged homes (bench/routine_scan.py and bench/capacity.py do).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
sys.path = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

from detectors import CheckPlan  # noqa: E402
from hub.persistence.activity_tail import TailRow  # noqa: E402
from hub.scan_gate import HomeLook, ScanGate  # noqa: E402

_PLACES = ("kitchen", "bathroom", "bedroom", "living", "other")


def run(homes: int, events_per_s: float, rounds: int, seed: int) -> dict[str, object]:
    """Build the gate, then time rounds of feed + due."""
    rng = random.Random(seed)
    gate = ScanGate(timedelta(hours=1))
    ids = [f"home-{i:06d}" for i in range(homes)]
    gate.sync_homes({h: ("Asia/Tashkent", "medium", False, ()) for h in ids})
    now = 1_800_000_000.0
    gate.tail_id = 0
    def look(h: str, since: float) -> HomeLook:
        return HomeLook(
            plan=CheckPlan(since, rng.uniform(3600, 4 * 3600), now + rng.uniform(0, 86_400)),
            lead_s=2700.0,
            lead_vacated_s=600.0,
            newest_seen_s=since,
            last_any_s=since,
            last_kitchen_s=since - 3600,
            kitchen_watch=True,
            kitchen_after_s=20 * 3600.0,
            utc_offset_s=5 * 3600.0,
            seen_id=next_id - 1,
            rule_speaks=False,
        )

    next_id = 1
    for h in ids:
        gate.looked(h, now, look(h, now - rng.uniform(0, 3 * 3600)))
    per_round = int(events_per_s * 60)
    feed_ms, due_ms, flagged = [], [], []
    for _ in range(rounds):
        rows = []
        for _k in range(per_round):
            rows.append(
                TailRow(next_id, ids[rng.randrange(homes)], now + rng.uniform(0, 60), "motion",
                        rng.choice(_PLACES))
            )  # fmt: skip
            next_id += 1
        now += 60
        t0 = time.perf_counter()
        gate.feed(rows, now)
        t1 = time.perf_counter()
        due = gate.due(now, recent_s=36 * 3600.0, relearn_budget=500)
        t2 = time.perf_counter()
        feed_ms.append((t1 - t0) * 1000)
        due_ms.append((t2 - t1) * 1000)
        flagged.append(len(due))
        for h in due:  # as the scan's close look leaves each flagged home
            gate.looked(h, now, look(h, now - rng.uniform(0, 60)))
    array_bytes = sum(
        getattr(gate, name).nbytes for name in vars(type(gate))["__annotations__"]
    )
    return {
        "homes": homes,
        "events_per_pass": per_round,
        "feed_ms_median": round(statistics.median(feed_ms), 1),
        "due_ms_median": round(statistics.median(due_ms), 1),
        "flagged_median": statistics.median(flagged),
        "array_bytes_per_home": round(array_bytes / homes, 1),
    }


def main() -> int:
    """Parse arguments, run, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homes", type=int, default=100_000)
    parser.add_argument("--events-per-s", type=float, default=5000.0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    print(json.dumps(run(a.homes, a.events_per_s, a.rounds, a.seed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
