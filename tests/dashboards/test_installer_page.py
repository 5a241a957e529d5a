"""The installer's phone page: which kits an installer may walk-test (the district, not one
mahalla), and a kit's walk test ticked off from what the hub stored, in the home's local time."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient

from dashboards import create_app
from dashboards.accounts import Passwords, Role, create_user
from dashboards.db import Database
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.store.base import NewEvent
from mehr.contract import SensorKind
from tests.dashboards.conftest import PASSWORD, World, csrf_of, login, settings_for


def _register(world: World, home_id: str, kit_id: str, name: str, mahalla: str) -> None:
    """A kit as `mehr kit provision` leaves it: registered, never connected."""
    store = SqliteStore(world.db_path)
    try:
        store.register_home(
            HomeSpec(
                id=home_id,
                name=name,
                mahalla=mahalla,
                kits=[
                    KitSpec(
                        id=kit_id,
                        sensors=[SensorSpec(id="help", kind=SensorKind.HELP_BUTTON, room="Hall")],
                    )
                ],
            ),
            world.clock.now(),
        )
    finally:
        store.close()


def _kit_ids(client: TestClient) -> set[str]:
    response = client.get("/api/v1/kits")
    assert response.status_code == 200, response.text
    return {k["kit_id"] for k in response.json()}


def test_a_new_kit_in_another_mahalla_of_the_district_is_the_installers_to_walk_test(
    world: World, clients: dict[str, TestClient], app: object
) -> None:
    """Issue 16's trap: an installer of Navbahor could not see the kit just provisioned in
    Bog'ishamol (the same district), nor one provisioned without --mahalla. Now both show on
    the installer's pages; a home of a mahalla the district does not run stays out, and the
    social worker's scope does not grow with the installer's."""
    _register(world, "home-new", "kit-new", "Yangi uy", "Bog'ishamol")
    _register(world, "home-unplaced", "kit-unplaced", "Joyi yoʻq", "")
    _register(world, "home-far", "kit-far", "Zafar Qodirov", "Chilonzor-7")  # another district
    installer = clients["installer-a"]

    assert _kit_ids(installer) == {"kit-a", "kit-b", "kit-new", "kit-unplaced"}
    assert installer.get("/api/v1/kits/kit-new").status_code == 200
    page = installer.get("/installer")
    assert "Yangi uy" in page.text and "Zafar Qodirov" not in page.text
    assert installer.get("/installer/kits/kit-new").status_code == 200
    assert installer.get("/installer/kits/kit-unplaced").status_code == 200
    assert installer.get("/api/v1/kits/kit-far").status_code == 404
    assert installer.get("/installer/kits/kit-far").status_code == 404
    # The rule is the installer's: a worker of Navbahor still sees only Navbahor.
    worker = clients["worker-a"]
    assert worker.get("/api/v1/homes/home-new").status_code == 404
    assert {c["home_id"] for c in worker.get("/api/v1/caseload").json()} == {"home-a"}


def test_an_installer_scoped_to_named_homes_sees_only_their_kits(
    world: World, app: object
) -> None:
    """A contractor given homes, not mahallas, keeps exactly those homes."""
    conn = Database(world.db_path).connect()
    try:
        create_user(
            conn, Passwords(1, 8), username="contractor", password=PASSWORD,
            role=Role.INSTALLER, now=world.clock.now(), homes=["home-b"],
        )  # fmt: skip
    finally:
        conn.close()
    with TestClient(app) as client:  # type: ignore[arg-type]
        login(client, "contractor")
        assert _kit_ids(client) == {"kit-b"}
        assert client.get("/installer/kits/kit-a").status_code == 404


def _press(world: World, sensor: str, kind: str, value: object, room: str, seq: int) -> None:
    """The hub storing a signal from kit-a now (what ingest does when the kit publishes)."""
    at = world.clock.now()
    store = SqliteStore(world.db_path)
    try:
        store.store_events([NewEvent("home-a", "kit-a", 9, seq, sensor, kind, value, room, at, at)],
                           at)
        store.commit()
    finally:
        store.close()


def test_walk_test_ticks_each_sensor_the_hub_hears_after_test_mode_starts(
    world: World, clients: dict[str, TestClient]
) -> None:
    """Start test mode from the phone's form; the help button and the bedroom motion fired
    after it are ticked with their local time (Tashkent, not UTC), the kitchen motion heard
    before it and the door are named as still silent, rooms and kinds in the page's words."""
    installer = clients["installer-a"]
    page = installer.get("/installer/kits/kit-a")
    assert page.status_code == 200
    assert "Start test mode, then make every sensor fire." in page.text
    started = installer.post(
        "/installer/kits/kit-a/test-mode",
        data={"action": "start", "minutes": "30", "csrf_token": csrf_of(installer, world.db_path)},
        follow_redirects=False,
    )
    assert started.status_code == 303
    assert started.headers["location"] == "/installer/kits/kit-a?flash=test_mode_started"
    world.clock.advance(timedelta(seconds=40))  # 09:30:40 UTC = 14:30:40 in Tashkent
    _press(world, "help", "help_button", "pressed", "Bedroom", 100_001)
    world.clock.advance(timedelta(seconds=20))
    _press(world, "pir-bed", "motion", True, "Bedroom", 100_002)

    panel = installer.get("/installer/kits/kit-a/panel").text
    assert "2 of 4 sensors fired" in panel
    assert "On until 15:00:00: alerts page nobody" in panel
    help_row = panel.split('id="sensor-help"')[1].split("</li>")[0]
    assert "✓" in help_row and "Help button" in help_row and "fired 14:30:40" in help_row
    bed_row = panel.split('id="sensor-pir-bed"')[1].split("</li>")[0]
    assert "Motion" in bed_row and "Bedroom" in bed_row and "fired 14:31:00" in bed_row
    kitchen_row = panel.split('id="sensor-pir-kitchen"')[1].split("</li>")[0]
    assert "waiting: walk in front of it" in kitchen_row  # heard 12 min before the start
    silent = panel.split('id="walk-silent"')[1].split("</p>")[0]
    assert "Motion (Kitchen)" in silent and "Door" in silent
    assert "09:3" not in panel  # no UTC time anywhere a person reads
    assert "help_button" not in panel.replace('id="sensor-help"', "")  # no raw kind

    ended = installer.post(
        "/installer/kits/kit-a/test-mode",
        data={"action": "end", "csrf_token": csrf_of(installer, world.db_path)},
        follow_redirects=False,
    )
    assert ended.status_code == 303
    after = installer.get("/installer/kits/kit-a/panel").text
    assert "Off: alerts page people as usual" in after and "sensors fired" not in after


