"""Fleet benchmark: 10,000 homes at 60x real time from one process, through a real Mosquitto.

Usage: python bench/fleet.py [--homes 10000] [--speed 60] [--seconds 60] [--connections 4]

Starts a throwaway Mosquitto (mehr.scenario_runner.local_broker), plays the fleet for the given
wall time at 08:00 local (everyone awake: the busiest hours), and prints one JSON object: events
and messages per second published, how many the broker acknowledged, the speed achieved and the
worst lag behind the schedule (in virtual seconds). The fleet keeps up when speed_achieved is
the target and the lag stays within a slice.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

# Run as a script, bench/ is first on sys.path and bench/detectors.py would shadow the package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from mehr.scenario_runner import local_broker  # noqa: E402 - after the sys.path fix above
from simulators.fleet import Fleet  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homes", type=int, default=10_000)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--heartbeat-s", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, local_broker(Path(tmp)) as broker:
        fleet = Fleet(
            args.homes,
            broker.host,
            broker.port,
            connections=args.connections,
            mqtt_v5=broker.v5,
            heartbeat_s=args.heartbeat_s,
        )
        fleet.connect()
        cpu0 = os.times()
        result = fleet.run(args.seconds, args.speed)
        cpu1 = os.times()
        fleet.close()
        out = result.to_dict()
        out["acked_by_broker"] = fleet.acked
        out["driver_cpu_s"] = round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 1)
        out["cores"] = os.cpu_count()
        print(json.dumps(out))


if __name__ == "__main__":
    main()
