"""CASAS export and import: 30 simulated days in under 5 s, read back event for event."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulators.casas import (
    CasasError,
    contract_value,
    infer_mapping,
    load_mapping,
    read_casas,
    write_casas,
)
from simulators.home import HomeLayout, HomeSimulator, SensorPhysics
from simulators.resident import ResidentProfile


def test_thirty_days_export_reads_back_event_for_event(tmp_path: Path) -> None:
    layout = HomeLayout.standard("home-1", "kit-1")
    path = tmp_path / "home.casas"
    sim = HomeSimulator(layout, ResidentProfile(seed=11), SensorPhysics(clock_offset_s=2.5))
    with path.open("w") as fh:
        written = write_casas(sim.days(30), fh, layout.tz)
    assert written > 30 * 300  # a lived-in home: hundreds of events a day

    sim2 = HomeSimulator(layout, ResidentProfile(seed=11), SensorPhysics(clock_offset_s=2.5))
    expected = [e for e in sim2.days(30) if e.window is None]
    back = list(read_casas(path))
    assert len(back) == len(expected) == written
    for ev, line in zip(expected, back, strict=True):
        local = datetime.fromtimestamp(ev.ts, UTC).astimezone(layout.tz).replace(tzinfo=None)
        assert line.local == local
        battery = ev.kind.value == "battery"
        assert line.sensor == (f"{ev.sensor}-battery" if battery else ev.sensor)
        assert line.location == ev.room.replace(" ", "_")
        kind = {
            "motion": "motion",
            "door": "door",
            "help_button": "help_button",
            "battery": "battery",
        }[ev.kind.value]
        assert contract_value(kind, line.value) == ev.value  # type: ignore[arg-type]
        assert (line.label or "") == ev.label


def test_reads_the_recorded_variants() -> None:
    text = (
        "2011-06-15 01:03:39.14962 Bedroom Bedroom ON Sleep\n"
        "2011-06-15 07:42:10.120000 OutsideDoor FrontDoor OPEN Leave_Home\n"
        "2010-11-04 00:03:50.209589\tM003\tON\n"
        "2010-11-04 00:03:57 M003 OFF Sleep begin\n"
        "# a comment\n\n"
        "2010-11-04 08:00:00.5 T002 21.5\n"
    )
    evs = list(read_casas(io.StringIO(text), "x.txt"))
    assert [(e.sensor, e.location, e.value, e.label) for e in evs] == [
        ("Bedroom", "Bedroom", "ON", "Sleep"),
        ("OutsideDoor", "FrontDoor", "OPEN", "Leave_Home"),
        ("M003", None, "ON", None),
        ("M003", None, "OFF", "Sleep begin"),
        ("T002", None, "21.5", None),
    ]
    assert evs[0].local == datetime(2011, 6, 15, 1, 3, 39, 149620)
    mapping = infer_mapping(evs)
    door = mapping.get("OutsideDoor")
    assert door is not None and door.kind == "door" and door.entrance and door.room == "FrontDoor"
    assert mapping.sensors["M003"].kind == "motion" and mapping.sensors["M003"].id == "m003"
    assert mapping.sensors["T002"].kind == "temperature"


def test_a_bad_line_names_file_and_line() -> None:
    with pytest.raises(CasasError, match=r"bad.txt:2: "):
        list(read_casas(io.StringIO("2011-06-15 01:03:39 M1 ON\n2011-13-45 xx M1 ON\n"), "bad.txt"))


def test_mapping_file_is_strict(tmp_path: Path) -> None:
    good = tmp_path / "map.yaml"
    good.write_text("sensors:\n  M001: {room: Kitchen, kind: motion, id: pir-kitchen}\n")
    assert load_mapping(good).sensors["M001"].id == "pir-kitchen"
    bad = tmp_path / "bad.yaml"
    bad.write_text("sensors:\n  M001: {room: Kitchen, kind: smoke}\n")
    from mehr.configfile import ConfigError

    with pytest.raises(ConfigError, match=r"bad\.yaml: sensors\.M001\.kind"):
        load_mapping(bad)


def test_mats_and_appliances_survive_the_export_and_reach_the_evaluation(tmp_path: Path) -> None:
    from detectors import Kind
    from mehr_app.evaluation.casas_home import load_casas_home

    layout = HomeLayout.standard("home-1", "kit-1", occupancy=True, accelerometer=False)
    sim = HomeSimulator(layout, ResidentProfile(seed=12), SensorPhysics())
    events = [e for e in sim.days(3) if e.window is None]
    path = tmp_path / "home.casas"
    with path.open("w") as fh:
        write_casas(events, fh, layout.tz)
    mats = [e for e in events if e.kind.value == "occupancy"]
    used = [e for e in events if e.kind.value == "appliance" and e.value is True]
    assert mats and used  # the standard home with mats sits, lies and flushes
    rec = load_casas_home(path)
    kinds = rec.kinds.tolist()
    assert kinds.count(Kind.OCCUPIED) == sum(1 for e in mats if e.value is True)
    assert kinds.count(Kind.VACATED) == sum(1 for e in mats if e.value is False)
    assert kinds.count(Kind.APPLIANCE) == len(used)
