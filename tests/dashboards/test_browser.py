"""Real headless Chromium against the app on a loopback port: the three views, live updates,
acknowledging, language switching, and a family refused another home. Saves screenshots."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from dashboards import create_app
from dashboards.db import Database
from dashboards.registry_io import import_registry
from hub.persistence.sqlite_store import SqliteStore
from hub.store.base import NewAlert, NewEvent
from mehr.clock import ManualClock
from tests.dashboards.conftest import (
    CHROMIUM,
    PASSWORD,
    START,
    World,
    build_world,
    settings_for,
)

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian chromium (make system-deps)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    """The app with the two-tenant world, served by uvicorn on a free loopback port."""
    world = build_world(tmp_path_factory.mktemp("web"), ManualClock(START))
    app = create_app(
        settings_for(world.db_path, live_poll_s=0.2, live_max_s=60.0), clock=world.clock
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    ready = threading.Event()
    for _ in range(200):  # wait for uvicorn to bind (a condition, checked 200 times at most)
        if server.started:
            ready.set()
            break
        ready.wait(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}", world
    server.should_exit = True
    thread.join(timeout=10)


def _login(browser: Browser, base: str, user: str, width: int = 360) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 780}, locale="en-US")
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    return page


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_family_sees_status_and_timeline_at_360px(
    served: tuple[str, World], browser: Browser
) -> None:
    """Status in words and colour, last activity with room, today's rooms chart, on a phone."""
    base, _ = served
    page = _login(browser, base, "fam-a")
    expect(page).to_have_url(f"{base}/homes/home-a")
    expect(page.locator("#h-status")).to_have_text("Alert")
    expect(page.locator(".hero .last")).to_contain_text("Kitchen, 12 min ago")
    expect(page.locator("#h-today ~ svg rect").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "horizontal scrolling"
    _shot(page, "family-360")
    page.set_viewport_size({"width": 1280, "height": 900})
    _shot(page, "family-1280")
    page.context.close()


def test_family_cannot_open_another_home(served: tuple[str, World], browser: Browser) -> None:
    """Typing another home's address gives a not-found page, not its data."""
    base, _ = served
    page = _login(browser, base, "fam-a")
    response = page.goto(f"{base}/homes/home-b")
    assert response is not None and response.status == 404
    expect(page.locator("body")).not_to_contain_text("Bobur")
    page.context.close()


def test_worker_acknowledges_and_resolves_and_family_updates_live(
    served: tuple[str, World], browser: Browser
) -> None:
    """The worker's tap shows on the family's open page without a reload."""
    base, world = served
    family = _login(browser, base, "fam-a")
    expect(family.locator("#h-status")).to_have_text("Alert")
    family.evaluate("window.__marker = 'same page'")  # gone if the page were reloaded
    worker = _login(browser, base, "worker-a")
    expect(worker).to_have_url(f"{base}/worker")
    expect(worker.locator("#h-open ~ .queue")).to_contain_text("Help button pressed")
    _shot(worker, "worker-360")
    worker.set_viewport_size({"width": 1280, "height": 900})
    _shot(worker, "worker-1280")
    worker.click(f"#ack-{world.alert_a}")
    expect(worker.locator("#alert-state")).to_have_text("acknowledged")
    # The worker's name (display name), not the username.
    expect(family.locator(".alerts")).to_contain_text("acknowledged by Worker-A", timeout=10_000)
    worker.click("#act-on_the_way")
    expect(worker.locator("#alert-state")).to_have_text("on the way")
    worker.select_option("#outcome", "resident_fine")
    worker.fill("#note", "She had dropped the pendant.")
    worker.click("#act-resolve")
    expect(worker.locator("#alert-state")).to_have_text("resolved")
    _shot(worker, "alert-1280")
    expect(family.locator("#h-status")).not_to_have_text("Alert", timeout=10_000)
    assert family.evaluate("window.__marker") == "same page"
    family.context.close()
    worker.context.close()


def test_language_switch_is_remembered(served: tuple[str, World], browser: Browser) -> None:
    """Switching to Russian changes the page and is remembered for the next login."""
    base, _ = served
    page = _login(browser, base, "fam-b")
    page.select_option("#lang-select", "ru")
    page.click("#prefs-save")
    expect(page.locator("#h-today")).to_have_text("Сегодня по комнатам")
    page.select_option("#lang-select", "uz")
    page.click("#prefs-save")
    expect(page.locator("#h-today")).to_have_text("Bugun xonalar boʻyicha")
    page.context.close()
    again = _login(browser, base, "fam-b")  # a new browser context: no cookies from before
    expect(again.locator("#h-today")).to_have_text("Bugun xonalar boʻyicha")
    again.context.close()


def test_installer_walks_a_kit_from_the_phone_and_each_press_ticks_live(
    served: tuple[str, World], browser: Browser
) -> None:
    """At 360 px: the district's kits by home name, one kit's walk test, test mode started
    from the page, and a help press the hub stores ticks its row in local time without a
    reload; test mode ended from the page; no resident pages for an installer."""
    base, world = served
    page = _login(browser, base, "installer-a")
    expect(page).to_have_url(f"{base}/installer")
    expect(page.locator("#k-kit-a")).to_have_text("Karimova Aziza")
    expect(page.locator("#k-kit-b")).to_have_text("Bobur Xolmatov")  # the next mahalla
    _shot(page, "installer-360")
    page.click("#walk-kit-a")
    expect(page).to_have_url(f"{base}/installer/kits/kit-a")
    page.click("#test-start")
    expect(page.locator("#test-mode-state")).to_contain_text("On until")
    help_row = page.locator("#sensor-help")
    expect(help_row).to_contain_text("waiting: press the button")
    page.evaluate("window.__marker = 'same page'")  # gone if the page were reloaded

    pressed = world.clock.advance(5)
    store = SqliteStore(world.db_path)
    try:
        store.store_events(
            [NewEvent("home-a", "kit-a", 9, 1, "help", "help_button", "pressed", "Bedroom",
                      pressed, pressed)],
            pressed,
        )  # fmt: skip
        store.commit()
    finally:
        store.close()
    local = pressed.astimezone(ZoneInfo("Asia/Tashkent")).strftime("%H:%M:%S")
    expect(help_row).to_contain_text(f"fired {local}", timeout=10_000)
    expect(page.locator("#walk-count")).to_contain_text("1 of 4 sensors fired")
    assert page.evaluate("window.__marker") == "same page"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "horizontal scrolling"
    _shot(page, "installer-walk-360")
    page.click("#test-end")
    expect(page.locator("#test-mode-state")).to_contain_text("Off")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/installer")
    _shot(page, "installer-1280")
    response = page.goto(f"{base}/homes/home-a")
    assert response is not None and response.status == 403
    page.context.close()


# -- accessibility: keyboard, visible focus, names, large text ----------------------------------

_ACTIVE = """() => { const e = document.activeElement;
  return e ? (e.id || e.tagName.toLowerCase() + ':' + (e.getAttribute('name') || '')) : ''; }"""
# True once the focused element shows a ring (a date input moves focus into its parts first,
# so this is waited for as a condition rather than read at once).
_FOCUS_SHOWN = """() => { const e = document.activeElement;
  if (!e || e === document.body || !e.matches(':focus, :focus-within')) { return false; }
  const s = getComputedStyle(e);
  return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }"""
_UNNAMED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby')
               && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.outerHTML.slice(0, 100))"""


def _tab_to(page: Page, selector: str, limit: int = 60) -> list[str]:
    """Press Tab from the top until `selector` has focus, checking each stop shows its focus."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    order: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        order.append(page.evaluate(_ACTIVE))
        try:
            page.wait_for_function(_FOCUS_SHOWN, timeout=2000)
        except PlaywrightTimeoutError:
            raise AssertionError(f"no visible focus on {order[-1]} (after {order[:-1]})") from None
        if page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
            return order
    raise AssertionError(f"{selector} not reachable by Tab; focus went {order}")


