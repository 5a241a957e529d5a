"""What the capacity benchmark observes from outside the hub: notifications at a loopback
webhook, committed events in the hub's database, the hub's /stats and its /proc figures.

Nothing here runs inside the hub: each probe reads what an operator could read.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import sqlite3
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = [
    "DbLatencyProbe",
    "ProcSample",
    "StatsProbe",
    "WebhookSink",
    "proc_sample",
]

_LOGGER = logging.getLogger(__name__)
_CLOCK_TICK = os.sysconf("SC_CLK_TCK")


# -- the notification sink ----------------------------------------------------------------------


def _serve_webhook(port_out: Any, inbox: Any) -> None:
    """Child process: accept apprise json:// POSTs and pass (arrival time, body) on."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            # Timestamped first: the time of arrival is the figure being measured.
            at = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            inbox.put((at, body.decode("utf-8", "replace")))

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_out.put(server.server_address[1])
    server.serve_forever()


class WebhookSink:
    """A loopback HTTP server in its own process (so the benchmark's own work cannot delay a
    timestamp) that records when each notification arrived."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._inbox = ctx.Queue()
        port_out = ctx.Queue()
        self._proc = ctx.Process(
            target=_serve_webhook, args=(port_out, self._inbox), daemon=True, name="bench-webhook"
        )
        self._proc.start()
        self.port: int = port_out.get(timeout=30)
        self.received: list[tuple[float, str]] = []

    @property
    def url(self) -> str:
        """The apprise URL that posts JSON here."""
        return f"json://127.0.0.1:{self.port}/notify"

    def collect(self) -> list[tuple[float, str]]:
        """Move what arrived so far into `received` and return it."""
        while True:
            try:
                self.received.append(self._inbox.get_nowait())
            except Exception:  # queue.Empty, or the child gone: nothing more to read
                return self.received

    def stop(self) -> None:
        """Stop the server process."""
        self.collect()
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(timeout=10)


# -- the hub process --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcSample:
    """CPU seconds used and memory held by a process at one moment."""

    at: float
    cpu_s: float
    rss_kb: int
    peak_rss_kb: int


def _descendants(pid: int) -> list[int]:
    """The process and every process it started (the hub's scan process), depth first."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:
            continue  # the thread ended while we looked
        for child in children:
            found += _descendants(int(child))
    return found


def _one_proc(pid: int) -> tuple[float, int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _CLOCK_TICK
    rss = peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1])
    return cpu, rss, peak


def proc_sample(pid: int) -> ProcSample:
    """Read /proc/<pid>/stat and /proc/<pid>/status (Linux) of the hub and of the processes it
    started (its scan process): CPU and RSS summed (pages they share count twice), peak RSS
    the sum of each one's peak."""
    cpu = 0.0
    rss = peak = 0
    for one in _descendants(pid):
        try:
            c, r, p = _one_proc(one)
        except OSError:
            if one == pid:
                raise
            continue  # a child that ended while we looked
        cpu, rss, peak = cpu + c, rss + r, peak + p
    return ProcSample(time.time(), cpu, rss, peak)


@dataclass
class StatsProbe:
    """Polls the hub's /stats (and its /proc figures) in a thread, keeping every sample."""

    url: str
    pid: int
    # Each /stats answer sorts the hub's last 100,000 latencies: once a second keeps that cost
    # to about 1 % of a core, and still times a scan pass to a second.
    every_s: float = 1.0
    samples: list[tuple[float, dict[str, Any], ProcSample]] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def fetch(self) -> dict[str, Any]:
        """One /stats body."""
        with urllib.request.urlopen(self.url, timeout=10) as response:
            body: dict[str, Any] = json.load(response)
        return body

    def sample(self) -> tuple[float, dict[str, Any], ProcSample] | None:
        """Take one sample now (None if the hub did not answer)."""
        try:
            at = time.time()
            body = self.fetch()
            sample = (at, body, proc_sample(self.pid))
        except (OSError, ValueError):
            self.errors += 1
            return None
        self.samples.append(sample)
        return sample

    def start(self) -> None:
        """Start polling."""
        self._thread = threading.Thread(target=self._run, name="bench-stats", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def pass_ends(self) -> list[float]:
        """Times at which the `scans` counter was seen to grow (a scan pass had ended)."""
        ends = []
        last = None
        for at, body, _ in self.samples:
            scans = body.get("scans", 0)
            if last is not None and scans > last:
                ends.append(at)
            last = scans
        return ends


@dataclass
class DbLatencyProbe:
    """Reads newly committed events from the hub's database (read-only, short transactions)
    and keeps, per event, stored_at minus the event's own time stamp.

    `db_path` is the SQLite file, or a postgresql:// URL. On PostgreSQL several hubs insert at
    once and ids come from a sequence, so a row with a smaller id can commit after a larger
    one was read: each poll reads again from `pg_reread_ids` below the highest id seen and
    skips the ids it has already counted.
    """

    db_path: Path | str
    after_id: int
    every_s: float = 1.0
    latencies_s: list[float] = field(default_factory=list)
    stored_at: list[float] = field(default_factory=list)
    help_stored: dict[tuple[str, int], float] = field(default_factory=dict)
    pg_reread_ids: int = 5000
    _seen: set[int] = field(default_factory=set)
    _start_id: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._start_id = self.after_id  # rows up to here were there before the run

    def start(self) -> None:
        """Start polling."""
        self._thread = threading.Thread(target=self._run, name="bench-db", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if isinstance(self.db_path, str):
            self._run_postgres(self.db_path)
            return
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            while not self._stop.wait(self.every_s):
                self.poll(db)
            self.poll(db)
        finally:
            db.close()

    def _run_postgres(self, url: str) -> None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as db:
            while not self._stop.wait(self.every_s):
                self.poll_postgres(db)
            self.poll_postgres(db)

    def poll(self, db: sqlite3.Connection) -> None:
        """Read what was committed since the last poll."""
        while True:
            rows = db.execute(
                "SELECT id, occurred_at, stored_at, kind, kit_id, seq FROM events WHERE id>? "
                "ORDER BY id LIMIT 50000",
                (self.after_id,),
            ).fetchall()
            if not rows:
                return
            self.after_id = rows[-1][0]
            for _, occurred, stored, kind, kit, seq in rows:
                self._count(occurred, stored, kind, kit, seq)

    def poll_postgres(self, db: Any) -> None:
        """Read what was committed since the last poll, late commits of smaller ids included."""
        floor = self.after_id - self.pg_reread_ids
        rows = db.execute(
            "SELECT id, occurred_at, stored_at, kind, kit_id, seq FROM events WHERE id > %s "
            "ORDER BY id",
            (floor,),
        ).fetchall()
        for event_id, occurred, stored, kind, kit, seq in rows:
            if event_id in self._seen or event_id <= self._start_id:
                continue
            self._seen.add(event_id)
            self.after_id = max(self.after_id, event_id)
            self._count(occurred, stored, kind, kit, seq)
        low = self.after_id - self.pg_reread_ids
        self._seen = {i for i in self._seen if i > low}

    def _count(self, occurred: float, stored: float, kind: str, kit: str, seq: int) -> None:
        self.latencies_s.append(stored - occurred)
        self.stored_at.append(stored)
        if kind == "help_button":
            self.help_stored[(kit, seq)] = stored

    def stop(self) -> None:
        """Stop polling after one last read."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
