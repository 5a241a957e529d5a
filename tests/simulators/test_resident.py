"""The resident model: seeded, contiguous days, habits by weekday, slow drift over weeks."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from statistics import mean
from zoneinfo import ZoneInfo

from simulators.resident import Place, ResidentProfile, plan_day, plan_days

TZ = ZoneInfo("Asia/Tashkent")
MONDAY = date(2026, 3, 2)


def _wake_hour(segments: list) -> float:
    wake = next(s for s in segments if s.label == "Wake")
    local = datetime.fromtimestamp(wake.start, UTC).astimezone(TZ)
    return local.hour + local.minute / 60


def test_a_day_is_contiguous_from_midnight_to_midnight() -> None:
    segs = plan_day(ResidentProfile(seed=1), MONDAY, TZ, 0)
    assert segs[0].start == datetime(2026, 3, 2, tzinfo=TZ).timestamp()
    assert segs[-1].end == datetime(2026, 3, 3, tzinfo=TZ).timestamp()
    for a, b in itertools.pairwise(segs):
        assert a.end == b.start
        assert a.end > a.start


def test_same_seed_same_day_different_seed_different_day() -> None:
    a = plan_day(ResidentProfile(seed=5), MONDAY, TZ, 0)
    b = plan_day(ResidentProfile(seed=5), MONDAY, TZ, 0)
    c = plan_day(ResidentProfile(seed=6), MONDAY, TZ, 0)
    assert a == b
    assert a != c


def test_days_hold_meals_bathroom_sleep_and_outings_on_weekdays() -> None:
    profile = ResidentProfile(seed=2, outing_weekday_p=1.0, outing_weekend_p=0.0)
    for index, segs in plan_days(profile, MONDAY, 7, TZ):
        places = {s.place for s in segs}
        assert {Place.KITCHEN, Place.BATHROOM, Place.BEDROOM, Place.LIVING} <= places
        assert sum(s.label == "Eat" for s in segs) >= 3
        out = any(s.place is Place.OUT for s in segs)
        assert out == (index < 5), f"day {index}"


def test_drift_makes_waking_later_and_nights_busier_over_weeks() -> None:
    profile = ResidentProfile(
        seed=3, drift_wake_min_per_week=10.0, drift_night_visits_per_week=0.25
    )
    days = list(plan_days(profile, MONDAY, 70, TZ))
    first = [_wake_hour(s) for i, s in days[:14] if i % 7 < 5]
    last = [_wake_hour(s) for i, s in days[-14:] if i % 7 < 5]
    # 8 weeks apart at 10 min per week: about 80 min later.
    assert 0.9 < mean(last) - mean(first) < 1.8
    visits_first = sum(
        s.label == "Bed_to_Toilet" and s.place is Place.BATHROOM for _, d in days[:14] for s in d
    )
    visits_last = sum(
        s.label == "Bed_to_Toilet" and s.place is Place.BATHROOM for _, d in days[-14:] for s in d
    )
    assert visits_last > 2 * visits_first
