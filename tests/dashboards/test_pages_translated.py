"""Every page, for every role, in Uzbek and Russian: no catalogue key or raw id shown as is, no
English word left in, no UTC time where a person reads it (issues #13 and #15)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dashboards import create_app
from dashboards.db import Database
from dashboards.registry_io import import_registry
from mehr.clock import ManualClock
from tests.dashboards.conftest import World, build_world, csrf_of, login, settings_for
from tests.support.untranslated import problems, visible_text

# 20:30 UTC is 01:30 in Tashkent: every UTC clock time of the last hour (19:30-20:30) differs
# from every local time the seeded day can show (00:00-01:30), so a UTC time cannot hide.
NIGHT = datetime(2025, 3, 10, 20, 30, tzinfo=UTC)
NAMES = {
    "fam-a": "Lola Karimova",
    "fam-b": "Dilnoza Xolmatova",
    "worker-a": "Jasur Rahimov",
    "worker-b": "Sardor Aliyev",
    "duty-a": "Nodira Tursunova",
    "super-a": "Bahodir Yusupov",
    "installer-a": "Otabek Qodirov",
    "admin": "Malika Saidova",
}
# The installer and the admin work with kit, sensor and account ids as such.
KIT_IDS = ("kit-a", "kit-b", "home-a", "home-b", "pir-kitchen", "pir-bed", "door", "help")


@pytest.fixture
def night_world(tmp_path: Path) -> World:
    """The seeded world at night, with people's real names, a resident with a daughter, and an
    alert that a worker acknowledged and is on the way to."""
    world = build_world(tmp_path, ManualClock(NIGHT))
    database = Database(world.db_path)
    conn = database.connect()
    try:
        for username, name in NAMES.items():
            conn.exec_driver_sql(
                "UPDATE web_users SET display_name=? WHERE username=?", (name, username)
            )
        conn.exec_driver_sql("UPDATE web_requests SET note='Iltimos, qoʻngʻiroq qiling'")
        resident = {
            "person_id": "p-a",
            "full_name": "Karimova Aziza",
            "address": "Navbahor mahallasi, 12-uy",
            "mahalla": "Navbahor",
            "home_id": "home-a",
            "risk_level": "high",
            "languages": ["uz", "ru"],
            "contacts": [
                {"name": "Lola Karimova", "relation": "daughter", "phone": "+998901234567"}
            ],
        }
        report = import_registry(database, conn, [resident], NIGHT)
        assert not report.rejected, report.rejected
        conn.commit()
    finally:
        conn.close()
    return world


@pytest.fixture
def night_app(night_world: World) -> FastAPI:
    """The app over the night world."""
    return create_app(settings_for(night_world.db_path), clock=night_world.clock)


@pytest.fixture
def client_of(night_app: FastAPI) -> Iterator[dict[str, TestClient]]:
    """One logged-in client per user."""
    made = {}
    for username in NAMES:
        client = TestClient(night_app)
        client.__enter__()
        made[username] = login(client, username)
    yield made
    for client in made.values():
        client.__exit__(None, None, None)


def _set_language(client: TestClient, db_path: Path, lang: str) -> None:
    r = client.post(
        "/preferences",
        data={"lang": lang, "next": "/", "csrf_token": csrf_of(client, db_path)},
        follow_redirects=False,
    )
    assert r.status_code == 303


def _act(client: TestClient, db_path: Path, alert_id: int, action: str) -> None:
    r = client.post(
        f"/alerts/{alert_id}/action",
        data={"action": action, "csrf_token": csrf_of(client, db_path)},
        follow_redirects=False,
    )
    assert r.status_code in (200, 303), r.text


def _pages(world: World) -> dict[str, list[str]]:
    a = world.alert_a
    worker = [
        "/worker", "/worker/panel", f"/alerts/{a}", "/residents/home-a", "/reports/response",
        "/history",
    ]  # fmt: skip
    return {
        "fam-a": ["/homes", "/homes/home-a", "/homes/home-a/panel", "/history", f"/history/{a}"],
        "worker-a": worker,
        "duty-a": [*worker, "/supervisor"],
        "super-a": [*worker, "/supervisor"],
        "installer-a": ["/installer"],
        "admin": ["/admin", "/admin/audit", "/installer", "/supervisor", *worker],
    }


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_every_page_of_every_role_reads_in_the_language_without_keys_ids_english_or_utc(
    night_world: World, client_of: dict[str, TestClient], lang: str
) -> None:
    db_path = night_world.db_path
    _act(client_of["worker-a"], db_path, night_world.alert_a, "acknowledge")
    _act(client_of["worker-a"], db_path, night_world.alert_a, "on_the_way")
    moments = [NIGHT - timedelta(minutes=m) for m in range(0, 61)]
    found: dict[str, list[str]] = {}
    for username, paths in _pages(night_world).items():
        client = client_of[username]
        _set_language(client, db_path, lang)
        allow = (*KIT_IDS, *NAMES) if username in ("installer-a", "admin") else ()
        for path in paths:
            page = client.get(path)
            assert page.status_code == 200, (username, path, page.status_code)
            if not path.endswith("/panel"):  # panels are fragments the live page swaps in
                assert re.search(rf'<html lang="{lang}', page.text), (username, path)
            wrong = problems(
                visible_text(page.text), lang, utc_moments=moments, allow_ids=allow
            )
            if wrong:
                found[f"{username} {path}"] = wrong
    assert found == {}, "\n".join(f"{page}: {sorted(set(wrong))}" for page, wrong in found.items())


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_pages_without_an_account_read_in_the_browsers_language(
    night_app: FastAPI, lang: str
) -> None:
    with TestClient(night_app) as client:
        for path, status in (("/login", 200), ("/no-such-page", 404)):
            page = client.get(path, headers={"accept-language": f"{lang},en;q=0.5"})
            assert page.status_code == status, path
            assert problems(visible_text(page.text), lang) == [], path


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_refusals_read_in_the_users_language(
    night_world: World, client_of: dict[str, TestClient], lang: str
) -> None:
    """A family opening the workers' page or another family's home is told so in words."""
    client = client_of["fam-a"]
    _set_language(client, night_world.db_path, lang)
    for path in ("/worker", "/homes/home-b", f"/alerts/{night_world.alert_b}", "/admin"):
        page = client.get(path)
        assert page.status_code in (403, 404), path
        assert problems(visible_text(page.text), lang) == [], path


def test_a_notice_is_shown_in_words_and_a_crafted_one_not_at_all(
    night_world: World, client_of: dict[str, TestClient]
) -> None:
    client = client_of["fam-a"]
    _set_language(client, night_world.db_path, "ru")
    assert '<p class="flash" role="status">Сохранено.</p>' in client.get("/homes?flash=saved").text
    crafted = client.get("/homes?flash=Call+0-800+now").text
    assert 'class="flash"' not in crafted and "0-800" not in crafted


def test_the_alert_page_shows_the_homes_local_time_of_the_alert(
    night_world: World, client_of: dict[str, TestClient]
) -> None:
    """The help press 5 minutes before 20:30 UTC is 01:25 in Tashkent."""
    client = client_of["worker-a"]
    _set_language(client, night_world.db_path, "ru")
    page = visible_text(client.get(f"/alerts/{night_world.alert_a}").text)
    assert "01:25" in page
    assert "20:25" not in page


def test_the_day_chart_names_rooms_whole() -> None:
    """Issue #15: "Living roo" was cut off; names up to 18 characters are shown whole."""
    from zoneinfo import ZoneInfo

    from dashboards.charts import timeline_svg
    from dashboards.queries import Segment

    at = NIGHT - timedelta(hours=1)
    rooms = ("Living room", "Boshqa xona", "Nevaramning yotoqxonasi")
    svg = timeline_svg(
        [Segment(r, at, at + timedelta(minutes=5), 3) for r in rooms],
        ZoneInfo("Asia/Tashkent"),
        NIGHT,
        "Bugun",
    )
    assert ">Living room<" in svg and ">Boshqa xona<" in svg
    assert ">Nevaramning yotoq…<" in svg
