"""Shared fixtures: a real Mosquitto per test, hub settings pointing at it, a registry of homes."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.broker_auth import BrokerUser, hub_acl_rules, kit_acl_rules
from mehr_app.services.mosquitto import HUB_USER, Mosquitto
from tests.support.postgres import PostgresServer, find_pg_bin, running_postgres
from tests.support.schedule import UNITS_FILE_KEY, make_scheduler, order_and_write_units

_UNITS_DIR = pytest.StashKey[Path]()

# -- spreading the suite over pytest-xdist workers (`make test`; tests/support/schedule.py) ------


def pytest_configure(config: pytest.Config) -> None:
    """In the controller of a `--dist loadgroup` run: a directory for the workers' units file."""
    if config.getoption("dist", None) == "loadgroup" and not hasattr(config, "workerinput"):
        config.stash[_UNITS_DIR] = Path(tempfile.mkdtemp(prefix="mehr-xdist-"))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the units file's directory."""
    directory = config.stash.get(_UNITS_DIR, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown to pytest without xdist
def pytest_configure_node(node: Any) -> None:
    """Tell each worker where to write the units (an xdist hook, called in the controller)."""
    directory = node.config.stash.get(_UNITS_DIR, None)
    if directory is not None:
        node.workerinput[UNITS_FILE_KEY] = str(directory / "units.json")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup`: our scheduler, which reads the units the workers wrote."""
    directory = config.stash.get(_UNITS_DIR, None)
    if directory is None:
        return None
    # Keep the workers' order (slow tests first) rather than xdist's largest-unit-first.
    config.option.loadscopereorder = False
    return make_scheduler(config, log, directory / "units.json")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker: order the collection and write its units for the controller."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and UNITS_FILE_KEY in workerinput:
        order_and_write_units(items, Path(workerinput[UNITS_FILE_KEY]))


@pytest.fixture
def hub_password() -> str:
    """A fresh random password for the hub's broker user."""
    return secrets.token_urlsafe(16)


@pytest.fixture
def mosquitto(tmp_path: Path, hub_password: str) -> Iterator[Mosquitto]:
    """A running Mosquitto with a hub user; add kit users with `kit_user` before (re)start."""
    broker = Mosquitto(
        tmp_path / "mosquitto",
        users=[BrokerUser(HUB_USER, hub_password, hub_acl_rules())],
    )
    broker.start()
    yield broker
    broker.stop()


def kit_user(home_id: str, kit_id: str) -> BrokerUser:
    """A broker user for one kit, allowed only its own home's topics."""
    return BrokerUser(kit_id, secrets.token_urlsafe(12), kit_acl_rules(home_id, kit_id))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session, a fresh database per test (skipped only where the
    OS package is missing: `make test` installs it)."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with running_postgres() as server:
        yield server
