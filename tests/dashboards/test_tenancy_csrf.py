"""Every route refuses another tenant, and every unsafe route refuses a missing CSRF token.

Both tests are parametrised over the app's own route table: a new route without a case here
fails `test_every_route_has_a_case`. An installer's tenant is the district (every mahalla the
district runs: dashboards.tenancy.kit_scope), so the installer is tried with a kit of a home in
a mahalla of another district.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dashboards.app import route_table
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from mehr.clock import ManualClock
from mehr.contract import SensorKind
from tests.dashboards.conftest import START, World, build_world, csrf_of

REFUSED = "refused"  # the other tenant's resource: 403 or 404
EXCLUDES = "excludes"  # a listing: 200 and nothing of the other tenant in it
PUBLIC = "public"  # no tenant data (login, health, one's own account, the schema)
FOREIGN_MARKERS = ("home-b", "Bobur", "kit-b")
# The installer's other tenant: a kit in a mahalla the district (its alerts config) does not run.
FOREIGN_TO_INSTALLER = ("home-c", "Qodirov", "kit-c")
INSTALLERS = frozenset({"installer-a"})


@pytest.fixture
def world(tmp_path: Path) -> World:
    """The two-tenant world, plus a home of another district for the installer's cases."""
    seeded = build_world(tmp_path, ManualClock(START))
    store = SqliteStore(seeded.db_path)
    try:
        help_button = SensorSpec(id="help", kind=SensorKind.HELP_BUTTON, room="Hall")
        store.register_home(
            HomeSpec(id="home-c", name="Zafar Qodirov", mahalla="Chilonzor-7",
                     kits=[KitSpec(id="kit-c", sensors=[help_button])]),
            START,
        )  # fmt: skip
    finally:
        store.close()
    return seeded

