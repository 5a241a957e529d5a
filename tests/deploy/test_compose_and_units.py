"""The compose file and the systemd units: they validate, and their services' commands start
with the shipped configs and pass their own health checks on loopback."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mehr_app.services.wait import wait_until
from tests.deploy.district import (
    COMPOSE,
    MEHR,
    ROOT,
    UNITS,
    District,
    compose,
    passes,
    port_open,
    unit_exec_start,
)

_CORE = ("mosquitto", "hub", "web")


@pytest.fixture
def district(tmp_path: Path) -> Iterator[District]:
    d = District(tmp_path)
    d.lay_out()
    try:
        yield d
    finally:
        d.stop_all()


def _healthcheck(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD", "health checks run an argv, not a shell string"
    return list(test[1:])


def test_compose_file_has_the_compose_spec_essentials() -> None:
    """Services with an image or a build, a health check each, depends_on with conditions on
    services that exist, named volumes declared, optional services behind profiles."""
    data = compose()
    services: dict[str, Any] = data["services"]
    assert set(_CORE) <= set(services)
    declared_volumes = set(data["volumes"])
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency in services, (name, dependency)
            assert how["condition"] in ("service_started", "service_healthy",
                                        "service_completed_successfully"), (name, how)  # fmt: skip
            # A core service never waits for an optional one (a plain `up` would hang).
            if name in _CORE:
                assert "profiles" not in services[dependency], (name, dependency)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/", "$")):
                local = source.replace("${MEHR_ETC:-/etc/mehr}", "")
                if source.startswith("."):
                    assert (COMPOSE.parent / local).exists(), (name, volume)
            else:
                assert source in declared_volumes, (name, volume)
    for name in _CORE:
        assert "profiles" not in services[name], name
    assert {"postgres", "influxdb", "grafana", "prometheus"} <= {
        n for n, s in services.items() if s.get("profiles")
    }
    # The broker runs the shipped config mounted as it is, not a copy.
    broker = services["mosquitto"]
    assert (
        "../firmware_configs/mosquitto/mehr.conf:/etc/mosquitto/conf.d/mehr.conf:ro"
        in (broker["volumes"])
    )
    assert broker["command"][-1] == "/etc/mosquitto/conf.d/mehr.conf"
    assert services["hub"]["build"]["dockerfile"] == "Dockerfile"
    assert (ROOT / "Dockerfile").exists()


def test_compose_and_units_run_the_same_command_lines() -> None:
    """A fix to one layout's command reaches the other: compose adds only container overrides."""
    services = compose()["services"]
    for unit, service in (("mehr-hub.service", "hub"), ("mehr-web.service", "web")):
        unit_argv = unit_exec_start(unit)
        assert unit_argv[0] == "/opt/mehr/.venv/bin/mehr"
        assert services[service]["command"][: len(unit_argv) - 1] == unit_argv[1:]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """The units parse and their directives exist (the executable pointed at this venv)."""
    units = []
    for name in ("mehr-hub.service", "mehr-web.service", "mehr-edge.service"):
        text = (UNITS / name).read_text().replace("/opt/mehr/.venv/bin/mehr", str(MEHR))
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Unknown key" not in result.stderr, result.stderr


def _start_broker(district: District) -> None:
    broker = compose()["services"]["mosquitto"]
    proc = district.start(district.argv(broker["command"]), "mosquitto")
    wait_until(lambda: port_open(district.tls_port) or proc.poll() is not None, 20, "broker")
    assert proc.poll() is None, district.log("mosquitto")


@pytest.mark.slow
def test_compose_services_start_with_the_shipped_configs_and_pass_their_health_checks(
    district: District,
) -> None:
    """mosquitto (shipped mehr.conf, TLS with `mehr certs`), then the hub over TLS as its
    compose command says, then the web app: each answers its compose health check."""
    services = compose()["services"]
    _start_broker(district)
    hub = district.start(district.argv(services["hub"]["command"]), "hub")
    hub_check = district.argv(_healthcheck(services["hub"]))
    wait_until(lambda: passes(hub_check) or hub.poll() is not None, 60, "hub healthy")
    assert hub.poll() is None, district.log("hub")
    web = district.start(district.argv(services["web"]["command"]), "web")
    web_check = district.argv(_healthcheck(services["web"]))
    wait_until(lambda: passes(web_check) or web.poll() is not None, 60, "web healthy")
    assert web.poll() is None, district.log("web")


@pytest.mark.slow
def test_systemd_units_start_with_the_shipped_configs_and_pass_their_health_checks(
    district: District,
) -> None:
    """The units' ExecStart (hub on the broker's loopback listener, then the web app) with the
    shipped hub.yaml/web.yaml; the same health checks as compose answer 0."""
    services = compose()["services"]
    _start_broker(district)
    hub = district.start(district.argv(unit_exec_start("mehr-hub.service")), "hub")
    wait_until(lambda: passes(district.argv(_healthcheck(services["hub"])))
               or hub.poll() is not None, 60, "hub healthy")  # fmt: skip
    assert hub.poll() is None, district.log("hub")
    web = district.start(district.argv(unit_exec_start("mehr-web.service")), "web")
    wait_until(lambda: passes(district.argv(_healthcheck(services["web"])))
               or web.poll() is not None, 60, "web healthy")  # fmt: skip
    assert web.poll() is None, district.log("web")