def _assert_every_control_named(page: Page) -> None:
    unnamed = page.evaluate(_UNNAMED)
    assert unnamed == [], f"controls without a label or accessible name on {page.url}: {unnamed}"


def test_family_page_works_by_keyboard_with_named_controls(
    served: tuple[str, World], browser: Browser
) -> None:
    """Tab reaches the away controls in order, each with visible focus; Enter submits them."""
    base, _ = served
    page = _login(browser, base, "fam-a", width=1280)
    _assert_every_control_named(page)
    order = _tab_to(page, "#away-save")
    assert order[0] == "a:", order  # the skip link comes first
    # Mode, then its end time (Chromium stops on each part of the date), then save.
    assert order.index("away-mode") < order.index("away-until") < len(order) - 1, order
    page.focus("#away-mode")
    page.keyboard.press("End")  # "Home (switch off)": needs no end time
    assert page.input_value("#away-mode") == "off"
    _tab_to(page, "#away-save")
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_have_text("Saved.")
    page.context.close()


def test_worker_acknowledges_by_keyboard_alone(
    served: tuple[str, World], browser: Browser
) -> None:
    """A new fall: the worker Tabs to its acknowledge button and presses Enter."""
    base, world = served
    store = SqliteStore(world.db_path)
    fall, _ = store.raise_alert(
        NewAlert("home-a", "fall", "critical", world.clock.now(), None, {"room": "Kitchen"})
    )
    store.commit()
    store.close()
    page = _login(browser, base, "worker-a", width=1280)
    _assert_every_control_named(page)
    _tab_to(page, f"#ack-{fall.id}")
    page.keyboard.press("Enter")
    expect(page.locator("#alert-state")).to_have_text("acknowledged")
    _assert_every_control_named(page)  # the alert page: outcome, note, actions
    _tab_to(page, "#act-resolve")
    page.goto(f"{base}/reports/response")
    _assert_every_control_named(page)
    page.context.close()


