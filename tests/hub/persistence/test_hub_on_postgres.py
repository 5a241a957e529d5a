"""The running hub on PostgreSQL (`database_url`), through real parts: a kit on a real
Mosquitto, the hub storing its events once each, a help press raised and emailed to the
on-call worker at a real SMTP server on loopback, and the rows read back from the server; an
installer's test mode there; a batch cut by a server restart, retried and stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hub.alerts.config import load_alerts_config
from hub.alerts.lifecycle import AlertService
from hub.alerts.testmode import TestModeError, kit_test_mode_off, kit_test_mode_on
from hub.config import HubSettings, MqttProtocol
from hub.persistence.database import connect
from hub.persistence.sqlite_store import open_store
from hub.service import Hub
from hub.store.base import NewEvent, is_transient
from mehr.clock import ManualClock, SystemClock
from mehr.contract import SensorKind
from mehr_app.cli import main
from mehr_app.services.hub_config import write_registry
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.smtp_sink import SmtpSink
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import HUB_USER, kit_user
from tests.hub.alerts.test_end_to_end import SECRET, alerts_yaml
from tests.hub.factories import T0, home_spec
from tests.support.postgres import PostgresServer, running_postgres


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


def test_hub_on_postgresql_stores_events_once_and_emails_a_help_press(
    tmp_path: Path,
    mosquitto: Mosquitto,
    hub_password: str,
    smtp: SmtpSink,
    postgres_server: PostgresServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = postgres_server.fresh_database()
    user = kit_user("home-1", "kit-1")
    mosquitto.add_user(user)
    mosquitto.restart()
    settings = HubSettings(
        mqtt_url=mosquitto.url,
        mqtt_username=HUB_USER,
        mqtt_password=hub_password,
        mqtt_protocol=MqttProtocol.V5,
        database_url=url,
        registry_file=write_registry(tmp_path / "registry.yaml", [("home-1", "kit-1")]),
        stats_port=0,
        alerts_config=alerts_yaml(tmp_path / "alerts.yaml", smtp),
        alerts_secret=SECRET,
    )
    hub = Hub(settings)
    hub.start()
    kit = SimpleKit(
        "home-1", "kit-1", mosquitto.host, mosquitto.port, user.username, user.password,
        mqtt_v5=True,
    )
    try:
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        kit.connect()
        for i in range(40):
            kit.event("pir-kitchen", SensorKind.MOTION, i % 2 == 0)
        kit.event("help", SensorKind.HELP_BUTTON, "pressed")
        mail = smtp.wait_for("sw@mehr.test", timeout=30)
        assert "Mavluda opa" in mail.body
        wait_until(lambda: hub.stats.get("stored") >= 41, 15, "every event stored")
    finally:
        kit.close()
        hub.stop()
    assert not (tmp_path / "mehr.db").exists() and not Path("mehr.db").exists()
    store = open_store(url)
    try:
        events = store.events("home-1")
        assert len(events) == 41
        assert len({(e.kit_id, e.epoch, e.seq) for e in events}) == 41
        assert {s.sensor_id for s in store.sensor_states("home-1")} == {"pir-kitchen", "help"}
    finally:
        store.close()
    with connect(url) as conn:
        service = AlertService(conn, load_alerts_config(tmp_path / "alerts.yaml"), SystemClock())
        (alert,) = service.list_alerts("test")
        assert (alert.kind, alert.state) == ("help_button", "notified")
        notes = {n.person_id: n.status for n in service.notifications(alert.id)}
        assert notes["sw"] == "sent"
    # The district's response report reads the same server (`mehr report response --db URL`).
    day = alert.raised_at.astimezone(ZoneInfo("Asia/Tashkent")).date().isoformat()
    capsys.readouterr()
    assert main(["report", "response", "--db", url, "--from", day, "--to", day]) == 0
    assert '"alerts": 1' in capsys.readouterr().out


def test_an_installer_s_test_mode_opens_and_ends_on_postgresql(
    postgres_server: PostgresServer,
) -> None:
    # What `mehr kit check --hub-db postgresql://…` does first and last.
    url = postgres_server.fresh_database()
    store = open_store(url)
    store.register_home(home_spec(), T0)
    store.close()
    clock = ManualClock(T0)
    period = kit_test_mode_on(url, "kit-1", "installer:aziz", clock, duration_s=600)
    assert (period.home_id, period.kit_id, period.set_by) == ("home-1", "kit-1", "installer:aziz")
    assert period.active_at(T0)
    assert kit_test_mode_off(url, "kit-1", "installer:aziz", clock) == 1
    with pytest.raises(TestModeError, match="not registered"):
        kit_test_mode_on(url, "kit-9", "installer:aziz", clock, duration_s=600)


def test_a_batch_cut_by_a_postgresql_restart_is_transient_and_its_retry_is_stored() -> None:
    # A server restart (or failover) under a running hub: the batch in hand fails as a
    # transient error (ingest retries it, the kit's messages stay unacknowledged meanwhile),
    # and the same store's retry reconnects and stores it. A server of its own: it restarts.
    with running_postgres() as server:
        url = server.fresh_database()
        store = open_store(url)
        try:
            store.register_home(home_spec(), T0)
            store.store_events([_motion(1)], T0)
            store.commit()
            server.restart()
            with pytest.raises(Exception) as cut:
                store.store_events([_motion(2)], T0)
                store.commit()
            assert is_transient(cut.value)
            store.rollback()
            assert store.store_events([_motion(2)], T0) != [None]
            store.commit()
            assert [e.seq for e in store.events()] == [1, 2]
        finally:
            store.close()


def _motion(seq: int) -> NewEvent:
    at = T0 + timedelta(minutes=seq)
    return NewEvent("home-1", "kit-1", 1, seq, "pir-kitchen", "motion", True, "Kitchen", at, at)
