"""The Ordonez reader on a small home the test writes in the data set's layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors import Kind, Place
from mehr_app.evaluation.ordonez import (
    OrdonezError,
    load_ordonez_home,
    ordonez_events,
    read_intervals,
)

_HEADER = (
    "Start time          \tEnd time            \tLocation\tType\t\tPlace\n"
    "--------------------\t--------------------\t--------\t--------\t-----\n"
)
_ROWS = [
    ("2012-11-11 21:14:21", "2012-11-12 00:21:49", "Seat", "Pressure", "Living"),
    ("2012-11-12 00:22:57", "2012-11-12 00:22:59", "Door", "PIR", "Living"),
    ("2012-11-12 00:23:14", "2012-11-12 00:23:17", "Door", "PIR", "Kitchen"),
    ("2012-11-12 00:24:00", "2012-11-12 00:24:30", "Fridge", "Magnetic", "Kitchen"),
    ("2012-11-12 00:30:00", "2012-11-12 00:30:05", "Toilet", "Flush", "Bathroom"),
    ("2012-11-12 09:00:00", "2012-11-12 09:00:20", "Maindoor", "Magnetic", "Entrance"),
]


def _write(directory: Path, rows: list[tuple[str, ...]], home: str = "B") -> Path:
    # The real files separate columns by runs of tabs of varying length.
    text = _HEADER + "".join("\t\t".join(r) + "\n" for r in rows)
    path = directory / f"Ordonez{home}_Sensors.txt"
    path.write_text(text)
    return path


def test_intervals_become_the_projects_events(tmp_path: Path) -> None:
    events = ordonez_events(read_intervals(_write(tmp_path, _ROWS)))
    kinds = [(e.sensor, e.kind, e.value) for e in events]
    assert kinds[:2] == [("Seat Living", "occupancy", True), ("Seat Living", "occupancy", False)]
    assert ("Door Kitchen", "motion", True) in kinds  # B's PIRs share a name, not a place
    assert ("Fridge Kitchen", "appliance", True) in kinds
    assert ("Toilet Bathroom", "appliance", True) in kinds
    assert ("Maindoor Entrance", "door", True) in kinds
    assert ("Maindoor Entrance", "door", False) in kinds


def test_a_home_reads_as_signs_of_life_in_local_time(tmp_path: Path) -> None:
    _write(tmp_path, _ROWS)
    rec = load_ordonez_home(tmp_path, "B")
    kinds = [Kind(int(k)) for k in rec.kinds]
    assert kinds[:2] == [Kind.OCCUPIED, Kind.VACATED]
    assert kinds.count(Kind.APPLIANCE) == 2 and kinds.count(Kind.DOOR) == 2
    assert Kind.MOTION in kinds and len(kinds) == 8  # motion resets are not signs of life
    assert Place(int(rec.places[-1])) is Place.ENTRANCE
    assert rec.utc_offset_s == 0.0
    assert rec.times_s[0] % 86_400 == pytest.approx(21 * 3600 + 14 * 60 + 21)


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(OrdonezError, match="no such file"):
        load_ordonez_home(tmp_path, "A")
    _write(tmp_path, [("2012-11-12 09:00:00", "2012-11-12 08:00:00", "Seat", "Pressure", "Living")])
    with pytest.raises(OrdonezError, match="ends before it starts"):
        load_ordonez_home(tmp_path, "B")
    _write(tmp_path, [("2012-11-12 09:00:00", "Seat", "Pressure", "Living")])
    with pytest.raises(OrdonezError, match="expected 5 columns"):
        load_ordonez_home(tmp_path, "B")