# (method, path) -> (expectation, actor, body kind or reason)
CASES: dict[tuple[str, str], tuple[str, str | None, str]] = {
    ("GET", "/"): (PUBLIC, None, "redirects to the role's own view"),
    ("GET", "/login"): (PUBLIC, None, "login form"),
    ("POST", "/login"): (PUBLIC, None, "login form"),
    ("POST", "/logout"): (PUBLIC, "fam-a", "ends one's own session"),
    ("POST", "/preferences"): (PUBLIC, "fam-a", "one's own language"),
    ("GET", "/healthz"): (PUBLIC, None, "no data"),
    ("GET", "/api/v1/openapi.json"): (PUBLIC, None, "the schema"),
    ("POST", "/api/v1/login"): (PUBLIC, None, "credentials"),
    ("POST", "/api/v1/logout"): (PUBLIC, "fam-a", "one's own session"),
    ("GET", "/api/v1/me"): (PUBLIC, "fam-a", "one's own account"),
    ("POST", "/api/v1/me/preferences"): (PUBLIC, "fam-a", "one's own account"),
    ("GET", "/metrics"): (EXCLUDES, None, "aggregates only, no home ids"),
    # family
    ("GET", "/homes"): (EXCLUDES, "fam-a", ""),
    ("GET", "/homes/{home_id}"): (REFUSED, "fam-a", ""),
    ("GET", "/homes/{home_id}/panel"): (REFUSED, "fam-a", ""),
    ("GET", "/homes/{home_id}/live"): (REFUSED, "fam-a", ""),
    ("POST", "/homes/{home_id}/away"): (REFUSED, "fam-a", "form:away"),
    ("POST", "/homes/{home_id}/requests"): (REFUSED, "fam-a", "form:request"),
    ("GET", "/history"): (EXCLUDES, "fam-a", ""),
    ("GET", "/history/{alert_id}"): (REFUSED, "fam-a", ""),
    ("GET", "/api/v1/homes"): (EXCLUDES, "fam-a", ""),
    ("GET", "/api/v1/homes/{home_id}"): (REFUSED, "fam-a", ""),
    ("GET", "/api/v1/homes/{home_id}/alerts"): (REFUSED, "fam-a", ""),
    ("GET", "/api/v1/homes/{home_id}/live"): (REFUSED, "fam-a", ""),
    ("PUT", "/api/v1/homes/{home_id}/away"): (REFUSED, "fam-a", "json:away"),
    ("DELETE", "/api/v1/homes/{home_id}/away"): (REFUSED, "fam-a", ""),
    ("POST", "/api/v1/homes/{home_id}/requests"): (REFUSED, "fam-a", "json:request"),
    # workers
    ("GET", "/worker"): (EXCLUDES, "worker-a", ""),
    ("GET", "/worker/panel"): (EXCLUDES, "worker-a", ""),
    ("GET", "/worker/live"): (EXCLUDES, "worker-a", ""),
    ("GET", "/alerts/{alert_id}"): (REFUSED, "worker-a", ""),
    ("POST", "/alerts/{alert_id}/action"): (REFUSED, "worker-a", "form:ack"),
    ("POST", "/requests/{request_id}/state"): (REFUSED, "worker-a", "form:reqstate"),
    ("GET", "/residents/{home_id}"): (REFUSED, "worker-a", ""),
    ("GET", "/reports/response"): (EXCLUDES, "worker-a", ""),
    ("GET", "/api/v1/reports/response"): (EXCLUDES, "worker-a", ""),
    ("GET", "/api/v1/caseload"): (EXCLUDES, "worker-a", ""),
    ("GET", "/api/v1/alerts"): (EXCLUDES, "worker-a", ""),
    ("GET", "/api/v1/alerts/{alert_id}"): (REFUSED, "worker-a", ""),
    ("POST", "/api/v1/alerts/{alert_id}/actions"): (REFUSED, "worker-a", "json:ack"),
    ("GET", "/api/v1/requests"): (EXCLUDES, "worker-a", ""),
    ("POST", "/api/v1/requests/{request_id}/state"): (REFUSED, "worker-a", "json:reqstate"),
    ("GET", "/api/v1/homes/{home_id}/resident"): (REFUSED, "worker-a", ""),
    # supervisors (district roles): a worker is refused the page and the form (test_supervisor.py)
    ("GET", "/supervisor"): (EXCLUDES, "super-a", ""),
    ("POST", "/supervisor/alerts/{alert_id}/reassign"): (REFUSED, "super-a", "form:reassign"),
    # installers
    ("GET", "/installer"): (EXCLUDES, "installer-a", ""),
    ("GET", "/api/v1/kits"): (EXCLUDES, "installer-a", ""),
    ("GET", "/api/v1/kits/{kit_id}"): (REFUSED, "installer-a", ""),
    ("GET", "/api/v1/kits/{kit_id}/test-mode"): (REFUSED, "installer-a", ""),
    ("PUT", "/api/v1/kits/{kit_id}/test-mode"): (REFUSED, "installer-a", "json:testmode"),
    ("DELETE", "/api/v1/kits/{kit_id}/test-mode"): (REFUSED, "installer-a", ""),
    ("GET", "/installer/kits/{kit_id}"): (REFUSED, "installer-a", ""),
    ("GET", "/installer/kits/{kit_id}/panel"): (REFUSED, "installer-a", ""),
    ("GET", "/installer/kits/{kit_id}/live"): (REFUSED, "installer-a", ""),
    ("POST", "/installer/kits/{kit_id}/test-mode"): (REFUSED, "installer-a", "form:testmode"),
    ("POST", "/installer/kits/{kit_id}/finish"): (REFUSED, "installer-a", "form:finish"),
    ("GET", "/installer/kits/{kit_id}/handover"): (REFUSED, "installer-a", ""),
    # admin only: everyone else is refused
    ("GET", "/admin"): (REFUSED, "worker-a", ""),
    ("GET", "/admin/audit"): (REFUSED, "worker-a", ""),
    ("GET", "/admin/registry/export/{what}"): (REFUSED, "worker-a", ""),
    ("POST", "/admin/users"): (REFUSED, "worker-a", "form:user"),
    ("POST", "/admin/registry/import"): (REFUSED, "worker-a", "file"),
    ("GET", "/api/v1/users"): (REFUSED, "worker-a", ""),
    ("POST", "/api/v1/users"): (REFUSED, "worker-a", "json:user"),
    ("GET", "/api/v1/audit"): (REFUSED, "worker-a", ""),
    ("GET", "/api/v1/registry/export/{what}"): (REFUSED, "worker-a", ""),
    ("POST", "/api/v1/registry/import"): (REFUSED, "worker-a", "file"),
}
# The alert engine's signed links: no session, so no tenant. The signed, expiring, single-use
# token in the path is the credential; test_alerts_integration.py tests them inside this app.
_LINK = "signed single-use acknowledge link: the token is the credential"
CASES[("GET", "/ack/{token}")] = (PUBLIC, None, _LINK)
CASES[("POST", "/ack/{token}")] = (PUBLIC, None, _LINK)

