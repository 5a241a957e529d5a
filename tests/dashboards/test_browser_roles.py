"""Each role's main task in real headless Chromium at 360 px, in Uzbek and Russian (issue #15):
the worker takes an alert from the list and sees it through to an outcome, the family sees the
alert, who is on the way and then the history, the supervisor reassigns. Saves screenshots in
docs/screenshots/ (`<role>-<step>-<lang>-360.png`).

The app comes from test_browser.py's fixture, Chromium from conftest.py's; this module gets
its own world, so the alerts these flows raise and close do not meet the other browser tests'.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboards.accounts import Passwords, Role, create_user
from dashboards.db import Database
from dashboards.registry_io import import_registry
from hub.persistence.sqlite_store import SqliteStore
from hub.store.base import NewAlert
from mehr.catalogue import text
from mehr.vocabulary import kind_label_key
from tests.dashboards.conftest import PASSWORD, World
from tests.dashboards.test_browser import _login, _shot, served
from tests.dashboards.test_browser import pytestmark as needs_chromium

__all__ = ["served"]  # the app fixture this module shares with test_browser.py (its own instance)

pytestmark = needs_chromium
LANGS = ("uz", "ru")
RESIDENT = {
    "person_id": "p-a", "full_name": "Karimova Aziza", "mahalla": "Navbahor",
    "address": "Navbahor koʻchasi 12-uy, 3-xonadon", "home_id": "home-a",
    "contacts": [{"name": "Dilnoza Karimova", "relation": "daughter",
                  "phone": "+998 90 123 45 67"}],
}  # fmt: skip
SECOND_WORKER = ("worker-a2", "Dilshod Karimov")


@pytest.fixture(scope="module")
def world(served: tuple[str, World]) -> Iterator[World]:
    """The served world with home-a's registry record and a second Navbahor social worker."""
    _, seeded = served
    database = Database(seeded.db_path)
    conn = database.connect()
    try:
        assert import_registry(database, conn, [RESIDENT], seeded.clock.now()).rejected == []
        username, name = SECOND_WORKER
        create_user(
            conn, Passwords(1, 8), username=username, password=PASSWORD,
            role=Role.SOCIAL_WORKER, now=seeded.clock.now(), display_name=name,
            mahallas=["Navbahor"], lang="en",
        )  # fmt: skip
        conn.commit()
    finally:
        conn.close()
    yield seeded


def _raise(world: World, kind: str, severity: str = "critical") -> int:
    """A new alert for home-a (or the open one of that kind, which the store merges into)."""
    store = SqliteStore(world.db_path)
    try:
        alert, _ = store.raise_alert(
            NewAlert("home-a", kind, severity, world.clock.now(), None, {"room": "Kitchen"})
        )
        store.commit()
    finally:
        store.close()
    return alert.id


def _in_language(page: Page, lang: str) -> None:
    page.select_option("#lang-select", lang)
    page.click("#prefs-save")
    # uz pages say lang="uz-Latn" (Latin script), ru pages lang="ru".
    expect(page.locator("html")).to_have_attribute("lang", re.compile(rf"^{lang}\b"))


def _fits_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "horizontal scrolling"


def _state(page: Page, key: str, lang: str) -> None:
    expect(page.locator("#alert-state")).to_have_text(text(f"state_{key}", lang))


@pytest.mark.parametrize("lang", LANGS)
def test_worker_takes_an_alert_from_the_list_calls_goes_and_resolves_at_360px(
    served: tuple[str, World], world: World, browser: Browser, lang: str
) -> None:
    """Acknowledge from the list, land on the case page with the address and a tel: link, mark
    on the way and arrived, resolve with an outcome: each step shown in the reader's language."""
    base, _ = served
    fall = _raise(world, "fall")
    page = _login(browser, base, "worker-a")
    _in_language(page, lang)
    page.goto(f"{base}/worker")
    expect(page.locator("#h-open ~ .queue")).to_contain_text(text("kind_fall", lang))
    page.click(f"#ack-{fall}")
    expect(page).to_have_url(f"{base}/alerts/{fall}?flash=saved")
    _state(page, "acknowledged", lang)
    expect(page.locator("#visit-directions")).to_contain_text("Navbahor koʻchasi 12-uy")
    expect(page.locator('.phones a[href="tel:+998901234567"]')).to_be_visible()
    _fits_phone(page)
    _shot(page, f"worker-case-{lang}-360")
    page.click("#act-on_the_way")
    _state(page, "on_the_way", lang)
    page.click("#act-arrived")
    _state(page, "arrived", lang)
    page.select_option("#outcome", "resident_fine")
    page.click("#act-resolve")
    _state(page, "resolved", lang)
    expect(page.locator("ol.history")).to_contain_text(text("out_resident_fine", lang))
    _shot(page, f"worker-resolved-{lang}-360")
    page.context.close()


