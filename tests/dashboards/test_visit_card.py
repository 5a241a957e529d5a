"""The worker's alert page and the SMS's acknowledge-link page say where to go and whom to call:
name, address, mahalla, a "how to get there" line, phones as tel: links with the contact's
relation in the reader's language, and the family's away/visitor mode."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dashboards.db import Database
from dashboards.registry_io import import_registry, parse_file
from dashboards.visit_card import tel_href
from tests.dashboards.conftest import World, csrf_of, form_csrf, login
from tests.dashboards.test_alerts_integration import _web
from tests.hub.alerts.conftest import Rig, config_dict, make_rig
from tests.support.untranslated import problems, visible_text

RESIDENT = {
    "person_id": "P-100",
    "full_name": "Karimova Aziza Tursunovna",
    "address": "Navbahor koʻchasi 12-uy, 3-xonadon",
    "mahalla": "Navbahor",
    "home_id": "home-a",
    "contacts": [
        {"name": "Dilnoza Karimova", "relation": "daughter", "phone": "+998 90 123-45-67"},
        {"name": "Ulugʻbek Karimov", "relation": "son", "phone": "+998 91 765 43 21"},
    ],
}
RELATION_WORDS = {"uz": ("qizi", "oʻgʻli"), "ru": ("дочь", "сын")}


def _import(world: World, *residents: dict[str, object]) -> None:
    database = Database(world.db_path)
    conn = database.connect()
    try:
        data = json.dumps(list(residents)).encode()
        report = import_registry(database, conn, parse_file("r.json", data), world.clock.now())
        assert report.rejected == []
    finally:
        conn.close()


def _speak(client: TestClient, world: World, lang: str) -> None:
    r = client.post(
        "/preferences",
        data={"lang": lang, "next": "/", "csrf_token": csrf_of(client, world.db_path)},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_tel_links_keep_the_plus_and_digits_only() -> None:
    """A number as people write it dials as the phone needs it."""
    assert tel_href("+998 (90) 123-45-67") == "tel:+998901234567"
    assert tel_href("90 123+45") == "tel:9012345"


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_the_workers_alert_page_says_where_to_go_and_whom_to_call(
    world: World, clients: dict[str, TestClient], lang: str
) -> None:
    """Name, address, mahalla and tel: links with relations in the reader's language; the
    family's visitor mode as they set it, in the home's local time."""
    _import(world, RESIDENT)
    family = clients["fam-a"]
    r = family.post(
        "/homes/home-a/away",
        data={"mode": "visitor", "until": "2025-03-10T20:30",
              "csrf_token": csrf_of(family, world.db_path)},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303, r.text
    worker = clients["worker-a"]
    _speak(worker, world, lang)
    html = worker.get(f"/alerts/{world.alert_a}").text
    text = visible_text(html)
    assert 'href="tel:+998901234567"' in html and 'href="tel:+998917654321"' in html
    assert "Karimova Aziza Tursunovna" in text
    assert "Navbahor koʻchasi 12-uy, 3-xonadon" in text
    daughter, son = RELATION_WORDS[lang]
    assert f"Dilnoza Karimova ({daughter})" in text and f"Ulugʻbek Karimov ({son})" in text
    directions = re.search(r'id="visit-directions">([^<]+)<', html)
    assert directions and "Navbahor koʻchasi 12-uy" in directions.group(1)
    assert ("mahallasi" if lang == "uz" else "махалля") in directions.group(1)
    mode = re.search(r'id="visit-mode">([^<]+)<', html)
    assert mode, "the family's visitor mode is not shown to the worker"
    # 20:30 as the family typed it (Tashkent), never the UTC 15:30.
    assert "20:30" in mode.group(1) and "15:30" not in mode.group(1)
    assert ("Mehmon" if lang == "uz" else "Гости") in mode.group(1)
    # (The seeded account's display name, "Worker-A", is the one English word on the page.)
    shown = text.replace("Worker-A", "")
    assert problems(shown, lang, utc_moments=[world.clock.now()]) == []


def test_another_mahallas_worker_gets_no_address_or_phone(
    world: World, clients: dict[str, TestClient]
) -> None:
    """The card is part of the alert page, so tenancy is the alert's: 404 and no data."""
    _import(world, RESIDENT)
    r = clients["worker-b"].get(f"/alerts/{world.alert_a}")
    assert r.status_code == 404
    assert "Navbahor koʻchasi" not in r.text and "998901234567" not in r.text


def test_without_a_registry_record_the_page_says_to_call_first(
    world: World, clients: dict[str, TestClient]
) -> None:
    """No address known: the page says so instead of showing nothing."""
    html = clients["worker-a"].get(f"/alerts/{world.alert_a}").text
    assert "No address in the registry" in html and "tel:" not in html


HOME_PHONE = "+998 71 234 56 78"


def _config_with_phone() -> dict[str, Any]:
    cfg = config_dict()
    cfg["homes"][0]["phone"] = HOME_PHONE
    return cfg


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The alert engine over home-1 (Mavluda opa, Navbahor 12, a home phone) and home-2."""
    made = make_rig(tmp_path, cfg=_config_with_phone())
    yield made
    made.conn.close()


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_the_sms_link_page_says_where_to_go_with_the_phone_as_a_tel_link(
    rig: Rig, tmp_path: Path, lang: str
) -> None:
    """The page a worker reaches from the SMS has the address and the home's phone as tel:."""
    web = _web(rig, tmp_path, _config_with_phone())
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(1)
    bodies = [body for url, _, body in rig.channel.sent if "sw-day@" in url]
    match = re.search(r"https://mehr\.test/ack/([A-Za-z0-9_-]+)", bodies[0])
    assert match, bodies[0]
    link = f"/ack/{match.group(1)}?lang={lang}"
    page = web.get(link)
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "Navbahor 12" in text and "Mavluda opa" in text
    assert 'href="tel:+998712345678"' in page.text
    assert ("Qanday borish" if lang == "uz" else "Как добраться") in text
    done = web.post(link, data={})
    assert done.status_code == 200 and 'href="tel:+998712345678"' in done.text
    assert rig.engine.service.peek(alert_id).state == "acknowledged"


def test_the_link_page_names_the_worker_who_took_the_alert_in_the_app(
    rig: Rig, tmp_path: Path
) -> None:
    """Someone else's link, after a worker acknowledged in the app: their name, not a login."""
    web = _web(rig, tmp_path, _config_with_phone())
    rig.conn.execute("UPDATE web_users SET display_name='Aziza Rahimova' WHERE username='sw'")
    alert_id = rig.raise_alert("home-1", "help_button")
    rig.at(1)
    bodies = [body for url, _, body in rig.channel.sent if "sw-day@" in url]
    match = re.search(r"https://mehr\.test/ack/([A-Za-z0-9_-]+)", bodies[0])
    assert match, bodies[0]
    login(web, "sw")
    page = web.get(f"/alerts/{alert_id}")
    r = web.post(
        f"/alerts/{alert_id}/action",
        data={"action": "acknowledge", "csrf_token": form_csrf(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    shown = visible_text(web.get(f"/ack/{match.group(1)}?lang=en").text)
    assert "Acknowledged by: Aziza Rahimova" in shown  # was "Acknowledged by: sw"
