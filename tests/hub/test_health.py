"""/healthz tells a supervisor when ingest is stuck: a message waiting unacknowledged too long,
or the broker link down; it recovers by itself when storing does."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from hub.service import Hub
from mehr.clock import ManualClock
from mehr.contract import SensorKind
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from tests.hub.factories import T0
from tests.hub.one_kit import start_one_kit_hub


def _healthz(hub: Hub) -> tuple[int, dict[str, Any]]:
    assert hub.stats_url is not None
    url = hub.stats_url.replace("/stats", "/healthz")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def test_healthz_turns_503_while_a_locked_database_stalls_ingest_and_recovers(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    clock = ManualClock(T0)
    hub, kit, db = start_one_kit_hub(
        tmp_path, mosquitto, hub_password, clock=clock, ingest_stall_s=120
    )
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        assert _healthz(hub) == (
            200, {"ok": True, "problems": [], "oldest_unacked_s": 0.0, "store_failures_in_row": 0}
        )  # fmt: skip
        kit.connect()
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database
        kit.event("help", SensorKind.HELP_BUTTON, "pressed")
        kit.flush()
        # The birth and the press: one may be in the worker's hand, blocked on the lock, and the
        # other still in the inbox.
        wait_until(
            lambda: hub.stats.get("received") + hub.inbox.qsize() >= 2, 10, "messages received"
        )
        clock.advance(timedelta(seconds=60))
        assert _healthz(hub)[0] == 200  # slow, not yet stalled
        clock.advance(timedelta(seconds=61))
        status, body = _healthz(hub)
        assert status == 503 and body["problems"] == ["ingest_stalled"]
        assert body["oldest_unacked_s"] == 121.0
        blocker.execute("ROLLBACK")
        wait_until(lambda: hub.stats.get("stored") == 1, 40, "stored once the lock is gone")
        wait_until(lambda: _healthz(hub)[0] == 200, 10, "healthy again")
    finally:
        blocker.close()
        kit.close()
        hub.stop()
    assert hub.stats.rejected() == 0  # waiting lost nothing and refused nothing