def test_walk_test_page_in_uzbek_says_a_new_kit_never_connected(
    world: World, clients: dict[str, TestClient]
) -> None:
    """A kit the broker has never seen says so (not 'offline' with empty columns), in the
    installer's language, with the sensors' rooms by name."""
    _register(world, "home-new", "kit-new", "Yangi uy", "Navbahor")
    installer = clients["installer-a"]
    installer.post(
        "/preferences",
        data={"lang": "uz", "csrf_token": csrf_of(installer, world.db_path)},
        follow_redirects=False,
    )
    page = installer.get("/installer/kits/kit-new").text
    assert "Hali bir marta ham ulanmagan" in page
    assert "Yordam tugmasi" in page and "Hall" in page
    assert "Sinov rejimini yoqish" in page


def test_the_walk_test_stream_updates_when_test_mode_runs_out_by_the_clock(
    world: World,
) -> None:
    """Nothing in the home changes when test mode reaches its end; the kit page's stream
    still says 'update' (so the phone stops showing 'alerts page nobody')."""
    settings = settings_for(world.db_path, live_poll_s=0.01, live_max_s=10.0)
    app = create_app(settings, clock=world.clock)
    with TestClient(app) as client:
        login(client, "installer-a")
        csrf = csrf_of(client, world.db_path)
        client.post(
            "/installer/kits/kit-a/test-mode",
            data={"action": "start", "minutes": "15", "csrf_token": csrf},
            follow_redirects=False,
        )
        updates = []
        with client.stream("GET", "/installer/kits/kit-a/live") as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    updates.append(json.loads(line[6:]))
                    if len(updates) == 1:
                        world.clock.advance(timedelta(minutes=15, seconds=1))
                    else:
                        break
    assert [u["test_mode"] for u in updates] == [True, False]


def test_the_walk_test_is_saved_from_the_phone_and_printed_in_the_households_language(
    world: World, clients: dict[str, TestClient]
) -> None:
    """Finish on the phone: the report the hub keeps (as `mehr kit check` stores it) names the
    silent sensors, test mode ends, and the handover sheet is in Russian with Tashkent times
    and the installer who ran the walk test; the PDF is a PDF."""
    installer = clients["installer-a"]
    csrf = csrf_of(installer, world.db_path)
    too_early = installer.post("/installer/kits/kit-a/finish", data={"csrf_token": csrf},
                               follow_redirects=False)
    assert too_early.headers["location"].endswith("flash=walk_not_started")
    installer.post("/installer/kits/kit-a/test-mode",
                   data={"action": "start", "minutes": "30", "csrf_token": csrf})
    world.clock.advance(timedelta(seconds=30))
    _press(world, "help", "help_button", "pressed", "Bedroom", 100_001)
    saved = installer.post("/installer/kits/kit-a/finish", data={"csrf_token": csrf},
                           follow_redirects=False)
    assert saved.headers["location"] == "/installer/kits/kit-a?flash=walk_saved"

    report = installer.get("/api/v1/kits/kit-a").json()["commissioning"]
    assert report["passed"] is False
    assert sorted(report["missing"]) == ["door", "pir-bed", "pir-kitchen"]
    assert installer.get("/api/v1/kits/kit-a/test-mode").json()["active"] is False
    sheet = installer.get("/installer/kits/kit-a/handover", params={"lang": "ru"})
    assert sheet.status_code == 200
    assert "14:30:30" in sheet.text and "09:30:30" not in sheet.text  # Tashkent, not UTC
    assert "installer-a" in sheet.text and "Кнопка помощи" in sheet.text
    pdf = installer.get("/installer/kits/kit-a/handover", params={"format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"
    assert installer.get("/installer/kits/kit-b/handover").status_code == 404  # no report yet
