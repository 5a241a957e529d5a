"""The dashboards inside `mehr demo`: a loopback server and one account per role.

The demo is the only place with default secrets: passwords and the key are generated per run
(marked demo-only, which WebSettings refuses outside demo mode) and printed once.
"""

from __future__ import annotations

import secrets
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from dashboards.accounts import Passwords, Role, create_user
from dashboards.app import create_app
from dashboards.db import Database
from dashboards.settings import DEMO_SECRET_PREFIX, WebSettings
from hub.stats import HubStats
from mehr.clock import Clock, SystemClock

__all__ = ["DemoWeb", "free_port", "start_demo_web"]

# (role, username, scope): homes for the family, mahallas for the others.
_ACCOUNTS: tuple[tuple[Role, str, dict[str, Any]], ...] = (
    (Role.FAMILY, "family", {"homes": ["home-2"]}),
    (Role.SOCIAL_WORKER, "worker", {"mahallas": ["Navbahor"]}),
    (Role.DUTY_OFFICER, "duty", {"mahallas": ["Navbahor", "Bog'ishamol"]}),
    (Role.SUPERVISOR, "supervisor", {"all_homes": True}),
    (Role.INSTALLER, "installer", {"mahallas": ["Navbahor", "Bog'ishamol"]}),
    (Role.ADMIN, "admin", {}),
)


@dataclass
class DemoWeb:
    """A running demo web app."""

    url: str
    accounts: list[dict[str, str]]
    server: uvicorn.Server
    thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        """Stop serving."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def free_port() -> int:
    """A free loopback port (the demo picks it first so the hub's links can point at it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_demo_web(
    db_path: Path,
    hub_stats: HubStats | None,
    clock: Clock | None = None,
    alerts_config: Path | None = None,
    port: int | None = None,
) -> DemoWeb:
    """Create the demo accounts and serve the app on a loopback port (free one by default).

    `alerts_config` should be the hub's (the demo's shortened delays), so acknowledging on a
    page starts the same ack timeout the hub's engine would; the signing key is the demo key
    on both sides, so the hub's links work here.
    """
    settings = WebSettings(
        db_path=db_path,
        demo=True,
        secret_key=DEMO_SECRET_PREFIX + secrets.token_urlsafe(24),
        cookie_secure=False,  # plain HTTP on loopback, demo only
        port=0,
        alerts_config=alerts_config,
    )
    database = Database(db_path)
    database.prepare()
    conn = database.connect()
    passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
    accounts = []
    try:
        for role, username, scope in _ACCOUNTS:
            password = "demo-" + secrets.token_urlsafe(9)
            create_user(
                conn,
                passwords,
                username=username,
                password=password,
                role=role,
                now=(clock or SystemClock()).now(),
                display_name=username.title(),
                **scope,
            )
            accounts.append({"role": role.value, "username": username, "password": password})
    finally:
        conn.close()
    app = create_app(settings, clock=clock, hub_stats=hub_stats)
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="mehr-web", daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(200):  # up to 10 s for uvicorn to bind
        if server.started:
            break
        started.wait(0.05)
    return DemoWeb(f"http://127.0.0.1:{port}", accounts, server, thread)
