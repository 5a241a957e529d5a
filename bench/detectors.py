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
from detectors.inactivity import scan_silences
from detectors.pooling import SilenceStats, pooled_limits
from detectors.routine import N_BINS, N_CHANNELS, default_prior


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

    # Inactivity: H homes, limits per channel (room, or room's mat) x hour, as the hub keeps them.
    thr = rng.uniform(2700.0, 40_000.0, (args.homes, N_CHANNELS, N_BINS))
    last = rng.uniform(0.0, 86_400.0, args.homes)
    bins = rng.integers(0, N_BINS, args.homes)
    chan = rng.integers(0, N_CHANNELS, args.homes)
    away = rng.random(args.homes) < 0.1
    scan_inactivity(thr, last, bins, 86_400.0, away, channel=chan)
    scan_s = _median_s(
        lambda: scan_inactivity(thr, last, bins, 86_400.0, away, channel=chan),
        max(args.repeat, 21),
    )

    # The same verdict when each home's limit was looked up as its state last changed (an event):
    # the per-minute scan is then one comparison per home.
    limits = thr[np.arange(args.homes), chan, bins]
    silences_s = _median_s(lambda: scan_silences(limits, last, 86_400.0), max(args.repeat, 21))

    # Pooled limits (the learning step after each home's counts), over many homes at once.
    pool_homes = min(args.homes, 10_000)
    shape = (pool_homes, N_CHANNELS, N_BINS)
    stats = SilenceStats(
        rng.poisson(3.0, shape).astype(np.float64),
        rng.uniform(0.0, 20_000.0, shape),
        np.full(pool_homes, 28.0),
        np.ones((pool_homes, N_CHANNELS), dtype=bool),
    )
    budgets = np.array([0.01, 0.2])
    prior = default_prior()
    pool_s = _median_s(lambda: pooled_limits(stats, prior, budgets), args.repeat)

    print(
        json.dumps(
            {
                "fall_windows": args.windows,
                "fall_window": "12 s at 50 Hz, 3 axes",
                "fall_windows_per_second_per_core": round(args.windows / fall_s),
                "fall_seconds_per_window": fall_s / args.windows,
                "inactivity_homes": args.homes,
                "inactivity_scan_ms": round(scan_s * 1000, 3),
                "scan_silences_ms": round(silences_s * 1000, 3),
                "pooled_limits_homes": pool_homes,
                "pooled_limits_ms": round(pool_s * 1000, 1),
                "repeats": args.repeat,
                "cpus": os.cpu_count(),
                "numpy": np.__version__,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
