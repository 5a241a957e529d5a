"""The web app as several stateless processes behind one proxy (issue 14).

Two `mehr web` processes — the operator's command — on one database: a session opened through
one works through the other, a sign-out through either ends it for both, a CSRF token issued by
one is accepted by the other, and wrong passwords sent to one count at the other. Whatever a
process must remember lives in the database, so the proxy may send any request anywhere.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from mehr.clock import ManualClock
from mehr_app.services.ports import free_port
from tests.dashboards.conftest import PASSWORD, START, World, build_world, form_csrf
from tests.hub.alerts.conftest import config_dict

pytestmark = pytest.mark.slow


def _start_web(
    tmp_path: Path, name: str, world: World, alerts: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "db_path": str(world.db_path),
                "alerts_config": str(alerts),
                "host": "127.0.0.1",
                "port": port,
                "secret_key": secrets.token_urlsafe(32),
                "alerts_secret": secrets.token_urlsafe(32),
                "cookie_secure": False,
                "argon2_time_cost": 1,
                "argon2_memory_kib": 8,
            }
        )
    )
    mehr = str(Path(sys.executable).with_name("mehr"))
    log = (tmp_path / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [mehr, "web", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MEHR_LANG": "en"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # waiting for a real process to listen
        if proc.poll() is not None:
            raise AssertionError((tmp_path / f"{name}.log").read_text())
        try:
            if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"{name} did not answer within 30 s")


@pytest.fixture(scope="module")
def two_webs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Started once for the module (a process takes seconds to start); the tests use
    different accounts, so they do not see each other's sessions or failures."""
    tmp_path = tmp_path_factory.mktemp("webs")
    world = build_world(tmp_path, ManualClock(START))
    alerts = tmp_path / "alerts.yaml"
    alerts.write_text(yaml.safe_dump(config_dict()))
    started = []
    try:
        for name in ("web-1", "web-2"):
            started.append(_start_web(tmp_path, name, world, alerts))
        yield started[0][1], started[1][1]
    finally:
        for proc, _ in started:
            proc.terminate()
            proc.wait(timeout=15)


def _login(client: httpx.Client, base: str, username: str, password: str) -> httpx.Response:
    page = client.get(f"{base}/login")
    return client.post(
        f"{base}/login",
        data={"username": username, "password": password, "csrf_token": form_csrf(page.text)},
    )


def test_a_session_and_its_csrf_token_work_through_either_process(
    two_webs: tuple[str, str],
) -> None:
    one, two = two_webs
    with httpx.Client(follow_redirects=False) as browser:
        assert _login(browser, one, "worker-a", PASSWORD).status_code == 303
        # The proxy sends the next request to the other process: still signed in.
        page = browser.get(f"{two}/worker")
        assert page.status_code == 200 and "Karimova Aziza" in page.text
        me = browser.get(f"{two}/api/v1/me")
        assert me.status_code == 200 and me.json()["username"] == "worker-a"
        # A form from one process posted to the other: the CSRF token is the session's.
        token = form_csrf(browser.get(f"{one}/worker").text)
        saved = browser.post(f"{two}/preferences", data={"csrf_token": token, "lang": "ru"})
        assert saved.status_code == 303, saved.text
        assert browser.get(f"{one}/api/v1/me").json()["lang"] == "ru"
        # Signed out through one: gone in both.
        token = form_csrf(browser.get(f"{two}/worker").text)
        assert browser.post(f"{two}/logout", data={"csrf_token": token}).status_code == 303
        for base in (one, two):
            assert browser.get(f"{base}/api/v1/me").status_code == 401


def test_wrong_passwords_sent_to_one_process_slow_down_the_other(
    two_webs: tuple[str, str],
) -> None:
    one, two = two_webs
    with httpx.Client(follow_redirects=False) as guesser:
        for _ in range(3):  # the free failures, all through the first process
            assert _login(guesser, one, "fam-a", "wrong-guess").status_code == 401
        # The fourth through the second process must wait: the count is shared.
        refused = _login(guesser, two, "fam-a", "wrong-guess")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