def test_large_text_option_enlarges_the_root_font(
    served: tuple[str, World], browser: Browser
) -> None:
    """The large-text preference scales the root font size, so every rem-sized thing grows."""
    base, _ = served
    page = _login(browser, base, "fam-b", width=1280)
    # The login's form post is still under way when _login returns: evaluating now can land
    # between documents (documentElement is null). The preference is on the page it lands on.
    expect(page.locator("#large-text")).to_be_attached()
    page.wait_for_load_state()
    root = "() => parseFloat(getComputedStyle(document.documentElement).fontSize)"
    before = page.evaluate(root)
    page.check("#large-text")
    page.click("#prefs-save")
    expect(page.locator("html")).to_have_class("large")
    page.wait_for_load_state()
    after = page.evaluate(root)
    assert after >= before * 1.2, (before, after)
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") == after
    page.uncheck("#large-text")  # fam-b's other test expects the normal size
    page.click("#prefs-save")
    # Saving submits a form: wait for the new page before reading its styles, or the
    # evaluation can land on the document being torn down.
    expect(page.locator("html")).not_to_have_class("large")
    page.wait_for_load_state()
    assert page.evaluate(root) == before
    page.context.close()


def test_duty_officer_sees_the_response_report(
    served: tuple[str, World], browser: Browser
) -> None:
    """The report page (engine's figures) for the duty officer's mahalla, with labelled inputs."""
    base, _ = served
    page = _login(browser, base, "duty-a", width=1280)
    page.goto(f"{base}/reports/response")
    expect(page.locator("#h-report")).to_have_text("Response-time report")
    expect(page.locator("table.cases")).to_contain_text("Navbahor")
    expect(page.locator("table.cases")).not_to_contain_text("Bog")
    _assert_every_control_named(page)
    _shot(page, "report-1280")
    page.context.close()


def test_worker_finds_where_to_go_and_family_then_reads_the_history_at_360px(
    served: tuple[str, World], browser: Browser
) -> None:
    """On a phone, in Russian: the alert page names the address and calls by tel: link; after
    the worker resolves it, the family (in Uzbek) finds it in the history and opens its story."""
    base, world = served
    database = Database(world.db_path)
    conn = database.connect()
    try:
        resident = {
            "person_id": "p-b", "full_name": "Xolmatov Bobur", "mahalla": "Bog'ishamol",
            "address": "Bogʻishamol koʻchasi 45, maktab roʻparasi", "home_id": "home-b",
            "contacts": [{"name": "Malika Xolmatova", "relation": "daughter",
                          "phone": "+998 93 555 44 33"}],
        }  # fmt: skip
        assert import_registry(database, conn, [resident], world.clock.now()).rejected == []
    finally:
        conn.close()
    store = SqliteStore(world.db_path)
    fall, _ = store.raise_alert(
        NewAlert("home-b", "fall", "critical", world.clock.now(), None, {"room": "Kitchen"})
    )
    store.commit()
    store.close()
    worker = _login(browser, base, "worker-b")
    worker.select_option("#lang-select", "ru")
    worker.click("#prefs-save")
    worker.goto(f"{base}/alerts/{fall.id}")
    expect(worker.locator("#visit-directions")).to_contain_text("Bogʻishamol koʻchasi 45")
    call = worker.locator('.phones a[href="tel:+998935554433"]')
    expect(call).to_be_visible()
    expect(worker.locator(".phones")).to_contain_text("Malika Xolmatova (дочь)")
    assert worker.evaluate("document.documentElement.scrollWidth") <= 360, "horizontal scrolling"
    _shot(worker, "alert-visit-360")
    worker.click("#act-acknowledge")
    worker.click("#act-arrived")
    worker.select_option("#outcome", "resident_fine")
    worker.click("#act-resolve")
    expect(worker.locator("#alert-state")).to_have_text("закрыта")
    worker.select_option("#lang-select", "en")  # the other tests read worker-b in English
    worker.click("#prefs-save")
    worker.context.close()
    family = _login(browser, base, "fam-b")
    family.select_option("#lang-select", "uz")
    family.click("#prefs-save")
    family.click("nav >> text=Tarix")
    row = family.locator(f"#past-{fall.id}")
    expect(row).to_contain_text("Yiqilish")
    expect(row).to_contain_text("Worker-B")
    assert family.evaluate("document.documentElement.scrollWidth") <= 360, "horizontal scrolling"
    _shot(family, "history-360")
    row.locator("a").click()
    expect(family.locator("ol.history")).to_contain_text("Worker-B")
    expect(family.locator("#act-resolve")).to_have_count(0)
    _shot(family, "history-alert-360")
    family.context.close()
