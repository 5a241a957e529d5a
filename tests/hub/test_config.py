"""A bad hub settings or registry file names the file, the field and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_settings
from hub.registry import load_registry
from mehr.configfile import ConfigError
from mehr_app.cli import main


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mqtt_url: http://broker\n", "mqtt_url: Value error, expected mqtt://host:port"),
        ("mqtt_protocol: 4\n", "mqtt_protocol: Input should be '5' or '3.1.1'"),
        ("batch_maxx: 5\n", "batch_maxx: Extra inputs are not permitted"),
        ("batch_max: 0\n", "batch_max: Input should be greater than or equal to 1"),
        ("mqtt_url: [unclosed\n", "bad YAML at line 2"),
        ("- a list\n", "(top level): expected a mapping"),
        (
            "database_url: mysql://hub@db/mehr\n",
            "database_url: Value error, expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
        ),
        (
            "database_url: postgresql://\n",
            "database_url: Value error, expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
        ),
        (
            "db_path: hub.db\ndatabase_url: postgresql://mehr@db/mehr\n",
            "db_path and database_url both set: expected one of the two",
        ),
        (
            "mqtt_urgent_username: mehr-hub\n",
            "mqtt_urgent_username: expected a broker user of its own",
        ),
        (
            "hub_id: a\nmqtt_urgent_username: mehr-hub-urgent\n",
            "expected this hub's own user, named with its hub_id (e.g. mehr-hub-a-urgent)",
        ),
    ],
)
def test_bad_settings_name_file_field_and_expectation(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("homes:\n- id: Home 1\n", "homes.0.id: String should match pattern"),
        ("homes:\n- id: h1\n  timezone: Mars/Olympus\n", "expected an IANA time zone"),
        (
            "homes:\n- id: h1\n  kits:\n  - id: k1\n    sensors:\n"
            "    - {id: s1, kind: smoke, room: Hall}\n",
            "homes.0.kits.0.sensors.0.kind: Input should be 'motion'",
        ),
        (
            "homes:\n- id: h1\n  kits:\n  - id: k1\n    sensors:\n    - {id: s1, kind: motion}\n",
            "homes.0.kits.0.sensors.0.room: Field required",
        ),
        (
            "homes:\n- {id: h1, kits: [{id: k1}]}\n- {id: h2, kits: [{id: k1}]}\n",
            "kit id 'k1' is used in two homes",
        ),
    ],
)
def test_bad_registry_names_the_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as info:
        load_registry(path)
    assert expected in str(info.value)


def test_hub_command_refuses_a_bad_config_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("db_pth: x.db\n")
    assert main(["hub", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"mehr: {path}: db_pth: Extra inputs are not permitted (got 'x.db')"


def test_a_database_url_names_postgresql_and_db_path_stays_the_sqlite_default(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("database_url: postgresql://mehr:secret@db.local:5433/mehr\n")
    settings = load_settings(path)
    assert settings.database() == "postgresql://mehr:secret@db.local:5433/mehr"
    assert not settings.uses_sqlite()
    assert "secret@" not in repr(settings)  # the URL may carry a password
    path.write_text("db_path: district.db\n")
    assert load_settings(path).database() == Path("district.db")
