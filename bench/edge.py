"""Benchmark of the edge agent: RSS and CPU (8 sensors, idle and 10 events/s), outbox rates.

Runs the real agent as a child process on gpiozero's MockFactory against a real Mosquitto, and
reads the child's CPU time and RSS from /proc. Prints medians of several runs.

    .venv/bin/python bench/edge.py [--runs 3] [--seconds 20] [--events 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

EIGHT = [
    {"id": "kitchen-motion", "kind": "motion", "pin": 17, "room": "kitchen"},
    {"id": "living-motion", "kind": "motion", "pin": 27, "room": "living room"},
    {"id": "bedroom-motion", "kind": "motion", "pin": 22, "room": "bedroom"},
    {"id": "front-door", "kind": "door", "pin": 6, "room": "hall", "bounce_s": 0},
    {"id": "yard-door", "kind": "door", "pin": 13, "room": "kitchen", "bounce_s": 0},
    {"id": "help-bed", "kind": "help_button", "pin": 19, "room": "bedroom", "bounce_s": 0},
    {"id": "help-bath", "kind": "help_button", "pin": 26, "room": "bathroom", "bounce_s": 0},
    {"id": "bath-fall", "kind": "fall", "pin": 16, "room": "bathroom", "bounce_s": 0},
]
TICK = os.sysconf("SC_CLK_TCK")


def child(kit_yaml: str, rate: float) -> None:
    """The measured process: the agent on mock pins, doors toggled at `rate` per second."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from edge.agent import EdgeAgent
    from edge.config import load_kit_config

    factory = MockFactory()
    Device.pin_factory = factory
    agent = EdgeAgent(load_kit_config(Path(kit_yaml)), pin_factory=factory)
    agent.start()
    print("ready", flush=True)
    if rate <= 0:
        threading.Event().wait()
    doors = [factory.pin(6), factory.pin(13)]
    state = False
    n = 0
    start = time.monotonic()
    while True:
        state = not state
        pin = doors[n % 2]
        pin.drive_low() if state else pin.drive_high()
        n += 1
        time.sleep(max(0.0, start + n / rate - time.monotonic()))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _kit(directory: Path, url: str, password: str, name: str) -> Path:
    import yaml

    (directory / "kit.password").write_text(password)
    data = {
        "home_id": "bench-home",
        "kit_id": "bench-kit",
        "broker": {"url": url, "password_file": "kit.password", "insecure_plain_tcp": True},
        "outbox": {"path": f"{name}-outbox.db"},
        "sensors": EIGHT,
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def measure(kit_yaml: Path, rate: float, seconds: float) -> tuple[float, float]:
    """Run one child; return (CPU % of one core, RSS MB) over `seconds` after a warm-up."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(kit_yaml), str(rate)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # "ready"
        time.sleep(3)  # warm-up: connection, first heartbeat, imports settled
        cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = _cpu_seconds(proc.pid), time.monotonic()
        return 100 * (cpu1 - cpu0) / (t1 - t0), _rss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def outbox_rates(kit_yaml: Path, events: int) -> tuple[float, float]:
    """Durable appends per second, and events per second written, published and acknowledged."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from edge.agent import EdgeAgent
    from edge.config import load_kit_config

    factory = MockFactory()
    Device.pin_factory = factory
    agent = EdgeAgent(load_kit_config(kit_yaml), pin_factory=factory)
    agent.start()
    try:
        assert agent.link is not None and agent.outbox is not None
        while not agent.link.connected.wait(0.1):
            pass
        sensor = agent.config.sensors[3]  # a door
        # Writes only (broker link idle): what the SD card allows with one fsync per event.
        agent.link.connected.clear()
        t0 = time.perf_counter()
        for i in range(events):
            agent.record(sensor, "open" if i % 2 else "closed")
        write_rate = events / (time.perf_counter() - t0)
        agent.link.connected.set()
        agent.link.wake()
        while agent.outbox.depth:
            time.sleep(0.005)
        # Write and publish together: each event on disk, sent, and deleted after its PUBACK.
        t0 = time.perf_counter()
        for i in range(events):
            agent.record(sensor, "open" if i % 2 else "closed")
        while agent.outbox.depth:
            time.sleep(0.002)
        both_rate = events / (time.perf_counter() - t0)
        return write_rate, both_rate
    finally:
        agent.stop()
        Device.pin_factory = None


def main() -> None:
    """Run the benchmark and print medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--child", nargs=2, metavar=("KIT_YAML", "RATE"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], float(args.child[1]))
        return

    import secrets

    from hub.broker_auth import BrokerUser, kit_acl_rules
    from mehr_app.services.mosquitto import Mosquitto

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        password = secrets.token_urlsafe(16)
        broker = Mosquitto(
            work / "mosquitto",
            [BrokerUser("bench-kit", password, kit_acl_rules("bench-home", "bench-kit"))],
        )
        broker.start()
        try:
            print(f"edge agent benchmark: {args.runs} runs x {args.seconds:.0f} s, "
                  f"8 sensors (3 PIR, 2 doors, 2 help buttons, 1 fall) on MockFactory")
            for label, rate in (("idle", 0.0), ("10 events/s", 10.0)):
                cpus, rsss = [], []
                for run in range(args.runs):
                    kit = _kit(work, broker.url, password, f"{label[:4]}-{run}")
                    cpu, rss = measure(kit, rate, args.seconds)
                    cpus.append(cpu)
                    rsss.append(rss)
                print(f"  {label:<12} CPU {statistics.median(cpus):5.2f} % of one core   "
                      f"RSS {statistics.median(rsss):5.1f} MB   (runs: "
                      + ", ".join(f"{c:.2f}%/{r:.1f}MB" for c, r in zip(cpus, rsss, strict=True))
                      + ")")
            writes, boths = [], []
            for run in range(args.runs):
                w, b = outbox_rates(_kit(work, broker.url, password, f"rate-{run}"), args.events)
                writes.append(w)
                boths.append(b)
            print(f"  outbox durable writes (synchronous=FULL): "
                  f"{statistics.median(writes):7.0f} events/s")
            print(f"  outbox write + publish + PUBACK + delete: "
                  f"{statistics.median(boths):7.0f} events/s")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
