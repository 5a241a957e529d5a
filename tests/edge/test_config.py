"""Kit config: each kind of mistake gives one line naming file, field and expectation, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge.config import KitConfig, load_kit_config
from mehr.configfile import ConfigError
from mehr_app.cli import main

REPO = Path(__file__).resolve().parents[2]


def _good() -> dict:
    return {
        "home_id": "home-1",
        "kit_id": "kit-1",
        "broker": {"url": "mqtts://broker.example:8883", "password_file": "kit-1.password"},
        "sensors": [
            {"id": "hall-motion", "kind": "motion", "pin": 17, "room": "hall"},
            {"id": "front-door", "kind": "door", "pin": 22, "room": "hall"},
            {"id": "help", "kind": "help_button", "pin": 23, "room": "bedroom"},
        ],
        "outputs": {"buzzer_pin": 18},
    }


def _run_edge_check(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    path = tmp_path / "kit.yaml"
    path.write_text(text)
    code = main(["--lang", "en", "edge", "--config", str(path), "--check"])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("name", ["flat-one-room.yaml", "house.yaml", "zigbee-flat.yaml"])
def test_example_kit_configs_are_valid(name: str) -> None:
    config = load_kit_config(REPO / "firmware_configs" / name)
    assert config.sensors
    assert config.broker.address()[2] is True  # the examples use TLS


def test_good_config_passes_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kit.yaml"
    path.write_text(yaml.safe_dump(_good()))
    assert main(["--lang", "en", "edge", "--config", str(path), "--check", "--config-only"]) == 0
    assert "OK (3 sensors" in capsys.readouterr().out


def _mistake(kind: str) -> str:
    data = _good()
    if kind == "pin_twice":
        data["sensors"][1]["pin"] = 17
    elif kind == "pin_twice_output":
        data["outputs"]["buzzer_pin"] = 23
    elif kind == "pin_on_spi":
        data["sensors"].append({"id": "acc", "kind": "accelerometer", "room": "hall"})
        data["sensors"][0]["pin"] = 10
    elif kind == "unknown_kind":
        data["sensors"][2]["kind"] = "smoke"
    elif kind == "missing_room":
        del data["sensors"][1]["room"]
    elif kind == "typo_field":
        data["sensors"][0]["pinn"] = 4
    elif kind == "plain_tcp":
        data["broker"]["url"] = "mqtt://broker.example:1883"
    elif kind == "duplicate_id":
        data["sensors"][1]["id"] = "hall-motion"
    return yaml.safe_dump(data)


@pytest.mark.parametrize(
    ("kind", "field", "expectation"),
    [
        ("pin_twice", "sensors", "GPIO17 (sensor 'front-door') is already used by sensor"),
        ("pin_twice_output", "(top level)", "outputs.buzzer_pin: GPIO23 is already used"),
        ("pin_on_spi", "sensors", "SPI0"),
        (
            "unknown_kind",
            "sensors.2",
            "'motion', 'door', 'help_button', 'fall', 'occupancy', 'appliance', 'accelerometer'",
        ),
        ("missing_room", "sensors.1.door.room", "Field required"),
        ("typo_field", "sensors.0.motion.pinn", "Extra inputs are not permitted"),
        ("plain_tcp", "broker", "insecure_plain_tcp"),
        ("duplicate_id", "sensors", "expected each sensor id once"),
    ],
)
def test_each_mistake_gives_one_line_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, field: str, expectation: str
) -> None:
    code, err = _run_edge_check(tmp_path, _mistake(kind), capsys)
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"mehr: {tmp_path / 'kit.yaml'}: {field}: "), err
    assert expectation in err


def test_bad_yaml_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "home_id: h\nsensors: [\n  - {id: a, kind: motion\n"
    code, err = _run_edge_check(tmp_path, text, capsys)
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "kit.yaml: bad YAML at line" in err


def test_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "en", "edge", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: cannot read" in capsys.readouterr().err


def test_the_real_command_exits_non_zero_before_touching_hardware(tmp_path: Path) -> None:
    path = tmp_path / "kit.yaml"
    path.write_text(_mistake("pin_twice"))
    proc = subprocess.run(
        [sys.executable, "-m", "mehr_app", "edge", "--config", str(path)],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "is already used by" in proc.stderr


def test_relative_paths_resolve_next_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kits" / "kit.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(_good()))
    config = load_kit_config(path)
    assert config.broker.password_file == tmp_path / "kits" / "kit-1.password"
    assert config.username == "kit-1"


def test_model_forbids_unknown_top_level_fields() -> None:
    data = _good() | {"heartbeat": 60}
    with pytest.raises(ValueError, match="Extra inputs"):
        KitConfig.model_validate(data)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
