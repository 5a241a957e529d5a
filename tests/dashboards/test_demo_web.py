"""The demo's dashboards and its alert engine are one system: the printed worker account can
acknowledge the demo's help alert over HTTP, and the engine then stops escalating it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import yaml

from dashboards.demo_web import start_demo_web
from hub.alerts.channels import RecordingChannel
from hub.alerts.config import load_alerts_config, scaled_for_demo
from hub.alerts.engine import AlertEngine, open_alerts_db
from hub.alerts.severity import Severity
from hub.alerts.tokens import DEMO_SIGNING_KEY, TokenSigner
from hub.persistence.sqlite_store import SqliteStore
from hub.store.base import NewAlert
from mehr.clock import ManualClock
from mehr_app.demo import _DEMO_ALERTS, _DEMO_SPEEDUP, _spec
from simulators.demo_homes import DEMO_HOMES
from tests.hub.alerts.conftest import T0


def test_demo_worker_acknowledges_the_help_alert_and_escalation_stops(tmp_path: Path) -> None:
    """home-2's help press: the worker (Navbahor) acknowledges on the page; no duty officer."""
    db_path = tmp_path / "mehr.db"
    clock = ManualClock(T0)
    store = SqliteStore(db_path)
    for home in DEMO_HOMES:
        store.register_home(_spec(home), T0)
    alert, _ = store.raise_alert(NewAlert("home-2", "help_button", "critical", T0, None, {}))
    store.commit()
    store.close()
    config = scaled_for_demo(load_alerts_config(_DEMO_ALERTS), _DEMO_SPEEDUP)
    alerts_yaml = tmp_path / "alerts.yaml"
    alerts_yaml.write_text(yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True))
    conn = open_alerts_db(db_path)
    channel = RecordingChannel()
    engine = AlertEngine(conn, config, clock, channel, TokenSigner(DEMO_SIGNING_KEY))
    engine.run_due()
    web = start_demo_web(db_path, None, clock=clock, alerts_config=alerts_yaml)
    try:
        assert {a["role"] for a in web.accounts} == {
            "family", "social_worker", "duty_officer", "supervisor", "installer", "admin",
        }
        worker = next(a for a in web.accounts if a["role"] == "social_worker")
        with httpx.Client(base_url=web.url, follow_redirects=True) as client:
            login = client.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', login)
            assert token
            client.post("/login", data={
                "username": worker["username"], "password": worker["password"],
                "csrf_token": token.group(1),
            })
            page = client.get("/worker").text
            assert f'id="ack-{alert.id}"' in page, "the demo worker does not see the help alert"
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert csrf
            done = client.post(
                f"/alerts/{alert.id}/action",
                data={"action": "acknowledge", "csrf_token": csrf.group(1)},
            )
            assert done.status_code == 200
        view = engine.service.peek(alert.id)
        assert (view.state, view.acknowledged_by) == ("acknowledged", f"user:{worker['username']}")
    finally:
        web.stop()
    duty_step = config.policies[Severity.CRITICAL].steps[1].after_s
    clock.set(T0 + timedelta(seconds=duty_step * 3))
    engine.run_due()
    people = {r[0] for r in conn.execute("SELECT DISTINCT person_id FROM alert_notifications")}
    conn.close()
    assert not {"duty-bekzod", "duty-sardor"} & people, people
