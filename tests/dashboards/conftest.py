"""Fixtures for the dashboards: a database with two tenants, accounts of every role, clients."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from dashboards import WebSettings, create_app
from dashboards.accounts import Passwords, Role, create_user
from dashboards.db import Database
from hub.persistence.database import open_sqlite
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.store.base import NewAlert, NewEvent
from mehr.clock import ManualClock
from mehr.contract import SensorKind

PASSWORD = "correct-horse-battery"
CHROMIUM = "/usr/bin/chromium"
START = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)  # 14:30 in Tashkent


@dataclass
class World:
    """What the seeded database holds, for tests to refer to."""

    db_path: Path
    clock: ManualClock
    alert_a: int
    alert_b: int
    request_a: int
    request_b: int


def _home(home_id: str, kit_id: str, name: str, mahalla: str) -> HomeSpec:
    sensors = [
        SensorSpec(id="pir-kitchen", kind=SensorKind.MOTION, room="Kitchen"),
        SensorSpec(id="pir-bed", kind=SensorKind.MOTION, room="Bedroom"),
        SensorSpec(id="door", kind=SensorKind.DOOR, room="Hallway"),
        SensorSpec(id="help", kind=SensorKind.HELP_BUTTON, room="Bedroom"),
    ]
    return HomeSpec(
        id=home_id, name=name, mahalla=mahalla, kits=[KitSpec(id=kit_id, sensors=sensors)]
    )


def seed_activity(
    store: SqliteStore,
    home_id: str,
    kit_id: str,
    end: datetime,
    days: int,
    per_hour: int = 4,
    seq_start: int = 1,
) -> int:
    """Daytime motion (07:00-22:00 local) for `days` days before `end`; return the next seq."""
    seq = seq_start
    batch: list[NewEvent] = []
    start = end - timedelta(days=days)
    t = start
    rooms = (("pir-kitchen", "Kitchen"), ("pir-bed", "Bedroom"))
    while t < end:
        local_hour = (t.hour + 5) % 24
        if 7 <= local_hour < 22:
            for k in range(per_hour):
                sid, room = rooms[(t.hour + k) % 2]
                at = t + timedelta(minutes=k * (60 // per_hour))
                if at >= end:
                    break
                batch.append(NewEvent(home_id, kit_id, 1, seq, sid, "motion", True, room, at, at))
                seq += 1
        t += timedelta(hours=1)
        if len(batch) >= 5000:
            store.store_events(batch, end)
            store.commit()
            batch = []
    # The newest movement is in the kitchen, exactly at `end`.
    batch.append(
        NewEvent(home_id, kit_id, 1, seq, "pir-kitchen", "motion", True, "Kitchen", end, end)
    )
    seq += 1
    if batch:
        store.store_events(batch, end)
        store.commit()
    return seq


def build_world(tmp: Path, clock: ManualClock) -> World:
    """Two mahallas, one home each, with activity, a help alert each and a request each."""
    db_path = tmp / "mehr.db"
    store = SqliteStore(db_path)
    now = clock.now()
    store.register_home(_home("home-a", "kit-a", "Karimova Aziza", "Navbahor"), now)
    store.register_home(_home("home-b", "kit-b", "Bobur Xolmatov", "Bog'ishamol"), now)
    alerts = []
    for home, kit in (("home-a", "kit-a"), ("home-b", "kit-b")):
        seq = seed_activity(store, home, kit, now - timedelta(minutes=12), days=8)
        ids = store.store_events(
            [
                NewEvent(
                    home,
                    kit,
                    1,
                    seq,
                    "help",
                    "help_button",
                    "pressed",
                    "Bedroom",
                    now - timedelta(minutes=5),
                    now - timedelta(minutes=5),
                )
            ],
            now,
        )
        alert, _ = store.raise_alert(
            NewAlert(
                home,
                "help_button",
                "critical",
                now - timedelta(minutes=5),
                ids[0],
                {"room": "Bedroom"},
            )
        )
        alerts.append(alert.id)
        store.set_availability(kit, "online", now - timedelta(hours=1))
        store.set_heartbeat(
            kit,
            now - timedelta(seconds=30),
            {
                "outbox_depth": 2,
                "sensors": {"pir-kitchen": (now - timedelta(minutes=12)).isoformat()},
            },
        )
        store.commit()
    store.close()
    database = Database(db_path)
    database.prepare()
    conn = database.connect()
    pw = Passwords(1, 8)
    users = [
        ("fam-a", Role.FAMILY, ["home-a"], []),
        ("fam-b", Role.FAMILY, ["home-b"], []),
        ("worker-a", Role.SOCIAL_WORKER, [], ["Navbahor"]),
        ("worker-b", Role.SOCIAL_WORKER, [], ["Bog'ishamol"]),
        ("duty-a", Role.DUTY_OFFICER, [], ["Navbahor"]),
        ("super-a", Role.SUPERVISOR, [], ["Navbahor"]),
        ("installer-a", Role.INSTALLER, [], ["Navbahor"]),
        ("admin", Role.ADMIN, [], []),
    ]
    for name, role, homes, mahallas in users:
        create_user(
            conn,
            pw,
            username=name,
            password=PASSWORD,
            role=role,
            now=now,
            homes=homes,
            mahallas=mahallas,
            display_name=name.title(),
            lang="en",
        )
    req = []
    for home in ("home-a", "home-b"):
        cur = conn.exec_driver_sql(
            "INSERT INTO web_requests(home_id, kind, note, state, created_at, updated_at) "
            "VALUES (?, 'call', 'please call', 'open', ?, ?)",
            (home, now.timestamp(), now.timestamp()),
        )
        req.append(int(cur.lastrowid or 0))
    conn.close()
    return World(db_path, clock, alerts[0], alerts[1], req[0], req[1])


def settings_for(db_path: Path, **extra: object) -> WebSettings:
    """Fast, test-only settings (cheap argon2, short live streams, plain-HTTP cookies)."""
    values: dict[str, object] = {
        "db_path": db_path,
        "demo": True,
        "secret_key": "demo-only-test-secret",
        "cookie_secure": False,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "live_poll_s": 0.01,
        "live_max_s": 0.03,
    }
    values.update(extra)
    return WebSettings.model_validate(values)


@pytest.fixture
def world(tmp_path: Path) -> World:
    """A seeded database and its clock."""
    return build_world(tmp_path, ManualClock(START))


@pytest.fixture
def app(world: World) -> FastAPI:
    """The app over the seeded database."""
    return create_app(settings_for(world.db_path), clock=world.clock)


def csrf_of(client: TestClient, db_path: Path) -> str:
    """The CSRF token of the client's session (read where the server keeps it)."""
    token = client.cookies.get("mehr_session")
    assert token, "not logged in"
    digest = hashlib.sha256(token.encode()).hexdigest()
    db = open_sqlite(db_path)
    try:
        row = db.execute("SELECT csrf FROM web_sessions WHERE token_hash=?", (digest,)).fetchone()
    finally:
        db.close()
    return str(row["csrf"])


def form_csrf(html: str) -> str:
    """The csrf_token hidden field of a page."""
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf field"
    return m.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    """Log a client in through the form, as a browser would."""
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": form_csrf(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


@pytest.fixture
def clients(app: FastAPI) -> Iterator[dict[str, TestClient]]:
    """A logged-in client per seeded user (made on first use)."""
    made: dict[str, TestClient] = {}

    class Lazy(dict[str, TestClient]):
        def __missing__(self, name: str) -> TestClient:
            c = TestClient(app)
            c.__enter__()
            made[name] = login(c, name)
            self[name] = c
            return c

    yield Lazy()
    for c in made.values():
        c.__exit__(None, None, None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the whole session (here, not in a test module: Playwright's sync API
    allows one instance per process, and test_browser*.py all share it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()
