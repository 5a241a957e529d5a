"""Fixtures of the edge tests: gpiozero's MockFactory as the pin factory, a test CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from tests.support.tls import KitPKI, make_ca


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    """A fresh MockFactory installed as gpiozero's default (its software SPI needs that)."""
    factory = MockFactory()
    previous = Device.pin_factory
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = previous


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> KitPKI:
    """A test CA (made once per session; openssl key generation takes a moment)."""
    return make_ca(Path(tmp_path_factory.mktemp("pki")))
