"""`mehr user add`, `mehr registry import|export` on a real database file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboards.accounts import LANGS, Role, get_user_by_name
from dashboards.db import Database
from dashboards.registry_io import EXPORTS
from mehr_app import cli_web
from mehr_app.cli import main


def test_cli_choices_match_the_code() -> None:
    """The parser's literal lists are the roles, exports and languages the code knows."""
    import argparse

    parser = argparse.ArgumentParser()
    cli_web.register(parser.add_subparsers())
    choices: set[tuple[str, ...]] = set()

    def walk(p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            if action.choices is not None and not isinstance(action.choices, dict):
                choices.add(tuple(action.choices))
            if isinstance(action.choices, dict):
                for child in action.choices.values():
                    walk(child)

    walk(parser)
    assert tuple(r.value for r in Role) in choices
    assert EXPORTS in choices
    assert LANGS in choices


def test_user_add_creates_a_scoped_account(tmp_path: Path) -> None:
    """An admin creates a family account for one home from the command line."""
    db = tmp_path / "m.db"
    code = main(
        [
            "user",
            "add",
            "--db",
            str(db),
            "--config",
            str(_cfg(tmp_path)),
            "nodira",
            "--role",
            "family",
            "--home",
            "home-1",
            "--password",
            "long-password-1",
        ]
    )
    assert code == 0
    conn = Database(db).connect()
    found = get_user_by_name(conn, "nodira")
    assert found is not None and found[0].homes == frozenset({"home-1"})
    assert found[1].startswith("$argon2id$")


def test_user_add_refuses_a_short_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Weak passwords are refused with a message, not stored."""
    code = main(
        [
            "user",
            "add",
            "--db",
            str(tmp_path / "m.db"),
            "--config",
            str(_cfg(tmp_path)),
            "x",
            "--role",
            "admin",
            "--password",
            "short",
        ]
    )
    assert code == 2
    assert "at least 10" in capsys.readouterr().err


def _cfg(tmp: Path) -> Path:
    path = tmp / "web.yaml"
    path.write_text(
        "secret_key: 'Hn4tW8qZr2XcL6vPm0YbK9jFs3dGa7Te'\n"
        "argon2_time_cost: 1\nargon2_memory_kib: 8\n"
    )
    return path


def test_registry_import_is_idempotent_and_reports_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Row by row: good rows land once, bad rows come back with the reason; re-import is a no-op."""
    db, cfg = tmp_path / "m.db", _cfg(tmp_path)
    csv_file = tmp_path / "reg.csv"
    csv_file.write_text(
        "person_id,full_name,birth_date,address,mahalla,risk_level,home_id,languages,contacts\n"
        "P1,Karimova Aziza,1941-02-03,near the mosque,Navbahor,high,home-1,uz;ru,"
        '"[{""name"": ""Nodira"", ""phone"": ""+998901234567"", ""preference"": ""first""}]"\n'
        "P2,No Date,1850-01-01,,Navbahor,medium,,uz,\n"
        "P3,Bad Risk,1950-01-01,,Navbahor,extreme,,uz,\n",
        encoding="utf-8",
    )
    assert main(["registry", "import", "--db", str(db), "--config", str(cfg), str(csv_file)]) == 1
    first = json.loads(capsys.readouterr().out)
    assert (first["created"], first["homes_created"]) == (1, 1)
    assert [r["row"] for r in first["rejected"]] == [2, 3]
    assert "birth_date" in first["rejected"][0]["reason"]
    assert "risk_level" in first["rejected"][1]["reason"]
    main(["registry", "import", "--db", str(db), "--config", str(cfg), str(csv_file)])
    again = json.loads(capsys.readouterr().out)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 1)
    out = tmp_path / "residents.json"
    assert (
        main(
            [
                "registry",
                "export",
                "residents",
                "--db",
                str(db),
                "--config",
                str(cfg),
                "--format",
                "json",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = json.loads(out.read_text())
    assert rows[0]["person_id"] == "P1" and rows[0]["contacts"][0]["preference"] == "first"
    # The export reads back in unchanged: the round trip is the same data.
    out.write_text(json.dumps(rows))
    main(["registry", "import", "--db", str(db), "--config", str(cfg), str(out)])
    assert json.loads(capsys.readouterr().out)["unchanged"] == 1
