"""Installer workflow: provision a kit, then walk-test it through broker and hub."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.agent import EdgeAgent
from edge.config import load_kit_config
from hub.broker_auth import BrokerUser, kit_acl_rules
from hub.persistence.sqlite_store import SqliteStore
from mehr.clock import ManualClock, SystemClock
from mehr_app.cli import main
from mehr_app.cli_edge import provision_kit, run_walk_test
from mehr_app.services.mosquitto import Mosquitto
from tests.edge.helpers import start_hub, wait_until

REPO = Path(__file__).resolve().parents[2]


def _provision(tmp_path: Path, url: str) -> dict:  # type: ignore[type-arg]
    SqliteStore(tmp_path / "hub.db").close()  # the hub made its database before any kit
    return provision_kit(
        home_id="home-p", kit_id="kit-p", template=REPO / "firmware_configs" / "flat-one-room.yaml",
        hub_db=tmp_path / "hub.db", broker_url=url, out_dir=tmp_path / "out",
        passwd_file=tmp_path / "broker" / "passwd", acl_file=tmp_path / "broker" / "acl",
        home_name="Karimova", mahalla="Chilonzor-7",
    )


def test_provision_registers_kit_and_writes_credentials(tmp_path: Path) -> None:
    (tmp_path / "broker").mkdir()
    (tmp_path / "broker" / "passwd").write_text("mehr-hub:$7$101$x$y\nkit-p:$7$old\n")
    (tmp_path / "broker" / "acl").write_text("user kit-p\ntopic write old/#\n")
    result = _provision(tmp_path, "mqtts://broker.example:8883")
    config = load_kit_config(Path(result["kit_config"]))
    assert (config.home_id, config.kit_id, config.username) == ("home-p", "kit-p", "kit-p")
    password = config.broker.password_file.read_text().strip()
    assert len(password) >= 32
    assert oct(config.broker.password_file.stat().st_mode)[-3:] == "600"
    lines = (tmp_path / "broker" / "passwd").read_text().splitlines()
    assert lines[0].startswith("mehr-hub:") and len(lines) == 2
    assert lines[1].startswith("kit-p:$7$101$") and "old" not in lines[1]
    acl = (tmp_path / "broker" / "acl").read_text()
    assert "old/#" not in acl
    assert all(rule in acl for rule in kit_acl_rules("home-p", "kit-p"))
    store = SqliteStore(tmp_path / "hub.db")
    kit = store.kit("kit-p")
    store.close()
    assert kit is not None and kit.home_id == "home-p"
    assert kit.sensors["help"] == ("help_button", "room")
    assert len(kit.sensors) == len(config.sensors)


def test_provision_cli_refuses_a_bad_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "--lang", "en",
        "kit", "provision", "--home", "Home P", "--kit", "kit-p",
        "--hub-db", str(tmp_path / "h.db"),
        "--template", str(REPO / "firmware_configs" / "flat-one-room.yaml"),
        "--broker-url", "mqtts://b:8883", "--out-dir", str(tmp_path / "out"),
    ])
    assert code == 2
    assert "home_id" in capsys.readouterr().err


def _agent_for(tmp_path: Path, mosquitto: Mosquitto, result: dict, factory: MockFactory):  # type: ignore[no-untyped-def, type-arg]
    password = Path(result["password_file"]).read_text().strip()
    mosquitto.add_user(BrokerUser("kit-p", password, kit_acl_rules("home-p", "kit-p")))
    mosquitto.restart()
    config = load_kit_config(Path(result["kit_config"]))
    config = config.model_copy(update={
        "outbox": config.outbox.model_copy(update={"path": tmp_path / "outbox.db"}),
    })
    agent = EdgeAgent(config, pin_factory=factory)
    agent.start()
    return agent


def test_walk_test_passes_when_every_sensor_fires(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, mock_factory: MockFactory
) -> None:
    result = _provision(tmp_path, mosquitto.url)
    agent = _agent_for(tmp_path, mosquitto, result, mock_factory)
    hub = start_hub(mosquitto, hub_password, tmp_path / "hub.db")
    started = threading.Event()
    out: list = []  # type: ignore[type-arg]
    fired: list[str] = []
    checker = _checker(tmp_path, out, clock=SystemClock(), timeout_s=30, poll_s=0.1,
                       started=started, on_fire=lambda sid, test: fired.append(sid))
    try:
        checker.start()
        assert started.wait(10)
        for pin in (17, 27):  # room and bathroom motion
            mock_factory.pin(pin).drive_high()
        mock_factory.pin(22).drive_low()  # front door closes
        mock_factory.pin(23).drive_low()  # help button
        mock_factory.pin(24).drive_high()  # fall alarm
        checker.join(30)
        report = out[0]
        assert report.passed, report.render()
        assert sorted(fired) == sorted(["room-motion", "bath-motion", "front-door", "help",
                                        "bath-fall"])
        assert "PASS: all 5 sensors fired" in report.render()
    finally:
        checker.join(1)
        agent.stop()
        hub.stop()


def test_walk_test_fails_naming_the_sensors_that_never_fired(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, mock_factory: MockFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = _provision(tmp_path, mosquitto.url)
    agent = _agent_for(tmp_path, mosquitto, result, mock_factory)
    hub = start_hub(mosquitto, hub_password, tmp_path / "hub.db")
    # Earlier activity must not count: the help button fired before the check started.
    mock_factory.pin(23).drive_low()
    wait_until(lambda: _states(tmp_path) >= 1, 10, "the early press at the hub")
    clock = ManualClock(datetime.now(UTC))
    started = threading.Event()
    cancel = threading.Event()
    fired: list[str] = []
    out: list = []  # type: ignore[type-arg]
    checker = _checker(tmp_path, out, clock=clock, timeout_s=600, poll_s=0.05,
                       started=started, cancel=cancel,
                       on_fire=lambda sid, test: fired.append(sid))
    try:
        checker.start()
        assert started.wait(10)
        mock_factory.pin(22).drive_low()
        mock_factory.pin(17).drive_high()
        wait_until(lambda: len(fired) == 2, 10, "two sensors seen by the check")
        clock.advance(601)  # the installer's ten minutes are up; no real waiting
        checker.join(10)
        report = out[0]
        assert not report.passed
        assert report.missing == ["bath-fall", "bath-motion", "help"]
        assert "FAIL: never fired: bath-fall, bath-motion, help" in report.render()
    finally:
        cancel.set()
        checker.join(1)
        agent.stop()
        hub.stop()


def _checker(tmp_path: Path, out: list, **kwargs: object) -> threading.Thread:  # type: ignore[type-arg]
    """Run the walk test on its own thread (the store is opened there: one per thread)."""

    def run() -> None:
        store = SqliteStore(tmp_path / "hub.db")
        try:
            out.append(run_walk_test(store, "kit-p", **kwargs))  # type: ignore[arg-type]
        finally:
            store.close()

    return threading.Thread(target=run)


def _states(tmp_path: Path) -> int:
    store = SqliteStore(tmp_path / "hub.db")
    try:
        return len(store.sensor_states("home-p"))
    finally:
        store.close()


def test_report_command_prints_the_stored_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.walktest import WalkTest

    test = WalkTest("h", "kit-x", {"a": ("motion", "hall"), "b": ("door", "hall")},
                    datetime(2025, 3, 1, tzinfo=UTC))
    test.observe("a", datetime(2025, 3, 1, 0, 1, tzinfo=UTC))
    from hub.persistence.sqlite_store import SqliteStore

    report = test.report(datetime(2025, 3, 1, 0, 5, tzinfo=UTC))
    store = SqliteStore(tmp_path / "hub.db")
    store.save_commissioning_report("kit-x", "h", report.finished, report.passed, report.to_dict())
    store.close()
    code = main(["--lang", "en", "kit", "report", "--kit", "kit-x",
                 "--hub-db", str(tmp_path / "hub.db")])
    out = capsys.readouterr().out
    assert code == 1
    assert "a       hall  Motion  05:01:00" in out  # the home's zone: Asia/Tashkent by default
    assert "FAIL: never fired: b" in out


def test_walk_test_ticks_off_a_mat_when_someone_sits_on_it(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, mock_factory: MockFactory
) -> None:
    import yaml

    template = yaml.safe_load((REPO / "firmware_configs" / "flat-one-room.yaml").read_text())
    template["sensors"] = [
        {"id": "armchair-mat", "kind": "occupancy", "pin": 17, "room": "room", "bounce_s": 0},
        {"id": "bed-mat", "kind": "occupancy", "pin": 27, "room": "room", "bounce_s": 0},
        {"id": "toilet-flush", "kind": "appliance", "pin": 22, "room": "bathroom"},
    ]
    path = tmp_path / "mats.yaml"
    path.write_text(yaml.safe_dump(template))
    SqliteStore(tmp_path / "hub.db").close()  # the hub made its database before any kit
    result = provision_kit(
        home_id="home-p", kit_id="kit-p", template=path, hub_db=tmp_path / "hub.db",
        broker_url=mosquitto.url, out_dir=tmp_path / "out", passwd_file=tmp_path / "b" / "passwd",
        acl_file=tmp_path / "b" / "acl", home_name="Karimova",
    )
    agent = _agent_for(tmp_path, mosquitto, result, mock_factory)
    hub = start_hub(mosquitto, hub_password, tmp_path / "hub.db")
    clock = ManualClock(datetime.now(UTC))
    started, cancel = threading.Event(), threading.Event()
    fired: list[str] = []
    out: list = []  # type: ignore[type-arg]
    checker = _checker(tmp_path, out, clock=clock, timeout_s=600, poll_s=0.05, started=started,
                       cancel=cancel, on_fire=lambda sid, test: fired.append(sid))
    try:
        checker.start()
        assert started.wait(10)
        mock_factory.pin(17).drive_low()  # the installer sits in the armchair
        mock_factory.pin(22).drive_low()  # and flushes the toilet; nobody lies on the bed
        wait_until(lambda: len(fired) == 2, 10, "the armchair mat and the flush seen")
        clock.advance(601)
        checker.join(10)
        report = out[0]
        assert sorted(fired) == ["armchair-mat", "toilet-flush"]
        assert report.missing == ["bed-mat"]
        assert "bed-mat: sit (or lie) on the mat, then get up" in report.render()
    finally:
        cancel.set()
        checker.join(1)
        agent.stop()
        hub.stop()


def test_a_second_kit_keeps_the_homes_mahalla_name_and_care_plan(tmp_path: Path) -> None:
    """Provisioning another kit for a known home without --mahalla/--name once reset its
    mahalla to "" (the home left its workers' view) and its care-plan risk level to medium."""
    (tmp_path / "broker").mkdir()
    _provision(tmp_path, "mqtts://broker.example:8883")
    store = SqliteStore(tmp_path / "hub.db")
    store.set_risk_level("home-p", "high")
    store.close()
    provision_kit(
        home_id="home-p", kit_id="kit-q", template=REPO / "firmware_configs" / "flat-one-room.yaml",
        hub_db=tmp_path / "hub.db", broker_url="mqtts://broker.example:8883",
        out_dir=tmp_path / "out-q", passwd_file=tmp_path / "broker" / "passwd",
        acl_file=tmp_path / "broker" / "acl",
    )
    store = SqliteStore(tmp_path / "hub.db")
    home = store.home("home-p")
    kits = [k.id for k in store.kits_of_home("home-p")]
    store.close()
    assert home is not None
    assert (home.name, home.mahalla, home.risk_level) == ("Karimova", "Chilonzor-7", "high")
    assert kits == ["kit-p", "kit-q"]
