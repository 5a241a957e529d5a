"""Sample what a running hub spends, from /proc, while a benchmark drives it: CPU and disk reads
per thread of each process, the machine's disk reads and writes, I/O wait and I/O pressure, and
the sizes of given files (the database and its WAL). One JSON line per sample, for reading a
long run.

    .venv/bin/python bench/proc_sampler.py --pid HUB_PID --pid SCAN_PID \\
        --file /path/hub.db-wal --every-s 10 --seconds 600 > samples.jsonl

Thread names are what the kernel knows (Python 3.11 does not pass its names to the kernel, so
the hub's threads show as the process's name); CPU is per thread id, largest first.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")
_SECTOR = 512


def _thread_cpu(pid: int) -> dict[str, float]:
    """Thread id -> CPU seconds (user + system) so far."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[task.name] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


def _thread_reads(pid: int) -> dict[str, int]:
    """Thread id -> bytes it has made the disk read so far (page cache misses)."""
    out: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            lines = (task / "io").read_text().splitlines()
        except OSError:
            continue
        fields = dict(line.split(": ", 1) for line in lines)
        out[task.name] = int(fields["read_bytes"])
    return out


def _io_pressure() -> float | None:
    """The share of the last 10 s in which every task was stalled on I/O (PSI "full")."""
    try:
        for line in Path("/proc/pressure/io").read_text().splitlines():
            if line.startswith("full"):
                return float(line.split()[1].split("=")[1]) / 100
    except OSError:
        pass
    return None


def _disk() -> tuple[int, int, int]:
    """Sectors read and written over every real disk (no partitions, loop or zram devices),
    and ms spent doing I/O."""
    read = written = busy = 0
    for line in Path("/proc/diskstats").read_text().splitlines():
        parts = line.split()
        name = parts[2]
        if not Path(f"/sys/block/{name}/device").exists():
            continue
        read += int(parts[5])
        written += int(parts[9])
        busy += int(parts[12])
    return read, written, busy


def _iowait() -> tuple[float, float]:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [float(v) for v in fields]
    return values[4], sum(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pid", type=int, action="append", default=[])
    parser.add_argument("--file", type=Path, action="append", default=[])
    parser.add_argument("--every-s", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=600.0)
    args = parser.parse_args()
    before = {pid: _thread_cpu(pid) for pid in args.pid}
    reads_before = {pid: _thread_reads(pid) for pid in args.pid}
    disk_before, wait_before, at_before = _disk(), _iowait(), time.monotonic()
    end = at_before + args.seconds
    while time.monotonic() < end:
        time.sleep(args.every_s)  # sampling on the wall clock is the point
        now = time.monotonic()
        span = now - at_before
        sample: dict[str, Any] = {"t": round(time.time(), 1)}
        for pid in args.pid:
            try:
                cpu = _thread_cpu(pid)
            except OSError:
                continue
            busy = {
                tid: round((cpu[tid] - before[pid].get(tid, 0.0)) / span, 3)
                for tid in cpu
                if cpu[tid] - before[pid].get(tid, 0.0) > 0
            }
            sample[f"pid {pid} threads (cores)"] = dict(
                sorted(busy.items(), key=lambda kv: -kv[1])[:8]
            )
            before[pid] = cpu
            reads = _thread_reads(pid)
            read_mb_s = {
                tid: round((reads[tid] - reads_before[pid].get(tid, 0)) / span / 1e6, 2)
                for tid in reads
                if reads[tid] > reads_before[pid].get(tid, 0)
            }
            sample[f"pid {pid} thread reads (MB/s)"] = dict(
                sorted(read_mb_s.items(), key=lambda kv: -kv[1])[:8]
            )
            reads_before[pid] = reads
        disk = _disk()
        sample["disk_read_mb_s"] = round((disk[0] - disk_before[0]) * _SECTOR / span / 1e6, 1)
        sample["disk_write_mb_s"] = round((disk[1] - disk_before[1]) * _SECTOR / span / 1e6, 1)
        sample["disk_busy"] = round((disk[2] - disk_before[2]) / 1000 / span, 2)
        wait = _iowait()
        sample["iowait"] = round((wait[0] - wait_before[0]) / max(1.0, wait[1] - wait_before[1]), 3)
        sample["io_pressure_full_10s"] = _io_pressure()
        sample["files_mb"] = {
            str(f): round(f.stat().st_size / 1e6, 1) if f.exists() else None for f in args.file
        }
        disk_before, wait_before, at_before = disk, wait, now
        print(json.dumps(sample), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
