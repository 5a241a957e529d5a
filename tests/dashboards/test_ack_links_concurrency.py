"""Acknowledge links through the real app on a real socket: many at once, and failures that
must not use the link up (issue #10, finding 3)."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from dashboards import WebSettings, create_app
from tests.dashboards.served import serve
from tests.hub.alerts.conftest import SECRET, Rig, config_dict, home, make_rig

WEB_SECRET = "Kq3v9ZrX1pLmT8wYc2NbF6hJd4sGa7Ue"
LINKS = 50


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The engine over LINKS homes in Navbahor, one help alert each, sent to sw-day."""
    homes = [home(f"home-{i}", f"kit-{i}") for i in range(LINKS)]
    r = make_rig(tmp_path, homes=homes)
    yield r
    r.conn.close()


def _settings(rig: Rig, tmp_path: Path, **extra: object) -> WebSettings:
    alerts_yaml = tmp_path / "alerts.yaml"
    alerts_yaml.write_text(yaml.safe_dump(config_dict()))
    return WebSettings.model_validate(
        {
            "db_path": rig.db_path,
            "secret_key": WEB_SECRET,
            "cookie_secure": False,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 8,
            "alerts_config": alerts_yaml,
            "alerts_secret": SECRET.decode(),
            **extra,
        }
    )


def _links(rig: Rig, count: int) -> list[str]:
    """Raise `count` help alerts in different homes; return the links sw-day got for them."""
    for i in range(count):
        rig.raise_alert(f"home-{i}", "help_button")
    rig.at(1)
    links = [
        match.group(1)
        for url, _, body in rig.channel.sent
        if "sw-day@" in url and (match := re.search(r"https://mehr\.test(/ack/[\w-]+)", body))
    ]
    assert len(links) == count
    return links


def test_fifty_links_tapped_at_once_all_acknowledge(rig: Rig, tmp_path: Path) -> None:
    """50 workers' links POSTed at the same moment on a real uvicorn: 50 acknowledgements, no
    error page, and each link then answers 'already used'."""
    links = _links(rig, LINKS)
    app = create_app(_settings(rig, tmp_path), clock=rig.clock)
    start = threading.Barrier(LINKS)
    with serve(app) as base, httpx.Client(base_url=base, timeout=60) as client:

        def tap(link: str) -> int:
            start.wait()
            return client.post(link, data={"comment": "on my way"}).status_code

        with ThreadPoolExecutor(LINKS) as pool:
            codes = list(pool.map(tap, links))
        assert codes == [200] * LINKS
        states = rig.conn.execute(
            "SELECT state, acknowledged_by, COUNT(*) FROM alerts GROUP BY 1, 2"
        ).fetchall()
        assert [tuple(r) for r in states] == [("acknowledged", "person:sw-day", LINKS)]
        again = [client.post(link, data={}).status_code for link in links]
        assert again == [409] * LINKS


def test_fifty_link_pages_opened_at_once_all_show(rig: Rig, tmp_path: Path) -> None:
    """The GET side (mail scanners, previews, people opening links) holds at 50 at once too,
    and changes nothing."""
    links = _links(rig, LINKS)
    app = create_app(_settings(rig, tmp_path), clock=rig.clock)
    start = threading.Barrier(LINKS)
    with serve(app) as base, httpx.Client(base_url=base, timeout=60) as client:

        def look(link: str) -> int:
            start.wait()
            return client.get(link).status_code

        with ThreadPoolExecutor(LINKS) as pool:
            codes = list(pool.map(look, links))
    assert codes == [200] * LINKS
    (unacked,) = rig.conn.execute("SELECT COUNT(*) FROM alerts WHERE state='notified'").fetchone()
    assert unacked == LINKS


def test_failed_attempts_never_use_the_link_up(rig: Rig, tmp_path: Path) -> None:
    """Wrong method, a refused form and a busy database each fail cleanly (405, 422, 503 with
    a 'try again' page); the same link then acknowledges once."""
    (link,) = _links(rig, 1)
    (alert_id,) = rig.conn.execute("SELECT id FROM alerts").fetchone()
    app = create_app(_settings(rig, tmp_path, db_busy_timeout_s=0.2), clock=rig.clock)
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.put(link, data={}).status_code == 405
        assert client.delete(link).status_code == 405
        assert client.post(link, data={"comment": "x" * 501}).status_code == 422
        blocker = sqlite3.connect(rig.db_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database
        try:
            busy = client.post(link + "?lang=en", data={"comment": "on my way"})
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert busy.status_code == 503
        assert busy.headers["retry-after"]
        assert "try the link again" in busy.text
        assert rig.engine.service.peek(alert_id).state == "notified"
        done = client.post(link, data={"comment": "on my way"})
        assert done.status_code == 200
        view = rig.engine.service.peek(alert_id)
        assert (view.state, view.acknowledged_by) == ("acknowledged", "person:sw-day")
        assert client.post(link, data={}).status_code == 409
