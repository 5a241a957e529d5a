"""Fleet benchmark: 10,000 homes at 60x real time through a real Mosquitto, from one command.

Usage: python bench/fleet.py [--homes 10000] [--speed 60] [--seconds 60] [--workers 2]
       [--connections 1] [--transport raw|paho] [--heartbeat-s 60] [--runs 3]

Starts a throwaway Mosquitto (mehr_app.scenario_runner.local_broker), plays the fleet for the given
wall time at 08:00 local (everyone awake: the busiest hours) split over `--workers` processes,
and prints one JSON object per run and the medians: events and messages per second published,
how many the broker acknowledged (PUBACK) and how fast, the speed achieved up to the last
PUBACK, and the worst lag behind the schedule (in virtual seconds). The fleet sustains the
target when every message is acknowledged and the speed achieved is within 2 % of it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, bench/ is first on sys.path and bench/detectors.py would shadow the package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from mehr_app.scenario_runner import local_broker  # noqa: E402 - after the sys.path fix above
from simulators.fleet import run_fleet  # noqa: E402

_MEDIANS = (
    "speed_achieved", "events_per_s", "messages_per_s", "acked_per_s", "max_lag_virtual_s",
    "drain_s", "workers_cpu_s", "broker_cpu_s",
)  # fmt: skip


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _broker_pid(port: int) -> int | None:
    """The Mosquitto listening on `port` (found by its config file's listener line)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"mosquitto") and len(cmd) > 2:
            try:
                if f"listener {port} " in Path(cmd[2].decode()).read_text():
                    return int(proc.name)
            except OSError:
                continue
    return None


def main() -> None:
    """Run the benchmark and print JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homes", type=int, default=10_000)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=1, help="per worker")
    parser.add_argument("--transport", choices=["raw", "paho"], default="raw")
    parser.add_argument("--heartbeat-s", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp, local_broker(Path(tmp)) as broker:
            pid = _broker_pid(broker.port)
            broker_cpu0 = _cpu_of(pid) if pid else 0.0
            wall0 = time.monotonic()
            result = run_fleet(
                args.homes,
                broker.host,
                broker.port,
                workers=args.workers,
                connections=args.connections,
                speed=args.speed,
                wall_seconds=args.seconds,
                mqtt_v5=broker.v5,
                heartbeat_s=args.heartbeat_s,
                transport=args.transport,
            )
            out = result.to_dict()
            out["broker_cpu_s"] = round(_cpu_of(pid) - broker_cpu0, 1) if pid else None
            out["elapsed_s"] = round(time.monotonic() - wall0, 1)
            out["heartbeat_s"] = args.heartbeat_s
            out["cores"] = os.cpu_count()
            print(json.dumps(out), flush=True)
            runs.append(out)
    if len(runs) > 1:
        medians = {
            k: statistics.median(r[k] for r in runs) for k in _MEDIANS if runs[0][k] is not None
        }
        medians["sustained_runs"] = sum(bool(r["sustained"]) for r in runs)
        print(json.dumps({"median_of": len(runs), **medians}))


if __name__ == "__main__":
    main()
