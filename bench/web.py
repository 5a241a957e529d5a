"""Benchmark: the family page and its API with a year of one home's data and 1,000 homes.

    .venv/bin/python bench/web.py [--homes 1000] [--days 365] [--requests 200] [--code DIR]

Serves the real app with uvicorn on a loopback port and times requests from httpx (one client,
sequential, like one phone); prints p50/p95/p99 in ms, the process's CPU per request (server
and client together: steadier than wall time on a shared machine) and the database size.
`--code DIR` serves the app from another checkout (e.g. `git worktree add /tmp/main main`), so
two commits compare side by side on the same machine.
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if "--code" in sys.argv:  # before the imports below: which checkout's app to serve
    sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--code") + 1]).resolve()))

import httpx
import uvicorn

from dashboards import create_app
from dashboards.accounts import Passwords, Role, create_user
from dashboards.db import Database
from dashboards.settings import EXAMPLE_ALERTS_CONFIG, WebSettings
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.store.base import NewAlert, NewEvent
from mehr.clock import ManualClock
from mehr.contract import SensorKind

ROOMS = (
    ("pir-kitchen", "Kitchen"),
    ("pir-bed", "Bedroom"),
    ("pir-hall", "Hallway"),
    ("pir-bath", "Bathroom"),
)


def seed(db_path: Path, homes: int, days: int, now: datetime) -> int:
    """1,000 homes with a kit each; home-0000 has `days` of motion (16 events an hour by day)."""
    store = SqliteStore(db_path, synchronous="NORMAL")
    sensors = [SensorSpec(id=s, kind=SensorKind.MOTION, room=r) for s, r in ROOMS]
    for i in range(homes):
        store.register_home(
            HomeSpec(
                id=f"home-{i:04d}",
                name=f"Resident {i}",
                mahalla=f"Mahalla {i % 40}",
                kits=[KitSpec(id=f"kit-{i:04d}", sensors=sensors)],
            ),
            now,
        )
    seq = 1
    batch: list[NewEvent] = []
    t = now - timedelta(days=days)
    while t < now:
        if 7 <= (t.hour + 5) % 24 < 23:
            for k in range(16):
                sid, room = ROOMS[(t.hour * 7 + k) % 4]
                at = t + timedelta(seconds=k * 225)
                batch.append(
                    NewEvent("home-0000", "kit-0000", 1, seq, sid, "motion", True, room, at, at)
                )
                seq += 1
        t += timedelta(hours=1)
        if len(batch) > 20000:
            store.store_events(batch, now)
            store.commit()
            batch = []
    store.store_events(batch, now)
    # A little for every other home: one event and a heartbeat, and alerts here and there.
    for i in range(1, homes):
        at = now - timedelta(minutes=i % 300)
        store.store_events(
            [
                NewEvent(
                    f"home-{i:04d}",
                    f"kit-{i:04d}",
                    1,
                    1,
                    "pir-kitchen",
                    "motion",
                    True,
                    "Kitchen",
                    at,
                    at,
                )
            ],
            now,
        )
        store.set_availability(f"kit-{i:04d}", "online", now)
        store.set_heartbeat(f"kit-{i:04d}", now, {"outbox_depth": 0, "sensors": {}})
        if i % 50 == 0:
            store.raise_alert(NewAlert(f"home-{i:04d}", "help_button", "critical", at, None))
    for d in range(0, days, 30):
        store.raise_alert(
            NewAlert("home-0000", "help_button", "critical", now - timedelta(days=d, hours=3), None)
        )
    store.set_availability("kit-0000", "online", now)
    store.set_heartbeat("kit-0000", now, {"outbox_depth": 1, "sensors": {}})
    store.commit()
    store.close()
    return seq - 1


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 1)


def main() -> int:
    """Seed, serve, measure, print JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--homes", type=int, default=1000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--code", type=Path, default=None, help="serve the app from this checkout")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mehr-bench-web-"))
    db_path = work / "mehr.db"
    now = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
    t0 = time.perf_counter()
    events = seed(db_path, args.homes, args.days, now)
    seed_s = time.perf_counter() - t0
    settings = WebSettings(
        db_path=db_path,
        secret_key=secrets.token_urlsafe(48),
        cookie_secure=False,
        alerts_config=EXAMPLE_ALERTS_CONFIG,
        alerts_secret=secrets.token_urlsafe(48),
    )
    database = Database(db_path)
    database.prepare()
    conn = database.connect()
    create_user(
        conn,
        Passwords(settings.argon2_time_cost, settings.argon2_memory_kib),
        username="family",
        password="bench-password-1",
        role=Role.FAMILY,
        now=now,
        homes=["home-0000"],
    )
    conn.close()
    app = create_app(settings, clock=ManualClock(now))
    port = _port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=base) as client:
        token = client.post(
            "/api/v1/login", json={"username": "family", "password": "bench-password-1"}
        ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        client.cookies.set("mehr_session", token)
        for name, path, hdrs in (
            ("family page", "/homes/home-0000", {}),
            ("family API", "/api/v1/homes/home-0000", headers),
        ):
            for _ in range(10):  # warm-up
                client.get(path, headers=hdrs)
            times = []
            cpu_start = time.process_time()
            for _ in range(args.requests):
                start = time.perf_counter()
                r = client.get(path, headers=hdrs)
                times.append((time.perf_counter() - start) * 1000)
                assert r.status_code == 200, r.status_code
            cpu_ms = (time.process_time() - cpu_start) * 1000 / args.requests
            results[name] = {
                "cpu_ms_per_request": round(cpu_ms, 1),
                "p50_ms": _pct(times, 0.5),
                "p95_ms": _pct(times, 0.95),
                "p99_ms": _pct(times, 0.99),
                "mean_ms": round(statistics.mean(times), 1),
            }
    server.should_exit = True
    print(
        json.dumps(
            {
                "homes": args.homes,
                "days_of_one_home": args.days,
                "events": events,
                "db_mb": round(db_path.stat().st_size / 1e6, 1),
                "seed_s": round(seed_s, 1),
                "requests_each": args.requests,
                "results": results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
