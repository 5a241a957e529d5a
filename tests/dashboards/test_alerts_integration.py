"""The dashboards and the alert engine as one system: the real app over the engine's database.

A web acknowledgement stops escalation, a signed link from a message works inside the app once,
home modes set on the page hold back the engine's inactivity alerts, the response report and
the metrics come from the engine's tables, and the app refuses to start without its config.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from dashboards import WebSettings, create_app
from dashboards.accounts import Passwords, Role, create_user
from dashboards.db import Database
from dashboards.registry_io import import_registry, parse_file
from hub.alerts.report import response_report
from hub.persistence.database import open_sqlite
from hub.persistence.sqlite_store import SqliteStore
from mehr.configfile import ConfigError
from mehr_app.cli import main
from tests.dashboards.conftest import PASSWORD, World, csrf_of, form_csrf, login
from tests.hub.alerts.conftest import SECRET, T0, Rig, config_dict, make_rig

WEB_SECRET = "Vq8wZt3LmX0rK7pYc5NbJ2hFd9sGa4Ue"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The engine over home-1 and home-2 (Navbahor) on a manual clock at T0 (day shift)."""
    r = make_rig(tmp_path)
    yield r
    r.conn.close()


def _web(rig: Rig, tmp_path: Path, cfg: dict[str, Any] | None = None) -> TestClient:
    """The real app (not demo mode) over the engine's database, its config, key and clock."""
    alerts_yaml = tmp_path / "alerts.yaml"
    alerts_yaml.write_text(yaml.safe_dump(cfg or config_dict()))
    settings = WebSettings(
        db_path=rig.db_path,
        secret_key=WEB_SECRET,
        cookie_secure=False,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        alerts_config=alerts_yaml,
        alerts_secret=SECRET.decode(),  # the hub's key: links it signs must work here
    )
    app = create_app(settings, clock=rig.clock)
    conn = Database(rig.db_path).connect()
    for username, role, homes, mahallas in (
        ("sw", Role.SOCIAL_WORKER, [], ["Navbahor"]),
        ("fam", Role.FAMILY, ["home-1"], []),
    ):
        create_user(
            conn,
            Passwords(1, 8),
            username=username,
            password=PASSWORD,
            role=role,
            now=rig.clock.now(),
            homes=homes,
            mahallas=mahallas,
            lang="en",
        )
    conn.close()
    return TestClient(app)


def _notified(rig: Rig, person: str) -> set[int]:
    """Alerts for which the engine created a message to `person`."""
    rows = rig.conn.execute(
        "SELECT alert_id FROM alert_notifications WHERE person_id=?", (person,)
    ).fetchall()
    return {int(r[0]) for r in rows}


