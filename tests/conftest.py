"""Shared fixtures: a real Mosquitto per test, hub settings pointing at it, a registry of homes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.broker_auth import BrokerUser, hub_acl_rules, kit_acl_rules
from mehr_app.services.mosquitto import HUB_USER, Mosquitto


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
