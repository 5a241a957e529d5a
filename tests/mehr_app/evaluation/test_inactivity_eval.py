"""`mehr eval inactivity` on a CASAS file the test writes from a simulated resident's diary."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detectors import Kind, Place
from mehr_app.cli import main
from mehr_app.evaluation.inactivity import evaluate_inactivity, recording_from
from tests.detectors.homes import OFFSET, live

_NAMES = {
    Place.KITCHEN: ("M001", "Kitchen"),
    Place.LIVING: ("M002", "LivingRoom"),
    Place.BATHROOM: ("M003", "Bathroom"),
    Place.BEDROOM: ("M004", "Bedroom"),
    Place.ENTRANCE: ("D001", "FrontDoor"),
}


def _write_casas(path: Path, days: int, seed: int) -> None:
    events = live(days, seed=seed).events()
    lines = []
    for t, place, kind in zip(events.times_s, events.places, events.kinds, strict=True):
        local = datetime.fromtimestamp(t + OFFSET, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        name, room = _NAMES[Place(int(place))]
        if kind == Kind.DOOR:
            lines.append(f"{local} {name} {room} OPEN")
        else:
            lines.append(f"{local} {name} {room} ON")
    path.write_text("\n".join(lines) + "\n")


def test_eval_inactivity_prints_the_promised_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    casas = tmp_path / "home.txt"
    _write_casas(casas, days=24, seed=4)
    code = main(["eval", "inactivity", "--casas", str(casas), "--incidents", "6", "--seed", "2"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "days_evaluated",
        "false_alerts",
        "false_alerts_per_30_days",
        "incidents",
        "detected",
        "missed",
        "median_delay_min",
        "p90_delay_min",
        "prompts_per_day",
        "delay_by_room",
        "false_alerts_in_absences",
    ):
        assert key in result
    assert result["incidents"] == 6
    assert result["detected"] + result["missed"] == 6
    assert result["detected"] >= 5, "a resident who stops moving at home is noticed"
    assert result["median_delay_min"] <= 12 * 60


def test_removing_the_rest_of_the_day_is_caught_and_an_ordinary_day_is_quiet() -> None:
    events = live(30, seed=9).events()
    rec = recording_from(events.times_s, events.places, events.kinds, events.rooms, OFFSET)
    result = evaluate_inactivity(rec, train_days=14, incidents=10, seed=3)
    assert result["missed"] == 0
    assert result["median_delay_min"] is not None and result["median_delay_min"] <= 120


def test_too_short_a_recording_is_a_clear_error() -> None:
    events = live(5, seed=1).events()
    rec = recording_from(events.times_s, events.places, events.kinds, events.rooms, OFFSET)
    with pytest.raises(ValueError, match="not enough to learn"):
        evaluate_inactivity(rec, train_days=14, incidents=1)


def test_a_door_and_a_motion_sensor_sharing_a_name_are_both_read(tmp_path: Path) -> None:
    from mehr_app.evaluation.casas_home import load_casas_home

    casas = tmp_path / "home.txt"
    casas.write_text(
        "2024-01-01 08:00:00.000000 M001 Kitchen ON\n"
        "2024-01-01 09:00:00.000000 OutsideDoor OutsideDoor OPEN\n"
        "2024-01-01 09:00:05.000000 OutsideDoor OutsideDoor ON\n"
        "2024-01-01 09:00:09.000000 OutsideDoor OutsideDoor CLOSE\n"
        "2024-01-01 09:00:12.000000 OutsideDoor OutsideDoor OFF\n"
    )
    rec = load_casas_home(casas)
    kinds = [Kind(int(k)) for k in rec.kinds]
    assert kinds.count(Kind.DOOR) == 2, "the door contact is not dropped"
    assert kinds.count(Kind.MOTION) == 2, "nor is the motion sensor of the same name"
    assert all(Place(int(p)) is Place.ENTRANCE for p in rec.places[1:])


def _write_ordonez(directory: Path, days: int, seed: int) -> None:
    """The diary as an Ordonez `*_Sensors.txt`: 30 s PIR intervals, 10 s door intervals."""
    events = live(days, seed=seed).events()
    lines = ["Start time\tEnd time\tLocation\tType\tPlace", "----\t----\t----\t----\t----"]
    names = {
        Place.KITCHEN: ("Cooktop", "PIR", "Kitchen"),
        Place.LIVING: ("Door", "PIR", "Living"),
        Place.BATHROOM: ("Basin", "PIR", "Bathroom"),
        Place.BEDROOM: ("Door", "PIR", "Bedroom"),
        Place.ENTRANCE: ("Maindoor", "Magnetic", "Entrance"),
    }
    for t, place in zip(events.times_s, events.places, strict=True):
        location, sensor_type, room = names[Place(int(place))]
        if place == Place.ENTRANCE and sensor_type == "PIR":
            continue
        length = 10.0 if sensor_type == "Magnetic" else 30.0
        start = datetime.fromtimestamp(t + OFFSET, UTC).strftime("%Y-%m-%d %H:%M:%S")
        end = datetime.fromtimestamp(t + OFFSET + length, UTC).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{start}\t\t{end}\t\t{location}\t\t{sensor_type}\t\t{room}")
    (directory / "OrdonezA_Sensors.txt").write_text("\n".join(lines) + "\n")


def test_eval_reads_an_ordonez_home_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_ordonez(tmp_path, days=20, seed=5)
    code = main(
        ["eval", "inactivity", "--ordonez", str(tmp_path), "--home", "A", "--incidents", "4"]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["incidents"] == 4 and result["detected"] == 4
    assert result["ask_first"] is True and result["answer_rate"] == 0.95
    assert result["injected_absence"]["false_alerts"] == 0, "days away: at most one not_back"


def test_a_miss_counts_as_infinite_delay() -> None:
    from mehr_app.evaluation.inactivity import _quantile_with_misses

    assert _quantile_with_misses([10.0, 20.0, float("inf")], 0.5) == 20.0
    assert _quantile_with_misses([10.0, float("inf"), float("inf")], 0.5) == float("inf")
