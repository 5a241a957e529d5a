"""The installer's commands speak the installer's language: `--lang`, `MEHR_LANG`, the locale;
in Uzbek and Russian no English word of the interface, no raw kind id, no UTC time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.walktest import WalkTest
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from mehr.contract import SensorKind
from mehr_app.cli import main
from mehr_app.cli_language import choose_language
from mehr_app.services.mosquitto import Mosquitto, free_port
from tests.edge.helpers import write_kit
from tests.support.untranslated import problems

# What an installer types or reads as is: ids, and the commands they are told to run.
COMMANDS = (
    "mehr kit check", "mehr kit provision", "mehr kit report", "mehr edge",
    "systemctl status mehr-edge", "/etc/mehr/kit.yaml",
)
STARTED = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 09:00 in Tashkent
FIRED = datetime(2026, 3, 1, 4, 2, 7, tzinfo=UTC)  # 09:02:07 in Tashkent




def _home() -> HomeSpec:
    """A home whose sensor ids are labels, not words, so every word the check sees is ours."""
    return HomeSpec(id="home-1", name="Karimova", mahalla="Navbahor", kits=[KitSpec(
        id="kit-1",
        sensors=[
            SensorSpec(id="s1", kind=SensorKind.MOTION, room="Kitchen"),
            SensorSpec(id="s2", kind=SensorKind.MOTION, room="Bathroom"),
            SensorSpec(id="s3", kind=SensorKind.DOOR, room="Hallway"),
            SensorSpec(id="s4", kind=SensorKind.HELP_BUTTON, room="Bedroom"),
            SensorSpec(id="s5", kind=SensorKind.FALL, room="Bathroom"),
        ],
    )])


def _allowed(tmp_path: Path, *ids: str) -> list[str]:
    return [*ids, str(tmp_path), *COMMANDS]


@pytest.mark.parametrize(
    ("explicit", "environ", "expected"),
    [
        ("ru", {"MEHR_LANG": "en", "LANG": "uz_UZ.UTF-8"}, "ru"),
        (None, {"MEHR_LANG": "en", "LANG": "ru_RU.UTF-8"}, "en"),
        (None, {"LANG": "ru_RU.UTF-8"}, "ru"),
        (None, {"LC_ALL": "en_US.UTF-8", "LANG": "ru_RU.UTF-8"}, "en"),
        (None, {"LANG": "uz_UZ@latin"}, "uz"),
        (None, {"LANG": "C.UTF-8"}, "uz"),
        (None, {"LANG": "de_DE.UTF-8"}, "uz"),
        (None, {}, "uz"),
    ],
)
def test_the_language_is_the_option_then_mehr_lang_then_the_locale_then_uzbek(
    explicit: str | None, environ: dict[str, str], expected: str
) -> None:
    assert choose_language(explicit, environ) == expected


def test_a_mehr_lang_naming_no_language_of_mehr_is_an_error_not_a_silent_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEHR_LANG", "de")
    with pytest.raises(SystemExit) as exited:
        main(["kit", "report", "--kit", "kit-1", "--hub-db", "nowhere.db"])
    assert exited.value.code == 2
    assert "MEHR_LANG='de'" in capsys.readouterr().err


def _hub_with_a_walk_test(tmp_path: Path) -> Path:
    """A hub database with home-1/kit-1 registered and a walk test where one sensor fired."""
    db = tmp_path / "hub.db"
    store = SqliteStore(db)
    try:
        spec = _home()
        store.register_home(spec, STARTED)
        sensors = {s.id: (str(s.kind), s.room) for s in spec.kits[0].sensors}
        test = WalkTest("home-1", "kit-1", sensors, STARTED)
        test.observe("s1", FIRED)
        report = test.report(datetime(2026, 3, 1, 4, 10, tzinfo=UTC))
        store.save_commissioning_report("kit-1", "home-1", report.finished, report.passed,
                                        report.to_dict())
    finally:
        store.close()
    return db


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_kit_report_speaks_the_installers_language_in_the_homes_local_time(
    lang: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _hub_with_a_walk_test(tmp_path)
    code = main(["--lang", lang, "kit", "report", "--kit", "kit-1", "--hub-db", str(db)])
    out = capsys.readouterr().out
    assert code == 1  # four sensors never fired
    assert "09:02:07" in out  # the kitchen's first signal, Tashkent time
    kitchen, help_button = {"uz": ("Oshxona", "Yordam tugmasi"),
                            "ru": ("Кухня", "Кнопка помощи")}[lang]
    assert kitchen in out and help_button in out
    assert problems(out, lang, utc_moments=[STARTED, FIRED],
                    allow_ids=_allowed(tmp_path, "home-1", "kit-1")) == []


def test_kit_report_in_english_keeps_the_english_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _hub_with_a_walk_test(tmp_path)
    main(["--lang", "en", "kit", "report", "--kit", "kit-1", "--hub-db", str(db)])
    out = capsys.readouterr().out
    assert "Commissioning report: home home-1, kit kit-1" in out
    assert "FAIL: never fired: s2, s3, s4, s5" in out
    assert "  s4: press the button" in out


def test_mehr_lang_chooses_the_language_without_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _hub_with_a_walk_test(tmp_path)
    monkeypatch.setenv("MEHR_LANG", "ru")
    main(["kit", "report", "--kit", "kit-1", "--hub-db", str(db)])
    assert "НЕ ПРОЙДЕНО" in capsys.readouterr().out


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_kit_check_speaks_the_installers_language_from_start_to_report(
    lang: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "hub.db"
    store = SqliteStore(db)
    store.register_home(_home(), datetime.now(UTC))
    store.set_availability("kit-1", "online", datetime.now(UTC))
    store.commit()
    store.close()
    code = main(["--lang", lang, "kit", "check", "--kit", "kit-1", "--hub-db", str(db),
                 "--timeout", "0"])
    out = capsys.readouterr().out
    assert code == 1  # nothing fired within the (zero) timeout
    assert "(Asia/Tashkent)" in out
    assert problems(out, lang, allow_ids=_allowed(tmp_path, "home-1", "kit-1")) == []


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_kit_check_says_what_to_fix_for_a_kit_that_never_connected(
    lang: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "hub.db"
    store = SqliteStore(db)
    store.register_home(_home(), datetime.now(UTC))
    store.commit()
    store.close()
    kit_yaml = write_kit(tmp_path / "kit", "home-1", "kit-1", "pw",
                         f"mqtt://127.0.0.1:{free_port()}")
    code = main(["--lang", lang, "kit", "check", "--kit", "kit-1", "--hub-db", str(db),
                 "--kit-config", str(kit_yaml)])
    err = capsys.readouterr().err
    assert code == 3
    assert problems(err, lang, allow_ids=_allowed(tmp_path, "home-1", "kit-1")) == []


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_edge_check_says_the_refused_credentials_in_the_installers_language(
    lang: str, tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_kit(tmp_path / "kit", "home-c", "kit-c", "a-wrong-password", mosquitto.url)
    code = main(["--lang", lang, "edge", "--config", str(path), "--check"])
    captured = capsys.readouterr()
    assert code == 3
    assert {"uz": "rad etdi", "ru": "отклонил"}[lang] in captured.err
    assert problems(captured.out + captured.err, lang,
                    allow_ids=_allowed(tmp_path, str(path), "home-c", "kit-c")) == []


@pytest.mark.parametrize("lang", ["uz", "ru"])
def test_kit_provision_speaks_the_installers_language(
    lang: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    SqliteStore(tmp_path / "hub.db").close()  # the hub made its database before any kit
    repo = Path(__file__).resolve().parents[2]
    code = main([
        "--lang", lang, "kit", "provision", "--home", "home-p", "--kit", "kit-p",
        "--template", str(repo / "firmware_configs" / "flat-one-room.yaml"),
        "--hub-db", str(tmp_path / "hub.db"), "--broker-url", "mqtts://broker.example:8883",
        "--out-dir", str(tmp_path / "out"), "--passwd-file", str(tmp_path / "passwd"),
        "--acl-file", str(tmp_path / "acl"), "--broker-user", "root", "--no-broker-check",
    ])
    out = capsys.readouterr().out
    assert code == 0
    assert problems(out, lang, allow_ids=_allowed(tmp_path, "home-p", "kit-p")) == []
    missing = tmp_path / "typo" / "hub.db"
    code = main([
        "--lang", lang, "kit", "provision", "--home", "home-p", "--kit", "kit-p",
        "--template", str(repo / "firmware_configs" / "flat-one-room.yaml"),
        "--hub-db", str(missing), "--broker-url", "mqtts://broker.example:8883",
        "--out-dir", str(tmp_path / "out2"), "--no-broker-check",
    ])
    err = capsys.readouterr().err
    assert code == 2 and str(missing) in err
    assert problems(err, lang, allow_ids=_allowed(tmp_path, "home-p", "kit-p")) == []


def test_every_cli_key_the_commands_name_has_words_in_every_language() -> None:
    # The broker check names its keys beside their English (`_found`), where the catalogue's own
    # scan of `say(...)` calls does not look.
    import re

    from mehr.catalogue import LANGUAGES, entries

    source = "".join(
        path.read_text(encoding="utf-8")
        for path in (Path(__file__).resolve().parents[2] / "mehr_app").glob("*.py")
    )
    named = set(re.findall(r"[\"'](cli_[a-z0-9_]+)[\"']", source))
    assert {"cli_broker_refused", "cli_walk_pass"} <= named
    for lang in LANGUAGES:
        assert sorted(named - set(entries(lang))) == [], lang


def test_edge_check_on_a_kit_without_babel_speaks_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The Pi installs only the edge extra: no Babel, so the catalogue cannot be imported there.
    import sys

    monkeypatch.setitem(sys.modules, "mehr.catalogue", None)
    path = write_kit(tmp_path / "kit", "home-c", "kit-c", "pw", "mqtt://127.0.0.1:1")
    code = main(["--lang", "uz", "edge", "--config", str(path), "--check", "--config-only"])
    assert code == 0
    assert capsys.readouterr().out.strip() == f"{path}: OK (8 sensors, kit kit-c)"
