"""A hub's identity among several: hub_id, its own broker session, lease timings, and the
refusal to run as 'the only hub' beside hubs that share the work by leases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.config import HubSettings
from hub.persistence import leases as leases_repo
from hub.persistence.database import open_sqlite
from hub.persistence.schema_alerts import migrate_alerts
from hub.service import Hub, HubStartError
from mehr.clock import ManualClock
from tests.hub.factories import T0


def test_a_hub_with_an_id_gets_a_broker_session_of_its_own() -> None:
    assert HubSettings().mqtt_client_id == "mehr-hub"
    assert HubSettings(hub_id="tashkent-2").mqtt_client_id == "mehr-hub-tashkent-2"
    assert HubSettings(hub_id="b", mqtt_client_id="custom").mqtt_client_id == "custom"


def test_lease_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="lease_renew_s"):
        HubSettings(hub_id="a", lease_ttl_s=5, lease_renew_s=5)
    with pytest.raises(ValidationError, match="hub_id"):
        HubSettings(hub_id="two words")
    bound = HubSettings(hub_id="a").lease_settings().takeover_bound_s
    assert bound == 20.0  # the default: a dead hub's homes are taken over within 20 s


def test_a_hub_without_an_id_refuses_to_run_beside_leased_hubs(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    conn = open_sqlite(db)
    migrate_alerts(conn)
    leases_repo.heartbeat(conn, "hub-a", T0, T0 + timedelta(seconds=15))
    conn.close()
    hub = Hub(HubSettings(db_path=db, stats_port=0), clock=ManualClock(T0))
    with pytest.raises(HubStartError, match=r"hub-a.*set hub_id"):
        hub.start()
