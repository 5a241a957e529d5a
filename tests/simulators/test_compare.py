"""`mehr simulate --compare`: the reader, the figures, the fitted resident and the CLI.

Recorded homes here are made by the project (written in the Ordóñez format by the test); the
real development homes are never read by tests.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from mehr_app.cli import main
from simulators.compare import (
    activations_of,
    calibrate_sitting,
    figures,
    fit_profile,
    layout_like,
    whole_days,
)
from simulators.home import HomeLayout, HomeSimulator
from simulators.ordonez import Activation, OrdonezError, RecordedHome, read_ordonez
from simulators.resident import ResidentProfile

DAY = 86400.0
T0 = datetime(2026, 3, 2, tzinfo=UTC).timestamp()  # local wall time, as the reader keeps it


def _act(h0: float, h1: float, sensor: str, kind: str = "motion") -> Activation:
    return Activation(T0 + h0 * 3600, T0 + h1 * 3600, sensor, kind, "room")  # type: ignore[arg-type]


def _write_ordonez(path: Path, acts: list[Activation], places: dict[str, tuple[str, str]]) -> None:
    """Write activations as an Ordóñez Sensors file (sensor -> (type, place))."""
    lines = ["Start time\tEnd time\tLocation\tType\tPlace", "----\t----\t----\t----\t----"]
    for a in acts:
        name = a.sensor.split("-")[0].capitalize()
        sensor_type, place = places[a.sensor]
        start = datetime.fromtimestamp(a.start, UTC).strftime("%Y-%m-%d %H:%M:%S")
        end = datetime.fromtimestamp(a.end, UTC).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{start}\t\t{end}\t\t{name}\t\t{sensor_type}\t\t{place}")
    path.write_text("\n".join(lines) + "\n")


def test_reader_gives_each_sensor_its_mehr_kind(tmp_path: Path) -> None:
    acts = [_act(1, 8, "bed-bedroom"), _act(9, 9.01, "maindoor-entrance"),
            _act(9.5, 9.51, "fridge-kitchen"), _act(10, 10.1, "basin-bathroom"),
            _act(10.1, 10.11, "toilet-bathroom")]
    places = {"bed-bedroom": ("Pressure", "Bedroom"), "maindoor-entrance": ("Magnetic", "Entrance"),
              "fridge-kitchen": ("Magnetic", "Kitchen"), "basin-bathroom": ("PIR", "Bathroom"),
              "toilet-bathroom": ("Flush", "Bathroom")}
    _write_ordonez(tmp_path / "OrdonezA_Sensors.txt", acts, places)
    home = read_ordonez(tmp_path, "A")
    assert home.sensors() == {
        "bed-bedroom": ("occupancy", "Bedroom"),
        "maindoor-entrance": ("door", "Entrance"),
        "fridge-kitchen": ("appliance", "Kitchen"),  # a fridge open is use, not going out
        "basin-bathroom": ("motion", "Bathroom"),
        "toilet-bathroom": ("appliance", "Bathroom"),
    }
    assert [a.start for a in home.activations] == sorted(a.start for a in acts)


def test_reader_names_the_file_and_line_of_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "OrdonezB_Sensors.txt"
    path.write_text("h\nh\n2012-11-11 21:14:21\t2012-11-11 21:14:30\tSeat\tPressure\tLiving\n"
                    "2012-11-11 21:15:00\tSeat\tPressure\n")
    with pytest.raises(OrdonezError, match=r"OrdonezB_Sensors.txt:4: expected 5 columns"):
        read_ordonez(tmp_path, "B")


def test_a_seated_resident_is_a_motion_silence_but_not_a_silence_of_life() -> None:
    # In the armchair 14:00-17:00 with one movement at 15:30; out 10:00-12:00 (the front door
    # at both ends), busy 17:00-18:12, asleep from midnight.
    acts = [
        _act(0, 0.01, "pir"),
        _act(10, 10.01, "door", "door"),
        _act(12, 12.01, "door", "door"),
        _act(12.05, 12.1, "pir"),
        _act(13.9, 14.0, "pir"),
        _act(14.0, 17.0, "seat", "occupancy"),
        _act(15.5, 15.51, "pir"),
        _act(17.0, 18.2, "pir"),
        _act(23.9, 24.0, "pir"),
    ]
    fig = figures(acts, T0, T0 + DAY)
    # Motion: 12:06-13:54, 14:00-15:30 and 15:31-17:00 are afternoon silences over an hour;
    # the outing is none (the morning has no silence), the evening has one of 5.7 h.
    assert fig.motion_silences[("afternoon", 60)] == 3
    assert fig.motion_silences[("afternoon", 120)] == 0
    assert fig.motion_silences[("morning", 30)] == 0
    assert fig.motion_silences[("evening", 120)] == 1
    assert fig.outings_per_day == 1
    # Life: the mat says she sat 14:00-17:00, so only 12:06-13:54 is left of the afternoon.
    assert fig.life_silences[("afternoon", 60)] == 1
    assert fig.life_silences[("evening", 120)] == 1


def _simulated_home(profile: ResidentProfile, days: int) -> RecordedHome:
    layout = HomeLayout.standard("h", "k", accelerometer=False, occupancy=True, timezone="UTC")
    sim = HomeSimulator(layout, profile, start=date(2026, 3, 1))
    acts = activations_of(sim.days(days))
    return RecordedHome("made", tuple(a for a in acts if a.start >= sim.day_start(1)))


def test_fitted_resident_keeps_the_recorded_one_s_sleep_and_sitting() -> None:
    truth = ResidentProfile(seed=3, bed_h=25.0, wake_h=9.0, sit_median_min=80.0, sit_spread=0.7)
    made = _simulated_home(truth, 22)
    fitted = calibrate_sitting(made, fit_profile(made))
    assert abs(fitted.bed_h - 25.0) < 0.5
    assert abs(fitted.wake_h - 9.0) < 0.5
    assert 0.7 * 80.0 < fitted.sit_median_min < 1.3 * 80.0
    assert abs(fitted.sit_share - truth.sit_share) < 0.2


def test_simulated_twin_has_the_recorded_home_s_sensors() -> None:
    home = RecordedHome("r", (_act(0, 1, "door-kitchen"), _act(1, 2, "shower-bathroom"),
                              _act(2, 3, "seat-living", "occupancy")))
    layout = layout_like(home)
    assert layout.sensor("door-kitchen").doorway
    assert layout.sensor("shower-bathroom").sees == ("Shower",)
    assert layout.sensor("seat-living").kind == "occupancy"


def test_compare_cli_prints_both_homes_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = _simulated_home(ResidentProfile(seed=5, bed_h=24.5, wake_h=8.5), 8)
    kinds = {"motion": "PIR", "occupancy": "Pressure", "door": "Magnetic", "appliance": "Flush"}
    places = {a.sensor: (kinds[a.kind], a.room.split()[0]) for a in made.activations}
    _write_ordonez(tmp_path / "OrdonezA_Sensors.txt", list(made.activations), places)
    lo, hi = whole_days(made.activations)
    assert main(["simulate", "--compare", str(tmp_path), "--home", "A", "--days", "7"]) == 0
    out = capsys.readouterr().out
    assert f"OrdonezA: {round((hi - lo) / DAY)} days; simulated: 7 days" in out
    for figure in ("motion-only silences >= 60 min, afternoon /day", "outings per day",
                   "no-sign-of-life silences >= 120 min, night /day", "KS D motion gaps"):
        assert figure in out
    assert main(["simulate", "--compare", str(tmp_path), "--home", "C"]) == 2


def test_compare_reads_a_casas_file_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "home.casas"
    assert main(["simulate", "--days", "4", "--seed", "2", "--export", "casas", str(out),
                 "--quiet"]) == 0
    capsys.readouterr()
    code = main(["simulate", "--compare", str(out), "--format", "casas", "--days", "4", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["real"]["days"] == 2  # whole days only: the first and last are cut short
    rows = {r["figure"]: r for r in report["rows"]}
    assert rows["outings per day"]["real"] >= 0
    assert rows["motion-only silences >= 60 min, afternoon /day"]["sim"] >= 0
    assert main(["simulate", "--compare", str(tmp_path / "missing.casas"), "--format",
                 "casas"]) == 2
