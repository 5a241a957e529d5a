"""The web app on PostgreSQL (`database_url`): its schema by the versioned runner, a worker's
page served from the server's rows, and an acknowledgement through the alert engine's service
committed there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from dashboards import WebSettings, create_app
from dashboards.accounts import Passwords, Role, create_user
from dashboards.db import Database
from hub.persistence.sqlite_store import open_store
from hub.store.base import NewAlert
from mehr.clock import ManualClock
from tests.dashboards.conftest import PASSWORD, form_csrf, login
from tests.hub.alerts.conftest import SECRET, T0, config_dict, home
from tests.support.postgres import PostgresServer, find_pg_bin, running_postgres

WEB_SECRET = "Vq8wZt3LmX0rK7pYc5NbJ2hFd9sGa4Ue"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with running_postgres() as server:
        yield server


def test_a_worker_s_page_and_acknowledgement_run_on_postgresql(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.fresh_database()
    clock = ManualClock(T0)
    store = open_store(url)
    store.register_home(home("home-1", "kit-1"), T0)
    alert, _ = store.raise_alert(NewAlert("home-1", "help_button", "critical", T0, None))
    store.commit()
    store.close()
    alerts_yaml = tmp_path / "alerts.yaml"
    alerts_yaml.write_text(yaml.safe_dump(config_dict()))
    settings = WebSettings(
        database_url=url,
        secret_key=WEB_SECRET,
        cookie_secure=False,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        alerts_config=alerts_yaml,
        alerts_secret=SECRET.decode(),
    )
    app = create_app(settings, clock=clock)  # migrates the alerts and web schemas there
    database = Database(url)
    with database.connection() as conn:
        create_user(
            conn, Passwords(1, 8), username="sw", password=PASSWORD,
            role=Role.SOCIAL_WORKER, now=T0, homes=[], mahallas=["Navbahor"], lang="en",
        )
    with TestClient(app) as web:
        login(web, "sw")
        page = web.get("/worker")
        assert page.status_code == 200
        assert f'id="ack-{alert.id}"' in page.text
        done = web.post(
            f"/alerts/{alert.id}/action",
            data={"action": "acknowledge", "csrf_token": form_csrf(page.text)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        shown = web.get(f"/api/v1/alerts/{alert.id}").json()
    assert (shown["state"], shown["acknowledged_by"]) == ("acknowledged", "sw")
    check = open_store(url)
    try:
        (stored,) = check.alerts("home-1")
        assert stored.state == "acknowledged"
    finally:
        check.close()
