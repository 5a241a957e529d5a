"""The home model: kit YAML layouts and the sensor physics between resident and kit."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest

from edge.config import load_kit_config
from mehr.contract import SensorKind
from simulators.home import HomeLayout, HomeSimulator, SensorPhysics, debounce
from simulators.resident import Place, ResidentProfile

ROOT = Path(__file__).resolve().parents[2]


def test_layout_from_the_one_room_flat_kit_yaml() -> None:
    layout = HomeLayout.from_kit_config(
        load_kit_config(ROOT / "firmware_configs/flat-one-room.yaml")
    )
    assert layout.home_id == "demo-flat"
    room = layout.sensor("room-motion")
    # The single room PIR sees everything that is not the bathroom or the hall.
    assert {Place.BEDROOM, Place.KITCHEN, Place.LIVING} <= set(room.places)
    assert layout.motion_for(Place.BATHROOM).id == "bath-motion"  # type: ignore[union-attr]
    assert layout.front_door is not None and layout.front_door.id == "front-door"


def test_layout_from_the_house_kit_yaml_sees_each_room() -> None:
    layout = HomeLayout.from_kit_config(load_kit_config(ROOT / "firmware_configs/house.yaml"))
    assert layout.motion_for(Place.KITCHEN).id == "kitchen-motion"  # type: ignore[union-attr]
    assert layout.motion_for(Place.BEDROOM).id == "bedroom-motion"  # type: ignore[union-attr]
    assert layout.front_door.id == "front-door"  # type: ignore[union-attr]
    assert layout.first("accelerometer") is not None


def _events(physics: SensorPhysics, days: int = 3, **layout_kw: object) -> list:
    layout = HomeLayout.standard("home-1", "kit-1", **layout_kw)  # type: ignore[arg-type]
    return list(HomeSimulator(layout, ResidentProfile(seed=4), physics).days(days))


def test_pir_alternates_on_off_and_respects_hold_and_blind_time() -> None:
    phys = SensorPhysics(pir_hold_s=8.0, pir_blind_s=2.5)
    by_sensor: dict[str, list] = defaultdict(list)
    for ev in _events(phys):
        if ev.kind is SensorKind.MOTION:
            by_sensor[ev.sensor].append(ev)
    assert len(by_sensor) == 5
    for evs in by_sensor.values():
        values = [e.value for e in evs]
        assert values[::2] == [True] * len(values[::2])
        assert values[1::2] == [False] * len(values[1::2])
        for on, off in zip(evs[::2], evs[1::2], strict=False):
            assert off.t - on.t >= 8.0 - 1e-9  # held at least the hold time
        for off, on in zip(evs[1::2], evs[2::2], strict=False):
            assert on.t - off.t >= 2.5 - 1e-9  # blind after going low


def test_missed_detections_thin_out_motion() -> None:
    full = sum(e.kind is SensorKind.MOTION for e in _events(SensorPhysics(pir_miss_p=0.0)))
    thin = sum(e.kind is SensorKind.MOTION for e in _events(SensorPhysics(pir_miss_p=0.6)))
    assert thin < 0.8 * full


def test_door_bounce_reaches_the_kit_only_without_debounce() -> None:
    phys = SensorPhysics(door_bounce_p=1.0)
    layout = HomeLayout.standard("home-1", "kit-1")
    sim = HomeSimulator(layout, ResidentProfile(seed=1, outing_weekday_p=1.0), phys)
    doors = [e for e in sim.days(2) if e.kind is SensorKind.DOOR]
    assert doors and not any(e.bounce for e in doors)  # the kit's 50 ms debounce ate them
    values = [e.value for e in doors]
    assert all(a != b for a, b in itertools.pairwise(values))
    raw = sim._doors(sim.segments(2), random.Random(0))
    assert any(e.bounce for e in raw)
    assert [e.value for e in debounce(raw, {})] != [
        e.value for e in debounce(raw, {"door-front": 0.05})
    ]


def test_kit_clock_offset_and_drift_show_in_ts() -> None:
    phys = SensorPhysics(clock_offset_s=-90.0, clock_drift_ppm=50.0)
    evs = _events(phys, days=10)
    first, last = evs[0], evs[-1]
    assert first.ts - first.t == pytest.approx(-90.0 + 50e-6 * (first.t - evs[0].t), abs=5)
    # 50 ppm over ~10 days is about 43 s more.
    assert (last.ts - last.t) - (first.ts - first.t) == pytest.approx(50e-6 * (last.t - first.t))


def test_battery_runs_down_and_a_flat_sensor_goes_silent() -> None:
    layout = HomeLayout.standard("home-1", "kit-1", accelerometer=False)
    help_button = layout.sensor("help")
    sensors = tuple(
        replace(s, battery_days=3.0) if s.id == "pir-kitchen" else s for s in layout.sensors
    )
    layout = replace(layout, sensors=sensors)
    sim = HomeSimulator(layout, ResidentProfile(seed=2), SensorPhysics())
    per_day = [sim.day(i) for i in range(5)]
    levels = [
        next(e.value for e in d if e.kind is SensorKind.BATTERY and e.sensor == "pir-kitchen")
        for d in per_day
    ]
    assert levels == [100.0, 66.7, 33.3, 0.0, 0.0]
    kitchen = [
        sum(e.sensor == "pir-kitchen" and e.kind is SensorKind.MOTION for e in d) for d in per_day
    ]
    assert kitchen[0] > 0 and kitchen[3] == kitchen[4] == 0
    assert help_button.battery_days == 400.0


def test_dropouts_silence_sensors_for_hours() -> None:
    quiet = _events(SensorPhysics(dropouts_per_sensor_30d=30.0, dropout_hours=(6, 6)), days=2)
    loud = _events(SensorPhysics(), days=2)
    assert len(quiet) < len(loud)


def test_mats_feel_sitting_down_and_getting_up_and_a_night_across_midnight() -> None:
    layout = HomeLayout.standard("h", "k", accelerometer=False, occupancy=True)
    sim = HomeSimulator(layout, ResidentProfile(seed=8))
    days = [(sim.segments(i), sim.day(i)) for i in range(3)]
    for segs, events in days:
        chair = [e for e in events if e.sensor == "mat-chair"]
        assert chair and all(e.kind is SensorKind.OCCUPANCY for e in chair)
        values = [e.value for e in chair]
        assert all(a != b for a, b in itertools.pairwise(values))  # true, false, true, ...
        for seg in segs:
            if seg.label == "TV" and seg.place is Place.LIVING and seg.end - seg.start > 600:
                # In the chair: she gets up only as the sit ends, never in the middle of it.
                ups = [e.t for e in chair if e.value is False and seg.start <= e.t < seg.end]
                assert all(seg.end - t <= 5.0 for t in ups)
        bed = [e for e in events if e.sensor == "mat-bed"]
        midnight = segs[0].start
        # Asleep over midnight: the bed mat stays occupied, no edge at 00:00.
        assert not [e for e in bed if abs(e.t - midnight) < 60]
    flushes = [e for _, evs in days for e in evs if e.sensor == "flush" and e.value is True]
    toilets = [s for segs, _ in days for s in segs
               if s.place is Place.BATHROOM and s.label in ("Toilet", "Bed_to_Toilet")]
    assert 0.7 * len(toilets) <= len(flushes) <= len(toilets)
    for f in flushes:  # each flush ends a toilet visit
        assert any(s.start <= f.t <= s.end for s in toilets)
