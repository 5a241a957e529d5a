"""Past alerts for the family (their homes) and the worker (their caseload): the last 30 days'
closed alerts with kind, local time, who acknowledged (names), how it ended, each linking to
its story; the story says who was told how and folds repeats into one line with a count."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.dashboards.conftest import World, csrf_of, login
from tests.dashboards.test_alerts_integration import _web
from tests.hub.alerts.conftest import Rig, make_rig
from tests.support.untranslated import problems, visible_text

OUTCOME_WORDS = {"uz": "Yashovchi yaxshi", "ru": "С подопечным всё хорошо"}


def _problems(text: str, lang: str, world: World) -> list[str]:
    # The seeded accounts' display names ("Worker-A", "Fam-A") are the only English on a page.
    shown = text.replace("Worker-A", "").replace("Fam-A", "")
    return problems(shown, lang, utc_moments=[world.clock.now()])


def _act(client: TestClient, world: World, alert_id: int, action: str, **extra: str) -> None:
    r = client.post(
        f"/alerts/{alert_id}/action",
        data={"action": action, "csrf_token": csrf_of(client, world.db_path), **extra},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def _speak(client: TestClient, world: World, lang: str) -> None:
    r = client.post(
        "/preferences",
        data={"lang": lang, "next": "/", "csrf_token": csrf_of(client, world.db_path)},
        follow_redirects=False,
    )
    assert r.status_code == 303


def _close_both(world: World, clients: dict[str, TestClient]) -> None:
    """Worker A takes home-a's alert and finds her fine; worker B closes home-b's."""
    _act(clients["worker-a"], world, world.alert_a, "acknowledge")
    _act(clients["worker-a"], world, world.alert_a, "arrived")
    _act(clients["worker-a"], world, world.alert_a, "resolve", outcome="resident_fine")
    _act(clients["worker-b"], world, world.alert_b, "acknowledge")
    _act(clients["worker-b"], world, world.alert_b, "resolve", outcome="false_alarm")


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_the_family_sees_its_past_alert_with_who_took_it_and_how_it_ended(
    world: World, clients: dict[str, TestClient], lang: str
) -> None:
    """Only their home's alert; the worker's name, the outcome in words, Tashkent time."""
    _close_both(world, clients)
    family = clients["fam-a"]
    _speak(family, world, lang)
    page = family.get("/history")
    assert page.status_code == 200
    row = re.search(rf'<li class="card" id="past-{world.alert_a}">(.*?)</li>', page.text, re.S)
    assert row, "the resolved alert is not in the family's history"
    cells = visible_text(row.group(1))
    assert "Worker-A" in cells and "worker-a" not in cells  # the name, never the login
    assert OUTCOME_WORDS[lang] in cells
    assert "10.03 14:25" in cells  # raised 09:25 UTC: Tashkent is UTC+5
    assert f'href="/history/{world.alert_a}"' in row.group(1)
    assert f"past-{world.alert_b}" not in page.text and "Bobur" not in page.text
    assert _problems(visible_text(page.text), lang, world) == []


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_the_family_reads_the_alerts_story_without_the_workers_buttons(
    world: World, clients: dict[str, TestClient], lang: str
) -> None:
    """The linked page: who did what, by name; no acknowledge/resolve forms for the family."""
    _close_both(world, clients)
    family = clients["fam-a"]
    _speak(family, world, lang)
    page = family.get(f"/history/{world.alert_a}")
    assert page.status_code == 200
    assert 'id="act-' not in page.text and "/action" not in page.text
    story = visible_text(page.text)
    assert story.count("Worker-A:") == 3  # acknowledged, arrived, resolved
    assert OUTCOME_WORDS[lang] in story
    assert _problems(story, lang, world) == []
    assert family.get(f"/history/{world.alert_b}").status_code == 404


def test_the_workers_history_is_their_caseload_and_links_to_the_alert_page(
    world: World, clients: dict[str, TestClient]
) -> None:
    """Worker A sees home-a's alert (linking to the page with actions), not home-b's."""
    _close_both(world, clients)
    page = clients["worker-a"].get("/history").text
    assert f'href="/alerts/{world.alert_a}"' in page
    assert f"past-{world.alert_b}" not in page


def test_an_alert_older_than_30_days_leaves_the_history(
    world: World, clients: dict[str, TestClient]
) -> None:
    """A month later the list is empty and says so; an open alert is never listed."""
    worker = clients["worker-a"]
    assert f"past-{world.alert_a}" not in worker.get("/history").text  # still open
    _close_both(world, clients)
    assert f"past-{world.alert_a}" in worker.get("/history").text
    world.clock.advance(timedelta(days=31))
    login(worker, "worker-a")  # the old session expired meanwhile
    page = worker.get("/history").text
    assert f"past-{world.alert_a}" not in page and "No closed alerts" in page


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The alert engine over home-1 and home-2 (Navbahor), re-notifying every 300 s."""
    made = make_rig(tmp_path)
    yield made
    made.conn.close()


def test_the_story_says_who_was_told_how_and_counts_repeats(rig: Rig, tmp_path: Path) -> None:
    """Four messages to the on-call worker (the alert, then re-notified every 5 min) are one
    line with a count, not four "re-notify" lines; the duty officer's step is its own line."""
    web = _web(rig, tmp_path)
    alert_id = rig.raise_alert("home-1", "help_button")
    for second in (1, 200, 301, 601, 901):
        rig.at(second)
    login(web, "sw")
    story = visible_text(web.get(f"/alerts/{alert_id}").text)
    told = [line for line in story.splitlines() if "Email to Sw-Day (on call)" in line]
    assert len(told) == 1, story
    assert "4 times, last at 23.11 10:15" in told[0]  # 05:15 UTC in Tashkent
    assert sum("Email to Duty (duty officer)" in line for line in story.splitlines()) == 1
    assert "notified again" not in story and "re-notify" not in story