def test_web_acknowledgement_stops_the_next_escalation_step(rig: Rig, tmp_path: Path) -> None:
    """The worker acknowledges in the app at 60 s; the duty officer's step at 180 s does not
    fire for that alert, while it does for an alert nobody acknowledged."""
    web = _web(rig, tmp_path)
    taken = rig.raise_alert("home-1", "help_button")
    ignored = rig.raise_alert("home-2", "help_button")
    rig.at(2)
    assert _notified(rig, "sw-day") == {taken, ignored}
    rig.at(60)
    login(web, "sw")
    page = web.get("/worker")
    assert f'id="ack-{taken}"' in page.text
    r = web.post(
        f"/alerts/{taken}/action",
        data={"action": "acknowledge", "csrf_token": form_csrf(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    rig.at(200)  # the duty officer's step (180 s after the round began at 2 s) is due now
    assert _notified(rig, "duty") == {ignored}
    rig.at(700)  # and the supervisor's, and re-notification in between
    assert _notified(rig, "sup") == {ignored}
    assert (
        rig.conn.execute(
            "SELECT COUNT(*) FROM alert_notifications WHERE alert_id=? AND purpose='renotify'",
            (taken,),
        ).fetchone()[0]
        == 0
    )
    # The page and the API follow the engine's state and progress.
    shown = web.get(f"/api/v1/alerts/{taken}").json()
    assert (shown["state"], shown["progress"], shown["acknowledged_by"]) == (
        "acknowledged",
        None,
        "sw",
    )
    assert [h["action"] for h in shown["history"]][-1] == "acknowledge"
    csrf = csrf_of(web, rig.db_path)
    moved = web.post(
        f"/api/v1/alerts/{taken}/actions",
        json={"action": "on_the_way"},
        headers={"X-CSRF-Token": csrf},
    ).json()
    assert (moved["state"], moved["progress"], moved["phase"]) == (
        "acknowledged",
        "on_the_way",
        "on_the_way",
    )
    assert "on the way" in web.get(f"/alerts/{taken}").text
    again = web.post(
        f"/api/v1/alerts/{taken}/actions",
        json={"action": "acknowledge"},
        headers={"X-CSRF-Token": csrf},
    )
    assert again.status_code == 409  # the engine refuses a second acknowledgement
    # Metrics come from the engine's columns: delivered at 2 s, acknowledged at 60 s.
    metrics = web.get("/metrics").text
    # Histograms: every notified alert falls in the 2 s bucket and none in the 1 s one; the one
    # acknowledgement in the 60 s bucket and not the 30 s one.
    notified = re.search(r"mehr_alert_notify_latency_seconds_count (\S+)", metrics)
    assert notified is not None and float(notified.group(1)) >= 1
    assert 'mehr_alert_notify_latency_seconds_bucket{le="1.0"} 0.0' in metrics
    assert f'mehr_alert_notify_latency_seconds_bucket{{le="2.0"}} {notified.group(1)}' in metrics
    assert 'mehr_alert_ack_latency_seconds_bucket{le="30.0"} 0.0' in metrics
    assert 'mehr_alert_ack_latency_seconds_bucket{le="60.0"} 1.0' in metrics
    assert "mehr_alert_ack_latency_seconds_sum 60.0" in metrics


def test_signed_link_from_a_message_acknowledges_once_inside_the_app(
    rig: Rig, tmp_path: Path
) -> None:
    """GET shows the alert and changes nothing; POST acknowledges; the second POST is refused."""
    web = _web(rig, tmp_path)
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(1)
    bodies = [body for url, _, body in rig.channel.sent if "sw-day@" in url]
    match = re.search(r"https://mehr\.test/ack/([A-Za-z0-9_-]+)", bodies[0])
    assert match, bodies[0]
    link = f"/ack/{match.group(1)}"
    shown = web.get(link)
    assert shown.status_code == 200 and "<form" in shown.text and "Mavluda opa" in shown.text
    # Its own CSP (no session, no scripts; its inline style allowed by hash only).
    assert "style-src 'sha256-" in shown.headers["content-security-policy"]
    assert shown.headers["cache-control"] == "no-store"
    assert rig.engine.service.peek(alert_id).state == "notified"  # GET changed nothing
    done = web.post(link, data={"comment": "on my way"})
    assert done.status_code == 200
    view = rig.engine.service.peek(alert_id)
    assert (view.state, view.acknowledged_by) == ("acknowledged", "person:sw-day")
    assert web.post(link, data={}).status_code == 409
    assert web.get(link).status_code == 409
    forged = link[:-2] + ("AA" if not link.endswith("AA") else "BB")
    assert web.post(forged, data={}).status_code == 404
    rig.at(200)
    assert alert_id not in _notified(rig, "duty")  # the link's acknowledgement stopped it too


def test_away_mode_from_the_family_page_holds_back_inactivity_not_help(
    rig: Rig, tmp_path: Path
) -> None:
    """The family's switch is the engine's home mode: inactivity suppressed, help still sent."""
    web = _web(rig, tmp_path)
    login(web, "fam")
    page = web.get("/homes/home-1")
    r = web.post(
        "/homes/home-1/away",
        data={"mode": "away", "until": "2026-11-25T18:00", "csrf_token": form_csrf(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    mode = rig.engine.service.active_mode("home-1")
    assert mode is not None and (mode.mode, mode.set_by) == ("away", "user:fam")
    quiet = rig.raise_alert("home-1", "unusual_inactivity", "high")
    help_ = rig.raise_alert("home-1", "help_button")
    rig.at(1)
    assert rig.engine.service.peek(quiet).state == "suppressed"
    assert rig.engine.service.peek(help_).state == "notified"
    assert web.get("/api/v1/homes/home-1").json()["status"]["away"]["mode"] == "away"
    csrf = csrf_of(web, rig.db_path)
    assert web.delete("/api/v1/homes/home-1/away", headers={"X-CSRF-Token": csrf}).json()["ok"]
    assert rig.engine.service.active_mode("home-1") is None


def test_app_refuses_to_start_without_alerts_config_outside_the_demo(tmp_path: Path) -> None:
    """No alerts config: one line naming the setting, not a silent web-only fallback."""
    settings = WebSettings(db_path=tmp_path / "m.db", secret_key=WEB_SECRET)
    with pytest.raises(ConfigError, match="alerts_config") as caught:
        create_app(settings)
    assert "\n" not in str(caught.value)
    cfg = tmp_path / "web.yaml"
    cfg.write_text(f"secret_key: '{WEB_SECRET}'\ndb_path: '{tmp_path / 'm.db'}'\n")
    assert main(["web", "--config", str(cfg)]) == 2
    # With the config but no signing key it refuses too (the hub's key is needed for links).
    alerts_yaml = tmp_path / "alerts.yaml"
    alerts_yaml.write_text(yaml.safe_dump(config_dict()))
    keyless = WebSettings(
        db_path=tmp_path / "m.db", secret_key=WEB_SECRET, alerts_config=alerts_yaml
    )
    with pytest.raises(ConfigError, match="alerts_secret"):
        create_app(keyless)


def test_response_report_is_the_engines_cut_to_the_users_mahallas(
    world: World, clients: dict[str, TestClient]
) -> None:
    """Workers see their mahallas only, district roles also the district; family refused."""
    start, end = world.clock.now() - timedelta(days=1), world.clock.now()
    query = {"from": start.isoformat(), "to": end.isoformat()}
    conn = open_sqlite(world.db_path)
    try:
        whole = response_report(conn, start, end)
    finally:
        conn.close()
    assert set(whole["mahallas"]) == {"Navbahor", "Bog'ishamol"}
    worker = clients["worker-a"].get("/api/v1/reports/response", params=query).json()
    assert worker["mahallas"] == {"Navbahor": whole["mahallas"]["Navbahor"]}
    assert "district" not in worker
    duty = clients["duty-a"].get("/api/v1/reports/response", params=query).json()
    assert duty["district"] == whole["district"] and set(duty["mahallas"]) == {"Navbahor"}
    admin = clients["admin"].get("/api/v1/reports/response", params=query).json()
    assert admin == whole
    assert clients["fam-a"].get("/api/v1/reports/response").status_code == 403
    page = clients["worker-a"].get("/reports/response", params=query)
    assert page.status_code == 200 and "Navbahor" in page.text and "Bog" not in page.text
    bad = clients["worker-a"].get(
        "/api/v1/reports/response", params={"from": end.isoformat(), "to": start.isoformat()}
    )
    assert bad.status_code == 422


def test_installer_sees_walk_test_report_from_the_store(
    world: World, clients: dict[str, TestClient]
) -> None:
    """`mehr kit check` stores reports in the hub DB; the installer's kit shows the newest."""
    store = SqliteStore(world.db_path)
    for hours, passed, missing in ((3, False, ["door"]), (1, True, [])):
        at = world.clock.now() - timedelta(hours=hours)
        store.save_commissioning_report(
            "kit-a",
            "home-a",
            at,
            passed,
            {"kit": "kit-a", "finished": at.isoformat(), "passed": passed, "missing": missing},
        )
    store.close()
    kit = clients["installer-a"].get("/api/v1/kits/kit-a").json()
    assert kit["commissioning"]["passed"] is True and kit["commissioning"]["missing"] == []
    assert "kit-a" in clients["installer-a"].get("/installer").text


def test_registry_import_sets_the_core_homes_risk_level(
    world: World, clients: dict[str, TestClient]
) -> None:
    """The registry's level (any of its spellings) lands in homes.risk_level, the hub's truth."""
    rows = (
        "person_id,full_name,mahalla,risk_level,home_id\n"
        "P1,Karimova Aziza,Navbahor,yuqori,home-a\n"
        "P2,Bobur Xolmatov,Bog'ishamol,1,home-b\n"
    )
    database = Database(world.db_path)
    conn = database.connect()
    try:
        report = import_registry(database, conn, parse_file("r.csv", rows.encode()), T0)
        assert (report.created, report.rejected) == (2, [])
        risks = dict(conn.exec_driver_sql("SELECT id, risk_level FROM homes").fetchall())
        assert risks == {"home-a": "high", "home-b": "low"}
        again = import_registry(database, conn, parse_file("r.csv", rows.encode()), T0)
        assert again.unchanged == 2
        changed = import_registry(
            database, conn, parse_file("r.csv", rows.replace("yuqori", "2").encode()), T0
        )
        assert changed.updated == 1
        assert (
            conn.exec_driver_sql("SELECT risk_level FROM homes WHERE id='home-a'").fetchone()[0]
            == "medium"
        )
    finally:
        conn.close()
    case = clients["worker-a"].get("/api/v1/caseload").json()
    assert [(c["home_id"], c["risk_level"]) for c in case] == [("home-a", "medium")]


def test_every_engine_alert_kind_and_outcome_has_words_in_every_language() -> None:
    """Pages name what the engine raises; a kind without a translation would show its key."""
    from dashboards.alert_actions import OUTCOMES
    from mehr.catalogue import LANGUAGES, entries
    from mehr.vocabulary import AlertKind

    for lang in LANGUAGES:
        table = entries(lang)
        missing = [k.label_key for k in AlertKind if k.label_key not in table]
        missing += [f"out_{o}" for o in OUTCOMES if f"out_{o}" not in table]
        assert missing == [], lang
