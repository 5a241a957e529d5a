"""The simulators' CLI: CASAS export, scenario verdicts as exit codes, replay's sensor list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mehr_app.cli import main
from simulators.casas import read_casas


def test_simulate_export_casas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "home.casas"
    assert (
        main(["simulate", "--days", "3", "--seed", "4", "--export", "casas", str(out), "--quiet"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["events"] == len(list(read_casas(out))) > 0
    assert summary["days"] == 3


def _scenario(tmp_path: Path, extra_incident: str = "", extra_expect: str = "") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: cli-check\ndays: 1\nseed: 1\nstep_minutes: 30\nheartbeat_s: 900\n"
        "homes:\n  - {id: home-1, kit: kit-1}\n  - {id: home-2, kit: kit-2}\n"
        "incidents:\n  - {kind: help_button, home: home-1, day: 0, time: '09:00'}\n"
        f"{extra_incident}"
        "expect:\n  - {kind: help_button, home: home-1, within_minutes: 1}\n"
        f"{extra_expect}"
    )
    return path


def test_scenario_exit_code_is_zero_when_met(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _scenario(tmp_path)
    assert (
        main(["simulate", "scenario", str(path), "--json", "--workdir", str(tmp_path / "w")]) == 0
    )
    [report] = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["expected"][0]["met"]


def test_scenario_exit_code_is_one_on_a_miss_and_an_unexpected_alert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _scenario(
        tmp_path,
        extra_incident="  - {kind: help_button, home: home-2, day: 0, time: '10:00'}\n",
        extra_expect="  - {kind: fall, home: home-1, incident: 0, within_minutes: 5}\n",
    )
    assert (
        main(["simulate", "scenario", str(path), "--json", "--workdir", str(tmp_path / "w")]) == 1
    )
    [report] = json.loads(capsys.readouterr().out)
    assert not report["passed"]
    assert [e["met"] for e in report["expected"]] == [True, False]
    assert report["unexpected"] == [{"kind": "help_button", "home": "home-2"}]


def test_a_scenario_typo_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("name: x\ndays: 1\nhomes: [{id: h, kit: k, mahala: y}]\n")
    assert main(["simulate", "scenario", str(path)]) == 2
    assert "typo.yaml: homes.0.mahala" in capsys.readouterr().err


def test_replay_prints_the_sensors_to_register(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    casas = tmp_path / "rec.txt"
    casas.write_text(
        "2011-06-15 07:42:10.12 OutsideDoor FrontDoor OPEN Leave_Home\n"
        "2011-06-15 07:43:00 M004 Kitchen ON\n"
    )
    assert main(["replay", str(casas), "--home", "h1", "--print-sensors"]) == 0
    sensors = json.loads(capsys.readouterr().out)
    assert sensors == {
        "outsidedoor": {"kind": "door", "room": "FrontDoor"},
        "m004": {"kind": "motion", "room": "Kitchen"},
    }
