"""Routine learning and rules on a simulated resident: explanations, away, night, clock jumps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import (
    ActivityEvents,
    BadParameters,
    BadShape,
    EmptyInput,
    Kind,
    NonFiniteInput,
    Place,
    Routine,
    check_home,
    learn_routine,
    time_bins,
)
from detectors.routine import (
    BINS_PER_DAY,
    N_BINS,
    N_CHANNELS,
    current_state,
    local_time_of_day,
)
from tests.detectors.homes import OFFSET, Diary, live, local

H = 3600.0


@pytest.fixture(scope="module")
def month() -> Diary:
    """Four weeks of ordinary days (days 0..27)."""
    return live(28, seed=1)


@pytest.fixture(scope="module")
def routine(month: Diary) -> Routine:
    """The routine learned from the month, at the start of day 28 (a Monday)."""
    return learn_routine(month.events(), local(28, 0.0))


def with_today(month: Diary, *events: tuple[float, Place, Kind]) -> ActivityEvents:
    """The month plus some events on day 28."""
    d = Diary()
    d.t, d.p, d.k = list(month.t), list(month.p), list(month.k)
    for t, p, k in events:
        d.add(t, p, k)
    return d.events()


def test_bins_are_hours_of_local_time_pooled_over_the_week() -> None:
    assert time_bins([local(0, 0.0)], OFFSET)[0] == 0  # Monday 00:00
    assert time_bins([local(0, 10.75)], OFFSET)[0] == 10  # Monday 10:45
    assert time_bins([local(5, 10.75)], OFFSET)[0] == 10  # Saturday: the same room on other days
    assert BINS_PER_DAY == 24
    assert local_time_of_day([local(3, 13.5)], OFFSET)[0] == pytest.approx(13.5 * H)


def test_a_month_teaches_the_routine(routine: Routine) -> None:
    assert routine.learned
    assert routine.wake_tod_s == pytest.approx(7.0 * H, abs=0.5 * H)
    assert routine.sleep_start_tod_s == pytest.approx(22.5 * H, abs=0.5 * H)
    assert routine.kitchen_day_rate > 0.9
    assert routine.door_at_night_rate == 0.0
    day_bin, night_bin = 14, 1  # 14:00 and 01:00
    assert routine.threshold_s[Place.KITCHEN, day_bin] < 3 * H
    assert routine.threshold_s[Place.BEDROOM, night_bin] > 7 * H
    assert np.all(routine.ask_threshold_s <= routine.threshold_s)
    assert np.all(routine.usual_s <= routine.threshold_s)


def test_under_fourteen_days_uses_defaults() -> None:
    r = learn_routine(live(10).events(), local(10, 0.0))
    assert not r.learned
    assert r.threshold_s[Place.KITCHEN, 14] == 4 * H


def test_empty_history_gives_defaults_and_no_findings() -> None:
    empty = ActivityEvents.build([], [], [], [], OFFSET)
    r = learn_routine(empty, local(0, 12.0))
    assert not r.learned
    assert check_home(r, empty, local(0, 12.0)) == []
    with pytest.raises(EmptyInput):
        current_state(empty, 0.0, __import__("detectors").RoutineConfig())


def test_single_event_is_judged_on_defaults() -> None:
    one = ActivityEvents.build([local(0, 10.0)], [Place.KITCHEN], [Kind.MOTION], None, OFFSET)
    r = learn_routine(one, local(0, 10.0))
    assert check_home(r, one, local(0, 11.0)) == []
    late = check_home(r, one, local(0, 15.0))
    assert [f.rule for f in late] == ["unusual_inactivity"]
    assert late[0].last_room == "Kitchen"


def test_long_silence_by_day_is_unusual_and_explained(month: Diary, routine: Routine) -> None:
    events = with_today(
        month,
        (local(28, 7.0), Place.BEDROOM, Kind.MOTION),
        (local(28, 9.5), Place.LIVING, Kind.MOTION),
        (local(28, 10 + 40 / 60), Place.KITCHEN, Kind.MOTION),
    )
    quiet = check_home(routine, events, local(28, 11.0))
    assert quiet == []
    findings = check_home(routine, events, local(28, 10 + 40 / 60) + 2 * H + 10 * 60)
    assert [f.rule for f in findings] == ["unusual_inactivity"]
    f = findings[0]
    assert f.last_room == "Kitchen"
    assert f.duration_s == pytest.approx(2 * H + 10 * 60)
    assert f.local_time_of_day_s == pytest.approx((10 + 40 / 60) * H)
    assert f.usual_s < f.limit_s < f.duration_s


def test_away_is_not_inactivity_but_not_back_is_its_own_rule(
    month: Diary, routine: Routine
) -> None:
    left = local(28, 10 + 40 / 60)
    events = with_today(
        month,
        (local(28, 9.0), Place.KITCHEN, Kind.MOTION),
        (left, Place.ENTRANCE, Kind.DOOR),
        (left + 20, Place.ENTRANCE, Kind.MOTION),  # the hall sensor sees her leave
    )
    # Out for longer than any at-home silence this home allows by day: still no alert.
    assert routine.threshold_s[Place.KITCHEN, 10] < 1.5 * H
    assert check_home(routine, events, left + 1.5 * H) == []
    late = check_home(routine, events, left + routine.away_limit_s + 60)
    assert [f.rule for f in late] == ["not_back"]
    assert late[0].since_s == left


def test_coming_home_ends_away(month: Diary, routine: Routine) -> None:
    left = local(28, 10.0)
    events = with_today(
        month,
        (left, Place.ENTRANCE, Kind.DOOR),
        (left + 2 * H, Place.ENTRANCE, Kind.DOOR),
        (left + 2 * H + 600, Place.KITCHEN, Kind.MOTION),
    )
    state = current_state(events, left + 3 * H, __import__("detectors").RoutineConfig())
    assert not state.away
    assert state.last_room == "Kitchen"


def test_clock_jump_backwards_raises_nothing(month: Diary, routine: Routine) -> None:
    events = with_today(month, (local(28, 12.0), Place.KITCHEN, Kind.MOTION))
    assert check_home(routine, events, local(28, 9.0)) == []


def test_front_door_at_night_is_wandering(month: Diary, routine: Routine) -> None:
    events = with_today(
        month,
        (local(28, 2.0), Place.ENTRANCE, Kind.DOOR),
        (local(28, 2.0) + 30, Place.ENTRANCE, Kind.MOTION),
    )
    rules = [f.rule for f in check_home(routine, events, local(28, 2.2))]
    assert "night_door" in rules


def test_not_up_by_the_usual_time(month: Diary, routine: Routine) -> None:
    rules = [f.rule for f in check_home(routine, month.events(), local(28, 10.5))]
    assert "not_up" in rules
    events = with_today(month, (local(28, 7.2), Place.BEDROOM, Kind.MOTION))
    assert "not_up" not in [f.rule for f in check_home(routine, events, local(28, 7.5))]


def test_long_time_in_the_bathroom(month: Diary, routine: Routine) -> None:
    went_in = local(28, 15.0)
    events = with_today(
        month,
        (local(28, 14.9), Place.KITCHEN, Kind.MOTION),
        (went_in, Place.BATHROOM, Kind.MOTION),
        (went_in + 300, Place.BATHROOM, Kind.MOTION),
    )
    assert "long_bathroom" not in [f.rule for f in check_home(routine, events, went_in + 600)]
    late = check_home(routine, events, went_in + routine.bathroom_limit_s + 60)
    bath = [f for f in late if f.rule == "long_bathroom"]
    assert bath and bath[0].since_s == went_in


def test_no_kitchen_all_day(month: Diary, routine: Routine) -> None:
    events = with_today(
        month,
        *[(local(28, h), Place.LIVING, Kind.MOTION) for h in np.arange(7.0, 20.5, 0.25)],
    )
    assert "no_kitchen" in [f.rule for f in check_home(routine, events, local(28, 20.5))]


def test_higher_risk_means_tighter_thresholds(month: Diary) -> None:
    now = local(28, 0.0)
    low = learn_routine(month.events(), now, sensitivity="low")
    high = learn_routine(month.events(), now, sensitivity="high")
    assert np.all(high.threshold_s <= low.threshold_s)
    with pytest.raises(BadParameters):
        learn_routine(month.events(), now, sensitivity="extreme")  # type: ignore[arg-type]


def test_routine_round_trips_and_refuses_malformed(routine: Routine) -> None:
    again = Routine.from_dict(routine.to_dict())
    np.testing.assert_array_equal(again.threshold_s, routine.threshold_s)
    assert again.wake_tod_s == routine.wake_tod_s
    bad = routine.to_dict()
    bad["threshold_s"] = bad["threshold_s"][:3]
    with pytest.raises(BadParameters):
        Routine.from_dict(bad)
    with pytest.raises(BadParameters):
        Routine.from_dict({"threshold_s": [0.0] * N_BINS})


def test_events_are_validated_and_sorted() -> None:
    with pytest.raises(BadShape):
        ActivityEvents.build([1.0, 2.0], [0], [0], None, OFFSET)
    with pytest.raises(NonFiniteInput):
        ActivityEvents.build([np.nan], [0], [0], None, OFFSET)
    ev = ActivityEvents.build([5.0, 1.0], [1, 2], [0, 0], ["Kitchen", "Bathroom"], OFFSET)
    assert ev.times_s.tolist() == [1.0, 5.0]
    assert ev.rooms == ("Bathroom", "Kitchen")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 40 * 86_400.0, allow_nan=False),
            st.sampled_from(list(Place)),
            st.sampled_from(list(Kind)),
        ),
        max_size=60,
    ),
    st.floats(-86_400.0, 45 * 86_400.0, allow_nan=False),
)
def test_any_history_and_any_now_never_crash(
    raw: list[tuple[float, Place, Kind]], now_offset: float
) -> None:
    times = [MONDAY_T + t for t, _, _ in raw]
    events = ActivityEvents.build(
        times, [int(p) for _, p, _ in raw], [int(k) for _, _, k in raw], None, OFFSET
    )
    now = MONDAY_T + now_offset
    r = learn_routine(events, now)
    assert r.threshold_s.shape == (N_CHANNELS, N_BINS)
    assert np.all(np.isfinite(r.threshold_s))
    for f in check_home(r, events, now):
        assert f.duration_s >= 0


MONDAY_T = local(0, 0.0)


def test_a_night_toilet_visit_does_not_move_the_wake_time_to_the_night() -> None:
    # Up at 03:00 for the toilet every night, back to bed, up for the day at ~07:00: the
    # night's longest quiet ends at 03:00, the night itself at 07:00.
    d = live(28, seed=2)
    for day in range(1, 28):
        d.add(local(day, 3.0), Place.BEDROOM)
        d.add(local(day, 3.0) + 60, Place.BATHROOM)
        d.add(local(day, 3.0) + 400, Place.BEDROOM)
    r = learn_routine(d.events(), local(28, 0.0))
    assert r.wake_tod_s == pytest.approx(7.0 * H, abs=0.5 * H)
    # She stays in bed after the 03:00 visit: not_up speaks in the morning.
    d.add(local(28, 3.0), Place.BEDROOM)
    d.add(local(28, 3.0) + 60, Place.BATHROOM)
    d.add(local(28, 3.0) + 400, Place.BEDROOM)
    rules = [f.rule for f in check_home(r, d.events(), local(28, 10.5))]
    assert "not_up" in rules


def test_getting_up_from_the_chair_and_nothing_after_is_judged_at_the_home_s_getting_up() -> None:
    d = live(28, seed=3)
    for day in range(28):  # an afternoon in the armchair, then up and about
        d.add(local(day, 14.0), Place.LIVING, Kind.OCCUPIED)
        d.add(local(day, 16.0), Place.LIVING, Kind.VACATED)
        d.add(local(day, 16.0) + 20, Place.KITCHEN)
    r = learn_routine(d.events(), local(28, 0.0))
    assert 0 < r.got_up_limit_s < r.threshold_s[Place.LIVING, 10]
    d.add(local(28, 7.0), Place.BEDROOM)
    d.add(local(28, 9.0), Place.LIVING, Kind.OCCUPIED)
    d.add(local(28, 10.9), Place.LIVING, Kind.VACATED)  # stands up, falls: nothing after
    soon = check_home(r, d.events(), local(28, 10.9) + r.got_up_limit_s - 60)
    assert "unusual_inactivity" not in [f.rule for f in soon]
    later = check_home(r, d.events(), local(28, 10.9) + r.got_up_limit_s + 60)
    assert [f.rule for f in later if f.rule == "unusual_inactivity"] == ["unusual_inactivity"]
    assert r.got_up_limit_s <= 60 * 60  # within the hour


def test_a_silence_while_the_kit_was_dark_is_not_the_resident_s(
    month: Diary, routine: Routine
) -> None:
    events = with_today(
        month,
        (local(28, 7.0), Place.BEDROOM, Kind.MOTION),
        (local(28, 10 + 40 / 60), Place.BATHROOM, Kind.MOTION),
    )
    now = local(28, 13.0)
    assert check_home(routine, events, now)  # timed from 10:40: long bathroom, inactivity
    back = local(28, 12.5)  # the kit was dark 10:45-12:30 (power cut)
    assert check_home(routine, events, now, watched_since_s=back) == []


def test_a_few_days_of_long_sits_raise_the_learning_defaults_never_lower_them() -> None:
    busy = live(8, seed=4)
    d = Diary()
    for t, p, k in zip(busy.t, busy.p, busy.k, strict=True):
        hour = ((t + OFFSET) % 86_400.0) / H
        if not 13.5 < hour < 18.6:  # five hours of stillness in the afternoon
            d.add(t, Place(p), Kind(k))
    for day in range(8):
        d.add(local(day, 13.5), Place.LIVING)
    r = learn_routine(d.events(), local(8, 0.0))
    assert not r.learned
    assert r.threshold_s[Place.LIVING, 13] > 5.1 * H
    defaults = learn_routine(ActivityEvents.build([], [], [], [], OFFSET), local(8, 0.0))
    assert np.all(r.threshold_s >= defaults.threshold_s)