FORMS: dict[str, dict[str, str]] = {
    "away": {"mode": "away", "until": "2025-03-12T10:00"},
    "request": {"kind": "visit", "note": "x"},
    "ack": {"action": "acknowledge"},
    "reqstate": {"state": "accepted"},
    "user": {"username": "newbie", "password": "long-enough-pw", "role": "family"},
    "testmode": {"action": "start", "minutes": "20"},
    "finish": {},
    "reassign": {"to": "worker-a", "reason": "Jasur is at another home"},
}
JSONS: dict[str, dict[str, Any]] = {
    "away": {"mode": "away", "until": "2025-03-12T10:00:00+05:00"},
    "request": {"kind": "visit"},
    "ack": {"action": "acknowledge"},
    "reqstate": {"state": "accepted"},
    "user": {"username": "newbie", "password": "long-enough-pw", "role": "family"},
    "testmode": {"minutes": 20},
}


def test_every_route_has_a_case(app: Any) -> None:
    """A route added without a tenancy/CSRF case here fails this test."""
    table = set(route_table(app))
    assert table - set(CASES) == set(), "routes without a tenancy case"
    assert set(CASES) - table == set(), "cases for routes that no longer exist"


def _url(path: str, world: World, own: bool, actor: str | None = None) -> str:
    foreign_kit = "kit-c" if actor in INSTALLERS else "kit-b"
    return path.format(
        home_id="home-a" if own else "home-b",
        alert_id=world.alert_a if own else world.alert_b,
        request_id=world.request_a if own else world.request_b,
        kit_id="kit-a" if own else foreign_kit,
        what="alerts",
    )


def _send(client: TestClient, method: str, url: str, body: str, csrf: str | None) -> Any:
    headers = {"X-CSRF-Token": csrf} if csrf and not body.startswith("form") else {}
    kind, _, name = body.partition(":")
    if kind == "form":
        data = dict(FORMS[name])
        if csrf:
            data["csrf_token"] = csrf
        return client.request(method, url, data=data, follow_redirects=False)
    if kind == "json":
        return client.request(
            method, url, json=JSONS[name], headers=headers, follow_redirects=False
        )
    if kind == "file":
        files = {"file": ("r.csv", b"person_id,full_name\np1,X\n", "text/csv")}
        data = {"csrf_token": csrf} if csrf else {}
        return client.request(method, url, files=files, data=data, follow_redirects=False)
    return client.request(method, url, headers=headers, follow_redirects=False)


@pytest.mark.parametrize(("method", "path"), sorted(CASES))
def test_another_tenant_is_refused(
    method: str, path: str, world: World, app: Any, clients: dict[str, TestClient]
) -> None:
    """A user of mahalla/home A cannot read or change anything of home B."""
    expectation, actor, body = CASES[(method, path)]
    if expectation == PUBLIC:
        pytest.skip(f"not tenant data: {body}")
    client = clients[actor] if actor else TestClient(app)
    csrf = csrf_of(client, world.db_path) if actor else None
    response = _send(client, method, _url(path, world, own=False, actor=actor), body, csrf)
    if expectation == REFUSED:
        assert response.status_code in (403, 404), (response.status_code, response.text[:300])
    else:
        assert response.status_code == 200, response.text[:300]
        for marker in FOREIGN_TO_INSTALLER if actor in INSTALLERS else FOREIGN_MARKERS:
            assert marker not in response.text, f"{marker} leaked by {path}"


