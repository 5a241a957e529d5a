"""Thresholds come from each day's longest silence, not from the bursts; sleep is not silence."""

from __future__ import annotations

import numpy as np

from detectors.routine import Kind, Place, check_home, learn_routine, time_bins
from tests.detectors.homes import OFFSET, Diary, local


def _bursty_days(days: int, quiet_min: float, seed: int = 0) -> Diary:
    """Each day: bursts of motion seconds apart, and one quiet spell after lunch."""
    rng = np.random.default_rng(seed)
    d = Diary()
    for day in range(days):
        d.add(local(day, 7.0), Place.BEDROOM)
        t = local(day, 7.05)
        while t < local(day, 22.0):
            for _ in range(30):  # a burst: cooking, cleaning
                d.add(t, Place.KITCHEN)
                t += 20  # a PIR re-triggers every few seconds while someone moves
            if abs(t - local(day, 13.5)) < 20 * 60:
                t += quiet_min * 60 * rng.uniform(0.8, 1.0)  # the after-lunch rest
            else:
                t += rng.uniform(5, 15) * 60
        d.add(local(day, 22.2), Place.BEDROOM)
        for k in range(3):  # restless sleep: the bedroom PIR now and then
            d.add(local(day, 23.0 + 2.5 * k + rng.uniform(0, 1)), Place.BEDROOM)
    return d


def test_a_daily_rest_does_not_alert_even_though_most_gaps_are_seconds() -> None:
    history = _bursty_days(28, quiet_min=80).events()
    now = local(28, 0)
    routine = learn_routine(history, now)
    b = int(time_bins(np.array([local(27, 13.5)]), OFFSET)[0])
    assert routine.threshold_s[Place.KITCHEN, b] > 80 * 60, (
        "the daily 80-minute rest is ordinary here"
    )


def test_silence_after_going_to_bed_waits_for_the_morning() -> None:
    d = _bursty_days(28, quiet_min=30)
    d.add(local(28, 7.0), Place.BEDROOM)
    d.add(local(28, 21.9), Place.BEDROOM)  # went to bed
    events = d.events()
    routine = learn_routine(events, local(28, 21.95))
    at_3am = local(29, 3.0)
    assert [f.rule for f in check_home(routine, events, at_3am)] == []
    late = local(29, 12.0)  # nothing since bedtime, long past the usual waking
    rules = {f.rule for f in check_home(routine, events, late)}
    assert "unusual_inactivity" in rules


def test_a_night_visit_that_never_ends_is_not_sleep() -> None:
    d = _bursty_days(28, quiet_min=30)
    d.add(local(28, 21.9), Place.BEDROOM)
    d.add(local(29, 2.0), Place.BATHROOM, Kind.MOTION)  # got up at 2 a.m., then nothing
    events = d.events()
    routine = learn_routine(events, local(28, 21.95))
    rules = {f.rule for f in check_home(routine, events, local(29, 4.0))}
    assert rules & {"long_bathroom", "unusual_inactivity"}


def test_outings_are_learned_whole_not_from_the_door_gaps() -> None:
    rng = np.random.default_rng(3)
    d = Diary()
    for day in range(28):
        d.add(local(day, 7.0), Place.BEDROOM)
        d.add(local(day, 9.0), Place.KITCHEN)
        d.add(local(day, 9.5), Place.ENTRANCE, Kind.DOOR)  # opens
        d.add(local(day, 9.5) + 5, Place.ENTRANCE, Kind.DOOR)  # closes behind her
        d.add(local(day, 9.5) + 40, Place.ENTRANCE)  # the hall sensor sees her go
        back = local(day, 9.5) + rng.uniform(1.0, 2.5) * 3600
        d.add(back, Place.ENTRANCE, Kind.DOOR)
        for after in (60, 600, 1500):  # home again: unpacking in the kitchen
            d.add(back + after, Place.KITCHEN)
        d.add(local(day, 21.0), Place.BEDROOM)
    routine = learn_routine(d.events(), local(28, 0))
    assert routine.away_limit_s >= 2.5 * 3600, "the longest ordinary outing is ordinary"
    d.add(local(28, 9.0), Place.KITCHEN)
    d.add(local(28, 9.5), Place.ENTRANCE, Kind.DOOR)
    events = d.events()
    assert "not_back" not in {f.rule for f in check_home(routine, events, local(28, 12.1))}
    assert "not_back" in {f.rule for f in check_home(routine, events, local(28, 17.0))}
