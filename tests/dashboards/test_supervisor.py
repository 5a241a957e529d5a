"""The supervisor's page (issue #15): unassigned alerts, each worker's load, and reassigning an
alert to a worker of its mahalla with a reason, through the engine, audited, within tenancy."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from dashboards.accounts import Passwords, Role, create_user
from dashboards.db import Database
from hub.persistence.database import open_sqlite
from tests.dashboards.conftest import PASSWORD, World, csrf_of, login
from tests.support.untranslated import problems, visible_text


def _add_worker(world: World, username: str, name: str, mahalla: str) -> None:
    conn = Database(world.db_path).connect()
    try:
        create_user(
            conn, Passwords(1, 8), username=username, password=PASSWORD,
            role=Role.SOCIAL_WORKER, now=world.clock.now(), display_name=name,
            mahallas=[mahalla], lang="en",
        )  # fmt: skip
        conn.commit()
    finally:
        conn.close()


def _reassign(client: TestClient, world: World, alert_id: int, to: str, reason: str) -> int:
    r = client.post(
        f"/supervisor/alerts/{alert_id}/reassign",
        data={"to": to, "reason": reason, "csrf_token": csrf_of(client, world.db_path)},
        follow_redirects=False,
    )
    return int(r.status_code)


def _alert_row(world: World, alert_id: int) -> tuple[str, str | None, str | None]:
    db = open_sqlite(world.db_path)
    try:
        row = db.execute(
            "SELECT state, acknowledged_by, progress FROM alerts WHERE id=?", (alert_id,)
        ).fetchone()
    finally:
        db.close()
    return str(row[0]), row[1], row[2]


def _engine_audit(world: World, alert_id: int, action: str) -> list[tuple[str, str]]:
    db = open_sqlite(world.db_path)
    try:
        rows = db.execute(
            "SELECT actor, detail FROM alert_audit WHERE alert_id=? AND action=?",
            (alert_id, action),
        ).fetchall()
    finally:
        db.close()
    return [(str(r[0]), str(r[1])) for r in rows]


def test_supervisor_sees_the_unassigned_alert_by_name_and_not_another_mahalla(
    world: World, clients: dict[str, TestClient]
) -> None:
    page = clients["super-a"].get("/supervisor")
    assert page.status_code == 200
    unassigned = page.text.split('id="unassigned"')[1].split("</ul>")[0]
    assert f'id="un-{world.alert_a}"' in unassigned
    assert "Karimova Aziza" in unassigned
    assert "Bobur" not in page.text and f"un-{world.alert_b}" not in page.text
    # Only Navbahor's worker is on the supervisor's rota, by name.
    assert "Worker-A" in page.text and "Worker-B" not in page.text


def test_a_social_worker_cannot_open_the_supervisor_page_or_reassign(
    world: World, clients: dict[str, TestClient]
) -> None:
    worker = clients["worker-a"]
    assert worker.get("/supervisor").status_code == 403
    assert _reassign(worker, world, world.alert_a, "worker-a", "mine") == 403
    assert _alert_row(world, world.alert_a)[1] is None


def test_reassigning_an_unassigned_alert_gives_it_to_the_worker_and_is_audited(
    world: World, clients: dict[str, TestClient]
) -> None:
    sup = clients["super-a"]
    assert _reassign(sup, world, world.alert_a, "worker-a", "closest to the home") == 303
    assert _alert_row(world, world.alert_a) == ("acknowledged", "user:worker-a", None)
    [(actor, detail)] = _engine_audit(world, world.alert_a, "reassign")
    assert actor == "user:super-a"
    assert "user:worker-a" in detail and "closest to the home" in detail
    page = sup.get("/supervisor").text
    load = page.split('id="load-worker-a"')[1].split("</li>\n")[0]
    assert '<span class="count">1</span>' in load
    # The story on the alert page says who handed it to whom, by name.
    story = visible_text(sup.get(f"/alerts/{world.alert_a}").text)
    assert "Super-A: handed the alert to another worker → Worker-A" in story


def test_reassigning_moves_a_held_alert_and_clears_the_old_holders_progress(
    world: World, clients: dict[str, TestClient], app: object
) -> None:
    _add_worker(world, "worker-a2", "Dilshod Karimov", "Navbahor")
    worker = clients["worker-a"]
    for action in ("acknowledge", "on_the_way"):
        r = worker.post(
            f"/alerts/{world.alert_a}/action",
            data={"action": action, "csrf_token": csrf_of(worker, world.db_path)},
            follow_redirects=False,
        )
        assert r.status_code == 303
    sup = clients["super-a"]
    assert _reassign(sup, world, world.alert_a, "worker-a2", "car broke down") == 303
    assert _alert_row(world, world.alert_a) == ("acknowledged", "user:worker-a2", None)
    # Handing it to the worker who already holds it is refused as a conflict.
    assert _reassign(sup, world, world.alert_a, "worker-a2", "again") == 409
    # The new holder can carry on from their own page.
    with TestClient(app) as other:  # type: ignore[arg-type]
        login(other, "worker-a2")
        r = other.post(
            f"/alerts/{world.alert_a}/action",
            data={"action": "on_the_way", "csrf_token": csrf_of(other, world.db_path)},
            follow_redirects=False,
        )
        assert r.status_code == 303


@pytest.mark.parametrize(
    ("to", "reason"),
    [("worker-b", "other mahalla"), ("nobody", "no such user"), ("worker-a", "  ")],
)
def test_reassigning_to_a_worker_outside_the_mahalla_or_without_a_reason_is_refused(
    world: World, clients: dict[str, TestClient], to: str, reason: str
) -> None:
    assert _reassign(clients["super-a"], world, world.alert_a, to, reason) == 422
    assert _alert_row(world, world.alert_a)[1] is None


def test_supervisor_cannot_reassign_another_districts_alert(
    world: World, clients: dict[str, TestClient]
) -> None:
    assert _reassign(clients["super-a"], world, world.alert_b, "worker-b", "x") == 404
    assert _alert_row(world, world.alert_b)[1] is None


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_supervisor_page_reads_in_the_language(
    world: World, clients: dict[str, TestClient], lang: str
) -> None:
    sup = clients["super-a"]
    sup.post(
        "/preferences",
        data={"lang": lang, "next": "/", "csrf_token": csrf_of(sup, world.db_path)},
        follow_redirects=False,
    )
    page = sup.get("/supervisor").text
    assert f'<html lang="{lang}' in page
    assert problems(visible_text(page), lang, allow_ids=("Worker-A", "Super-A")) == []


def test_an_alert_someone_has_reached_has_no_reassign_form_and_is_refused(
    world: World, clients: dict[str, TestClient]
) -> None:
    worker = clients["worker-a"]
    for action in ("acknowledge", "arrived"):
        r = worker.post(
            f"/alerts/{world.alert_a}/action",
            data={"action": action, "csrf_token": csrf_of(worker, world.db_path)},
            follow_redirects=False,
        )
        assert r.status_code == 303
    sup = clients["super-a"]
    page = sup.get("/supervisor").text
    assert f'id="held-{world.alert_a}"' in page
    assert f'id="reassign-{world.alert_a}"' not in page
    _add_worker(world, "worker-a2", "Dilshod Karimov", "Navbahor")
    assert _reassign(sup, world, world.alert_a, "worker-a2", "second pair of hands") == 409