@pytest.mark.parametrize("lang", LANGS)
def test_family_sees_the_alert_and_who_is_on_the_way_then_the_history_at_360px(
    served: tuple[str, World], world: World, browser: Browser, lang: str
) -> None:
    """The family's home page names the alert, its state and the worker on the way by name;
    after the worker resolves it, the history lists it with who took it."""
    base, _ = served
    fall = _raise(world, "fall")
    worker = _login(browser, base, "worker-a")
    _in_language(worker, "en")  # the worker's own language is not under test here
    worker.goto(f"{base}/alerts/{fall}")
    worker.click("#act-acknowledge")
    worker.click("#act-on_the_way")
    _state(worker, "on_the_way", "en")
    family = _login(browser, base, "fam-a")
    _in_language(family, lang)
    alerts = family.locator(".alerts")
    expect(alerts).to_contain_text(text(kind_label_key("fall"), lang))
    expect(alerts).to_contain_text(text("state_on_the_way", lang))
    expect(alerts).to_contain_text("Worker-A")
    _fits_phone(family)
    _shot(family, f"family-alert-{lang}-360")
    worker.select_option("#outcome", "resident_fine")
    worker.click("#act-resolve")
    _state(worker, "resolved", "en")
    worker.context.close()
    family.click(f"nav >> text={text('nav_history', lang)}")
    row = family.locator(f"#past-{fall}")
    expect(row).to_contain_text(text(kind_label_key("fall"), lang))
    expect(row).to_contain_text("Worker-A")
    _fits_phone(family)
    _shot(family, f"family-history-{lang}-360")
    family.context.close()


@pytest.mark.parametrize("lang", LANGS)
def test_supervisor_reassigns_an_unassigned_alert_at_360px(
    served: tuple[str, World], world: World, browser: Browser, lang: str
) -> None:
    """The supervisor opens their page from the menu, finds the alert nobody took, gives it to a
    worker with a reason; it leaves the unassigned list and counts in that worker's load."""
    base, _ = served
    # A kind per language, so the second run does not meet the first run's (still open) alert.
    kind = {"uz": "fall", "ru": "long_bathroom"}[lang]
    alert = _raise(world, kind, "high")
    page = _login(browser, base, "super-a")
    _in_language(page, lang)
    page.click(f"nav >> text={text('nav_supervisor', lang)}")
    expect(page).to_have_url(f"{base}/supervisor")
    expect(page.locator(f"#un-{alert}")).to_contain_text(text(kind_label_key(kind), lang))
    expect(page.locator(f"#un-{alert}")).to_contain_text("Karimova Aziza")
    username, name = SECOND_WORKER
    page.select_option(f"#to-{alert}", username)
    reason = {"uz": "Jasur boshqa uyda", "ru": "Джасур на другом вызове"}[lang]
    page.fill(f"#reason-{alert}", reason)
    _fits_phone(page)
    _shot(page, f"supervisor-{lang}-360")
    page.click(f"#reassign-btn-{alert}")
    expect(page.locator(".flash")).to_have_text(text("saved", lang))
    expect(page.locator(f"#un-{alert}")).to_have_count(0)
    expect(page.locator(f"#held-{alert}")).to_contain_text(name)
    expect(page.locator(f"#load-{username}")).to_contain_text("Karimova Aziza")
    _fits_phone(page)
    _shot(page, f"supervisor-reassigned-{lang}-360")
    page.context.close()
