"""The config base: every settings field can be set from the environment (nested ones too), an
error in a variable names the variable, and the defaults the hub and web app share agree."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import Field

from dashboards.settings import WebSettings
from hub.config import HubSettings, load_settings
from mehr.configfile import (
    DEFAULT_TIME_ZONE,
    AlertsLinkSection,
    ConfigError,
    DatabaseSection,
    StrictModel,
    TimeZoneName,
    load_settings_model,
)


class _District(StrictModel):
    name: str
    timezone: TimeZoneName = DEFAULT_TIME_ZONE


class _Settings(StrictModel):
    district: _District
    port: int = Field(default=1, ge=1)


def _load(path: Path | None, environ: dict[str, str]) -> _Settings:
    settings, _ = load_settings_model(path, _Settings, {}, {}, "test settings", environ)
    return settings


def test_env_overrides_one_field_of_a_nested_section_and_keeps_the_files_others(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("district: {name: Chilonzor, timezone: Asia/Samarkand}\n")
    settings = _load(path, {"MEHR_DISTRICT__TIMEZONE": "Europe/Moscow"})
    assert settings.district == _District(name="Chilonzor", timezone="Europe/Moscow")
    assert _load(path, {}).district.timezone == "Asia/Samarkand"


def test_a_bad_nested_variable_is_named_with_its_field_and_expectation(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("district: {name: Chilonzor}\n")
    with pytest.raises(ConfigError) as info:
        _load(path, {"MEHR_DISTRICT__TIMEZONE": "Mars/Olympus"})
    assert str(info.value).startswith(
        "MEHR_DISTRICT__TIMEZONE: district.timezone: Value error, expected an IANA time zone"
    )


def test_a_bad_value_in_the_file_still_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("district: {name: Chilonzor}\nport: 0\n")
    with pytest.raises(ConfigError) as info:
        _load(path, {"MEHR_DISTRICT__NAME": "Yunusobod"})
    assert str(info.value).startswith(f"{path}: port: Input should be greater than or equal to 1")


def test_a_whole_section_can_come_from_one_json_variable() -> None:
    settings = _load(None, {"MEHR_DISTRICT": '{"name": "Yunusobod"}', "MEHR_PORT": "8"})
    assert settings == _Settings(district=_District(name="Yunusobod"), port=8)


def test_every_hub_field_is_overridable_by_its_mehr_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("stats_port: 9000\nbatch_max: 100\n")
    monkeypatch.setenv("MEHR_STATS_PORT", "9100")
    monkeypatch.setenv("MEHR_PUBLIC_BASE_URL", "https://mehr.example.uz")
    monkeypatch.setenv("MEHR_DB_PATH", str(tmp_path / "new.db"))
    monkeypatch.setenv("MEHR_DB", str(tmp_path / "old-name.db"))
    settings = load_settings(path)
    assert settings.stats_port == 9100
    assert settings.batch_max == 100
    assert settings.public_base_url == "https://mehr.example.uz"
    # The older MEHR_DB still works, but the field's own name wins when both are set.
    assert settings.db_path == tmp_path / "new.db"
    monkeypatch.delenv("MEHR_DB_PATH")
    assert load_settings(path).db_path == tmp_path / "old-name.db"


def test_a_bad_hub_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEHR_STATS_PORT", "eighty")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert str(info.value) == (
        "MEHR_STATS_PORT: stats_port: Input should be a valid integer, unable to parse string "
        "as an integer (got 'eighty')"
    )


def test_the_environment_cannot_switch_the_demo_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEHR_DEMO_MODE", "true")
    with pytest.raises(ConfigError, match="demo mode is switched on only by `mehr demo`"):
        load_settings(None)


def test_acknowledge_links_point_at_the_port_the_web_app_listens_on_by_default() -> None:
    link_port = urlsplit(HubSettings().public_base_url).port
    assert link_port == WebSettings.model_fields["port"].default


def test_hub_and_web_share_one_definition_of_the_database_and_link_key_fields() -> None:
    for section in (DatabaseSection, AlertsLinkSection):
        assert issubclass(HubSettings, section)
        assert issubclass(WebSettings, section)
        for name in section.model_fields:
            assert repr(HubSettings.model_fields[name]) == repr(WebSettings.model_fields[name])
