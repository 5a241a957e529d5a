"""Provisioning keeps the broker working: kits provisioned one after another through the
documented commands (provision, reload, `mehr edge --check`) against a Mosquitto that runs as its
own user all stay connected; every installer command says in one line what is wrong."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.agent import EdgeAgent
from edge.config import KitConfig, load_kit_config
from hub.broker_auth import BrokerUser, hub_acl_rules, kit_acl_rules
from hub.persistence.sqlite_store import SqliteStore
from mehr_app.broker_check import check_kit_broker
from mehr_app.cli import main
from mehr_app.services.mosquitto import Mosquitto, free_port
from mehr_app.services.wait import wait_until
from tests.conftest import HUB_USER
from tests.edge.helpers import start_hub, stored_events

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "firmware_configs" / "flat-one-room.yaml"
HELP_PIN = 23  # the template's help button


def _broker_account() -> str:
    for name in ("mosquitto", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    pytest.skip("no 'mosquitto' or 'nobody' user to run the broker as")


@pytest.fixture
def own_user_broker(hub_password: str) -> Iterator[Mosquitto]:
    """Mosquitto dropped to its own user (as Debian's service runs), files owned by it."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the broker must run as its own user, as in production")
    account = _broker_account()
    # Outside pytest's tmp_path: that is root's 0700 tree, which the broker's user cannot enter.
    workdir = Path(tempfile.mkdtemp(prefix="mehr-broker-"))
    broker = Mosquitto(workdir, [BrokerUser(HUB_USER, hub_password, hub_acl_rules())],
                       run_as=account)
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def _provision(tmp_path: Path, broker: Mosquitto, kit: str, home: str, *extra: str) -> int:
    return main([
        "--lang", "en",
        "kit", "provision", "--home", home, "--kit", kit, "--template", str(TEMPLATE),
        "--hub-db", str(tmp_path / "hub.db"), "--broker-url", broker.url,
        "--out-dir", str(tmp_path / "out"), "--passwd-file", str(broker.passwd_file),
        "--acl-file", str(broker.acl_file), "--broker-user", broker.run_as or "mosquitto",
        *extra,
    ])


def _kit_config(tmp_path: Path, kit: str) -> KitConfig:
    config = load_kit_config(tmp_path / "out" / f"{kit}.yaml")
    return config.model_copy(update={
        "outbox": config.outbox.model_copy(update={"path": tmp_path / f"{kit}-outbox.db"}),
    })


def test_three_kits_provisioned_one_after_another_all_stay_connected_and_publish(
    tmp_path: Path, own_user_broker: Mosquitto, hub_password: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broker = own_user_broker
    db = tmp_path / "hub.db"
    SqliteStore(db).close()  # `mehr hub` made its database before any kit
    hub = start_hub(broker, hub_password, db)
    agents: list[tuple[EdgeAgent, MockFactory]] = []
    try:
        for n in range(3):
            kit, home = f"kit-{n}", f"home-{n}"
            assert _provision(tmp_path, broker, kit, home) == 0
            broker.reload()  # `systemctl reload mosquitto` is SIGHUP
            config = _kit_config(tmp_path, kit)
            # SIGHUP is handled in the broker's next loop pass: poll until it took effect.
            wait_until(lambda c=config: check_kit_broker(c).ok, 10, f"{kit} accepted")  # type: ignore[misc]
            capsys.readouterr()
            assert main(["--lang", "en", "edge", "--config", str(tmp_path / "out" / f"{kit}.yaml"),
                         "--check"]) == 0
            assert "authorised for its topics" in capsys.readouterr().out
            factory = MockFactory()
            agent = EdgeAgent(config, pin_factory=factory, sample_accelerometers=False)
            agent.start()
            agents.append((agent, factory))
            assert agent.link is not None
            wait_until(agent.link.connected.is_set, 10, f"{kit} connected")

        owner = pwd.getpwuid(broker.passwd_file.stat().st_uid).pw_name
        assert owner == broker.run_as
        assert oct(broker.passwd_file.stat().st_mode)[-3:] == "600"
        for agent, factory in agents:
            assert agent.link is not None
            assert agent.link.connected.is_set()
            assert agent.link.connects == 1, "a reload knocked a kit off"
            factory.pin(HELP_PIN).drive_low()
        wait_until(lambda: {k for k in _kits_with_help(db)} == {"home-0", "home-1", "home-2"},
                   15, "a help press from each of the three kits at the hub")
    finally:
        for agent, _ in agents:
            agent.stop()
        hub.stop()


def _kits_with_help(db: Path) -> set[str]:
    return {home for home in ("home-0", "home-1", "home-2")
            if any(kind == "help_button" for *_, kind in stored_events(db, home))}


def test_provision_refuses_a_hub_database_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo" / "hub.db"
    code = main([
        "--lang", "en",
        "kit", "provision", "--home", "home-x", "--kit", "kit-x", "--template", str(TEMPLATE),
        "--hub-db", str(missing), "--broker-url", "mqtt://127.0.0.1:1",
        "--out-dir", str(tmp_path / "out"), "--no-broker-check",
    ])
    assert code == 2
    assert "no such database" in capsys.readouterr().err
    assert not missing.exists() and not (tmp_path / "out").exists()


def test_provision_checks_the_broker_first_and_changes_nothing_when_it_is_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    SqliteStore(tmp_path / "hub.db").close()
    passwd = tmp_path / "passwd"
    code = main([
        "--lang", "en",
        "kit", "provision", "--home", "home-x", "--kit", "kit-x", "--template", str(TEMPLATE),
        "--hub-db", str(tmp_path / "hub.db"), "--broker-url", f"mqtt://127.0.0.1:{free_port()}",
        "--out-dir", str(tmp_path / "out"), "--passwd-file", str(passwd),
    ])
    err = capsys.readouterr().err.strip()
    assert code == 3
    assert len(err.splitlines()) == 1 and "unreachable" in err and "nothing was changed" in err
    assert not passwd.exists() and not (tmp_path / "out").exists()
    store = SqliteStore(tmp_path / "hub.db")
    try:
        assert store.kit("kit-x") is None
    finally:
        store.close()


def _edge_check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["--lang", "en", "edge", "--config", str(path), "--check"])
    return code, capsys.readouterr().err.strip().splitlines()


def _write_kit(tmp_path: Path, url: str, password: str, home: str = "home-c") -> Path:
    from tests.edge.helpers import write_kit

    return write_kit(tmp_path / "kit", home, "kit-c", password, url)


def test_edge_check_says_in_one_line_that_the_broker_is_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_kit(tmp_path, f"mqtt://127.0.0.1:{free_port()}", "pw")
    code, err = _edge_check(path, capsys)
    assert code == 3
    assert len(err) == 1 and "unreachable" in err[0]


def test_edge_check_says_in_one_line_that_the_credentials_are_refused(
    tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    mosquitto.add_user(BrokerUser("kit-c", "the-real-password", kit_acl_rules("home-c", "kit-c")))
    mosquitto.restart()
    code, err = _edge_check(_write_kit(tmp_path, mosquitto.url, "a-wrong-password"), capsys)
    assert code == 3
    assert len(err) == 1 and "refused the credentials of kit-c" in err[0]


def test_edge_check_says_in_one_line_that_the_kit_is_not_authorised_for_its_topics(
    tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    # The ACL block names another home than the kit's YAML: the kit could connect, and every
    # event it sent would be dropped.
    mosquitto.add_user(BrokerUser("kit-c", "pw-c", kit_acl_rules("home-other", "kit-c")))
    mosquitto.restart()
    code, err = _edge_check(_write_kit(tmp_path, mosquitto.url, "pw-c"), capsys)
    assert code == 3
    assert len(err) == 1 and "refuses its topics" in err[0]


def test_kit_check_says_the_kit_never_connected_instead_of_waiting(
    tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "hub.db"
    SqliteStore(db).close()
    assert _provision_plain(tmp_path, mosquitto) == 0
    capsys.readouterr()
    # The broker was not reloaded: the kit's new credentials are not in force yet.
    code = main(["--lang", "en", "kit", "check", "--kit", "kit-k", "--hub-db", str(db),
                 "--timeout", "600",
                 "--kit-config", str(tmp_path / "out" / "kit-k.yaml")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert len(err) == 1
    assert "kit-k has never connected" in err[0] and "refused the credentials" in err[0]


def _provision_plain(tmp_path: Path, broker: Mosquitto) -> int:
    return main([
        "--lang", "en",
        "kit", "provision", "--home", "home-k", "--kit", "kit-k", "--template", str(TEMPLATE),
        "--hub-db", str(tmp_path / "hub.db"), "--broker-url", broker.url,
        "--out-dir", str(tmp_path / "out"), "--passwd-file", str(tmp_path / "passwd"),
        "--acl-file", str(tmp_path / "acl"),
    ])
