"""The capacity benchmark harness (bench/capacity.py) keeps working: a short run of 50 homes
through the real hub process, Mosquitto and the webhook prints sane figures, and every process
it started is gone afterwards, also when it is interrupted. Speed is not asserted here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mehr_app.services.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "bench" / "capacity.py"
HOMES = 50


def _short_run_args(workdir: Path, minutes: float) -> list[str]:
    # A 3 s scan interval puts several passes and the forced re-learn inside a short run.
    return [
        sys.executable, str(HARNESS), "--homes", str(HOMES), "--minutes", str(minutes),
        "--scan-interval-s", "3", "--press-every-s", "1", "--drain-s", "30", "--json",
        "--workdir", str(workdir),
    ]  # fmt: skip


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain `text` (the hub, Mosquitto)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(cmd)
    return found


def _processes_in_group(pgid: int) -> list[int]:
    """Processes still in a process group (the harness's fleet workers and webhook)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(proc.name))
    return found


def _wait_group_gone(pgid: int) -> None:
    # multiprocessing's resource tracker leaves a moment after the harness (it reads the end
    # of its pipe); a fleet worker or webhook left running would stay and fail this.
    wait_until(
        lambda: not _processes_in_group(pgid),
        timeout=15,
        what=f"processes of the harness to exit: {_processes_in_group(pgid)}",
    )


@pytest.mark.slow
def test_short_capacity_run_reports_every_figure_and_leaves_no_process(tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    proc = subprocess.Popen(
        [*_short_run_args(workdir, 0.5), "--warm-start", "--cold-cache"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    lines = out.strip().splitlines()
    assert len(lines) > 3, "progress lines come before the summary"
    summary = json.loads(lines[-1])

    assert summary["homes"] == HOMES
    assert summary["offered_per_s"] > 0
    assert summary["stored_per_s"] > 0
    assert summary["backlog_end"] >= 0
    assert summary["caught_up_after_s"] is not None, "50 homes must not leave a backlog"
    assert 0 < summary["stored_p50_ms"] <= summary["stored_p99_ms"]
    assert summary["stored_events"] > 0
    assert summary["help_presses"] >= 10
    assert summary["help_missed"] == 0, "every press must reach the webhook"
    assert 0 < summary["help_p50_ms"] <= summary["help_p99_ms"]
    assert "help_p99_during_relearn_ms" in summary
    if summary["help_during_relearn"]:
        assert summary["help_p99_during_relearn_ms"] > 0
    # The forced re-learn happened inside the run: one pass learned every home again.
    assert summary["relearn_finished"] is True
    assert any(learned == HOMES for _, _, learned in summary["scan_passes"])
    assert summary["scan_pass_s"] is not None and summary["scan_pass_s"] >= 0
    assert 0 < summary["hub_cpu_cores"] <= (os.cpu_count() or 1) + 0.5
    assert summary["rss_per_home_kb"] > 0
    assert summary["hub_alive"] is True
    assert summary["rejected"] == 0
    # What the routine writer waited for: every committed batch's fsync is timed.
    waits = summary["writer_waits"]
    assert set(waits) == {"lock", "commit", "wal_restart", "urgent_first", "gc"}
    assert waits["commit"]["count"] > 0 and waits["commit"]["total_s"] > 0
    assert summary["history_rows"] > HOMES * 15 * 50, "15 days of history per home"
    # --warm-start: the measured hub was a restart that went on from its scan's memory.
    assert summary["warm_start_first_pass_s"] is not None
    assert summary["scan_memory_loaded"] == 1
    # --cold-cache: the restarted hub found none of its database in the page cache.
    assert summary["cold_cache_evicted_mb"] is not None

    assert not _processes_mentioning(str(workdir))
    _wait_group_gone(proc.pid)
    assert not workdir.exists(), "the work directory is removed unless --keep"


@pytest.mark.slow
def test_interrupted_capacity_run_stops_everything_it_started(tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    proc = subprocess.Popen(
        _short_run_args(workdir, 5),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "fleet:" in line:
                break
        assert any("fleet:" in line for line in seen), "".join(seen)
        assert _processes_mentioning(str(workdir)), "the hub and broker run during the fleet"
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, "".join(seen) + rest
    assert not _processes_mentioning(str(workdir))
    _wait_group_gone(proc.pid)