UNSAFE = sorted(k for k in CASES if k[0] in ("POST", "PUT", "DELETE", "PATCH"))
# Owner of the resource each unsafe route is tried with (so only the missing token can fail it).
CSRF_ACTOR = {
    "/homes/{home_id}/away": "fam-a",
    "/homes/{home_id}/requests": "fam-a",
    "/api/v1/homes/{home_id}/away": "fam-a",
    "/api/v1/homes/{home_id}/requests": "fam-a",
    "/alerts/{alert_id}/action": "worker-a",
    "/requests/{request_id}/state": "worker-a",
    "/supervisor/alerts/{alert_id}/reassign": "super-a",
    "/api/v1/alerts/{alert_id}/actions": "worker-a",
    "/api/v1/requests/{request_id}/state": "worker-a",
    "/admin/users": "admin",
    "/admin/registry/import": "admin",
    "/api/v1/users": "admin",
    "/api/v1/registry/import": "admin",
    "/logout": "fam-a",
    "/preferences": "fam-a",
    "/api/v1/logout": "fam-a",
    "/api/v1/me/preferences": "fam-a",
    "/login": None,
    "/api/v1/kits/{kit_id}/test-mode": "installer-a",
    "/installer/kits/{kit_id}/test-mode": "installer-a",
    "/installer/kits/{kit_id}/finish": "installer-a",
}
CSRF_EXEMPT = {
    # Takes JSON credentials and sets no cookie (returns a bearer token): nothing ambient to forge.
    ("POST", "/api/v1/login"): "JSON credentials, answers with a bearer token",
    # A forged cross-site POST would need the unguessable token; it works once and expires
    # (test_alerts_integration.py: second POST refused, forged token refused).
    ("POST", "/ack/{token}"): "the signed single-use token in the path is the CSRF defence",
}
BODIES = {
    "/preferences": "form:pref",
    "/login": "form:login",
    "/api/v1/me/preferences": "json:pref",
}
FORMS["pref"] = {"lang": "ru"}
FORMS["login"] = {"username": "fam-a", "password": "correct-horse-battery"}
JSONS["pref"] = {"lang": "ru"}


@pytest.mark.parametrize(("method", "path"), UNSAFE)
def test_unsafe_route_rejects_missing_csrf(
    method: str, path: str, world: World, app: Any, clients: dict[str, TestClient]
) -> None:
    """Without the CSRF token every form and unsafe API call is refused with 403."""
    if (method, path) in CSRF_EXEMPT:
        pytest.skip(CSRF_EXEMPT[(method, path)])
    actor = CSRF_ACTOR[path]
    client = clients[actor] if actor else TestClient(app)
    body = BODIES.get(path) or CASES[(method, path)][2]
    response = _send(client, method, _url(path, world, own=True), body, None)
    assert response.status_code == 403, (response.status_code, response.text[:300])
    assert "csrf" in response.text.lower() or "form has expired" in response.text.lower()


@pytest.mark.parametrize(("method", "path"), UNSAFE)
def test_unsafe_route_accepts_the_right_csrf(
    method: str, path: str, world: World, app: Any, clients: dict[str, TestClient]
) -> None:
    """With the token the same request goes through (so the 403 above was the token's doing)."""
    if (method, path) in CSRF_EXEMPT or path == "/login":
        pytest.skip("no session token involved")
    actor = CSRF_ACTOR[path]
    assert actor is not None
    client = clients[actor]
    body = BODIES.get(path) or CASES[(method, path)][2]
    response = _send(
        client, method, _url(path, world, own=True), body, csrf_of(client, world.db_path)
    )
    assert response.status_code in (200, 201, 303), (response.status_code, response.text[:300])


def test_bearer_token_needs_no_csrf(app: Any) -> None:
    """An app using a bearer token carries nothing ambient, so CSRF does not apply to it."""
    client = TestClient(app)
    token = client.post(
        "/api/v1/login", json={"username": "fam-a", "password": "correct-horse-battery"}
    ).json()["token"]
    r = client.post(
        "/api/v1/homes/home-a/requests",
        json={"kind": "call"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201
