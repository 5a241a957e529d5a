"""The alerts repository: one creation path, typed records, schemas that upgrade in place."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.alerts.config import AlertsConfig
from hub.alerts.kit_availability import KitAvailabilityScanner
from hub.alerts.lifecycle import AlertService
from hub.alerts.severity import SEVERITY_BY_KIND, severity_for
from hub.persistence import alerts as alerts_repo
from hub.persistence import escalations as escalations_repo
from hub.persistence import migrate_web, open_sqlite
from hub.persistence.migrate import apply_migrations, schema_version
from hub.persistence.records import NewAlert
from hub.persistence.schema_alerts import MIGRATIONS as ALERT_MIGRATIONS
from hub.persistence.schema_alerts import migrate_alerts
from hub.persistence.schema_core import MIGRATIONS as CORE_MIGRATIONS
from hub.persistence.sqlite_store import SqliteStore
from hub.persistence.web_schema import WEB_MIGRATIONS
from hub.routine_scan import RULE_ALERTS
from mehr.clock import ManualClock
from tests.hub.alerts.conftest import config_dict, home

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def _engine_db(tmp_path: Path) -> sqlite3.Connection:
    store = SqliteStore(tmp_path / "hub.db")
    store.register_home(home("home-1", "kit-1"), T0)
    store.close()
    conn = open_sqlite(tmp_path / "hub.db")
    migrate_alerts(conn)
    return conn


def test_a_rule_alert_and_a_kit_outage_of_one_home_merge_through_the_one_path(
    tmp_path: Path,
) -> None:
    conn = _engine_db(tmp_path)
    store = SqliteStore(tmp_path / "hub.db")
    first, new = store.raise_alert(NewAlert("home-1", "kit_offline", "medium", T0, None, {}))
    store.set_availability("kit-1", "offline", T0)
    store.commit()
    store.close()
    assert new
    config = AlertsConfig.model_validate(config_dict())
    clock = ManualClock(T0 + timedelta(hours=1))
    scanner = KitAvailabilityScanner(conn, config, AlertService(conn, config, clock))
    scanner.scan(clock.now())
    alerts = alerts_repo.alerts(conn, "home-1")
    assert [(a.id, a.kind, a.count) for a in alerts] == [(first.id, "kit_offline", 2)]
    assert alerts[0].updated_at == clock.now()


def test_raise_alert_records_the_mahalla_only_where_the_engine_keeps_it(tmp_path: Path) -> None:
    core_only = SqliteStore(tmp_path / "core.db")  # no alert engine: no mahalla column
    record, _ = core_only.raise_alert(NewAlert("area:X", "cold_area", "high", T0, None, {}))
    core_only.commit()
    core_only.close()
    assert record.state == "raised"
    conn = _engine_db(tmp_path)
    alert, new = alerts_repo.raise_alert(
        conn, NewAlert("area:Navbahor", "area_outage", "high", T0, None, {"kits": []}),
        mahalla="Navbahor",
    )
    assert new and alert.raised_at == T0 and alert.detail == {"kits": []}
    (mahalla,) = conn.execute("SELECT mahalla FROM alerts WHERE id = ?", (alert.id,)).fetchone()
    assert mahalla == "Navbahor"


def test_escalations_come_back_as_typed_records_with_aware_times(tmp_path: Path) -> None:
    conn = _engine_db(tmp_path)
    alert, _ = alerts_repo.raise_alert(conn, NewAlert("home-1", "fall", "critical", T0, None, {}))
    escalations_repo.start(conn, alert.id, "critical")
    escalations_repo.start_round(conn, alert.id, 0, T0)
    esc = escalations_repo.by_alert(conn, alert.id)
    assert esc is not None
    assert (esc.round, esc.next_step, esc.done, esc.hold) == (0, 0, False, None)
    assert esc.next_step_at == T0 and esc.round_started_at == T0
    assert (esc.home_id, esc.kind, esc.alert_state) == ("home-1", "fall", "raised")
    assert [e.alert_id for e in escalations_repo.steps_due(conn, T0)] == [alert.id]
    assert escalations_repo.steps_due(conn, T0 - timedelta(seconds=1)) == []
    assert escalations_repo.earliest_due(conn) == T0


def test_a_database_at_older_schema_versions_upgrades_in_place_keeping_its_rows(
    tmp_path: Path,
) -> None:
    # A hub database as an older Mehr left it: core and alerts at their first steps, no web.
    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    apply_migrations(old, "core", CORE_MIGRATIONS[:1])
    apply_migrations(old, "alerts", ALERT_MIGRATIONS[:1])
    old.execute(
        "INSERT INTO homes(id, name, timezone, mahalla, created_at) "
        "VALUES ('home-1', 'Mavluda opa', 'Asia/Tashkent', 'Navbahor', 0)"
    )
    old.execute(
        "INSERT INTO alerts(home_id, kind, severity, state, raised_at, updated_at) "
        "VALUES ('home-1', 'fall', 'critical', 'raised', 10, 10)"
    )
    old.close()
    conn = open_sqlite(path)
    migrate_alerts(conn, str(path))
    migrate_web(conn, str(path))
    assert schema_version(conn, "core") == len(CORE_MIGRATIONS)
    assert schema_version(conn, "alerts") == len(ALERT_MIGRATIONS)
    assert schema_version(conn, "web") == len(WEB_MIGRATIONS)
    (alert,) = alerts_repo.alerts(conn, "home-1")
    assert (alert.kind, alert.raised_at) == ("fall", datetime.fromtimestamp(10, UTC))
    (risk,) = conn.execute("SELECT risk_level FROM homes WHERE id = 'home-1'").fetchone()
    assert risk == "medium"  # a column of core step 2, filled in for the old row


def test_every_alert_kind_the_hub_raises_gets_its_severity_from_the_one_table() -> None:
    # The routine scan still names a severity beside each kind: it must be the table's.
    for kind, severity in RULE_ALERTS.values():
        assert severity_for(kind).value == severity, kind
    for kind in ("help_button", "fall", "kit_offline", "area_outage", "cold_home", "cold_area"):
        assert kind in SEVERITY_BY_KIND, kind
