"""Benchmark the detectors: fall windows per second per core, and one inactivity scan.

Run: python bench/detectors.py [--windows 5000] [--homes 100000] [--repeat 7]
Prints medians of repeated runs (the machine is noisy), as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detectors import classify_windows, load_fall_params, scan_inactivity
from detectors.routine import N_BINS


def _median_s(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    """Run both benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=5000)
    parser.add_argument("--homes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    # Fall: 12 s windows at 50 Hz, upright with walking-like noise and one impact each.
    params = load_fall_params()
    windows = rng.normal(0.0, 0.3, (args.windows, 600, 3))
    windows[:, :, 1] -= 1.0
    windows[:, 225, :] += rng.uniform(1.0, 5.0, (args.windows, 3))
    classify_windows(windows[:10], 50.0, params)  # warm caches (filter design, imports)
    fall_s = _median_s(lambda: classify_windows(windows, 50.0, params), args.repeat)

    # Inactivity: H homes, 96 routine bins each, last activity within the last day.
    thr = rng.uniform(2700.0, 40_000.0, (args.homes, N_BINS))
    last = rng.uniform(0.0, 86_400.0, args.homes)
    bins = rng.integers(0, N_BINS, args.homes)
    away = rng.random(args.homes) < 0.1
    scan_inactivity(thr, last, bins, 86_400.0, away)
    scan_s = _median_s(
        lambda: scan_inactivity(thr, last, bins, 86_400.0, away), max(args.repeat, 21)
    )

    print(
        json.dumps(
            {
                "fall_windows": args.windows,
                "fall_window": "12 s at 50 Hz, 3 axes",
                "fall_windows_per_second_per_core": round(args.windows / fall_s),
                "fall_seconds_per_window": fall_s / args.windows,
                "inactivity_homes": args.homes,
                "inactivity_scan_ms": round(scan_s * 1000, 3),
                "repeats": args.repeat,
                "cpus": os.cpu_count(),
                "numpy": np.__version__,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
