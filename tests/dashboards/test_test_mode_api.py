"""The installer's test-mode API: on/off for a kit, its test alerts in the home's local time,
installer role only, audited."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from hub.alerts.channels import RecordingChannel
from hub.alerts.config import AlertsConfig
from hub.alerts.engine import AlertEngine, open_alerts_db
from hub.persistence.database import open_sqlite
from hub.persistence.sqlite_store import SqliteStore
from hub.store.base import NewAlert, NewEvent
from tests.dashboards.conftest import World, csrf_of
from tests.hub.alerts.conftest import config_dict

URL = "/api/v1/kits/kit-a/test-mode"
TASHKENT = ZoneInfo("Asia/Tashkent")


def _fall_from_kit_a(world: World) -> None:
    store = SqliteStore(world.db_path)
    try:
        now = world.clock.now()
        (event_id,) = store.store_events(
            [NewEvent("home-a", "kit-a", 7, 1, "fall", "fall", "detected", "Bathroom", now, now)],
            now,
        )
        store.raise_alert(NewAlert("home-a", "fall", "critical", now, event_id, {"sensor": "fall"}))
        store.commit()
    finally:
        store.close()


def test_installer_turns_test_mode_on_sees_test_alerts_in_local_time_and_off(
    world: World, clients: dict[str, TestClient]
) -> None:
    client = clients["installer-a"]
    headers = {"X-CSRF-Token": csrf_of(client, world.db_path)}
    assert client.get(URL).json()["active"] is False

    on = client.put(URL, json={"minutes": 20}, headers=headers)
    assert on.status_code == 200, on.text
    body = on.json()
    ends_local = (world.clock.now() + timedelta(minutes=20)).astimezone(TASHKENT)
    assert body["active"] is True and body["set_by"] == "user:installer-a"
    assert (body["time_zone"], body["ends_at_local"]) == (
        "Asia/Tashkent", ends_local.strftime("%H:%M"),
    )

    world.clock.advance(timedelta(minutes=2))
    _fall_from_kit_a(world)
    channel = RecordingChannel()
    config = AlertsConfig.model_validate(config_dict())
    conn = open_alerts_db(world.db_path)
    try:
        AlertEngine(conn, config, world.clock, channel).run_due()
    finally:
        conn.close()
    (alert,) = client.get(URL).json()["alerts"]
    assert alert["kind"] == "fall"
    assert alert["raised_at_local"] == world.clock.now().astimezone(TASHKENT).strftime("%H:%M:%S")
    check = open_sqlite(world.db_path)
    try:
        notes = check.execute(
            "SELECT COUNT(*) FROM alert_notifications WHERE alert_id=?", (alert["id"],)
        ).fetchone()[0]
    finally:
        check.close()
    assert notes == 0  # paged nobody (the help alert raised before test mode did page)
    assert channel.sent

    off = client.delete(URL, headers=headers)
    assert off.status_code == 200 and off.json()["active"] is False
    db = open_sqlite(world.db_path)
    try:
        actions = [
            r["action"]
            for r in db.execute("SELECT action FROM web_audit WHERE target='kit:kit-a' ORDER BY id")
        ]
    finally:
        db.close()
    assert actions == ["kit.test_mode.start", "kit.test_mode.end"]


def test_test_mode_is_bounded_and_for_installers_only(
    world: World, clients: dict[str, TestClient]
) -> None:
    installer = clients["installer-a"]
    too_long = installer.put(
        URL, json={"minutes": 241}, headers={"X-CSRF-Token": csrf_of(installer, world.db_path)}
    )
    assert too_long.status_code == 422
    worker = clients["worker-a"]
    refused = worker.put(
        URL, json={"minutes": 10}, headers={"X-CSRF-Token": csrf_of(worker, world.db_path)}
    )
    assert refused.status_code == 403
    assert installer.get(URL).json()["active"] is False
