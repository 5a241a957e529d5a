"""Issue 11's presence bugs: coming home then collapsing is at home; one stray event in an
absence re-arms nothing; a mat occupied is the resident sitting, not a silence."""

from __future__ import annotations

from detectors.routine import Kind, Place, check_home, learn_routine
from tests.detectors.homes import Diary, live, local

H = 3600.0


def _month() -> Diary:
    return live(28, seed=1)


def test_motion_soon_after_the_door_is_someone_at_home_who_can_be_missed() -> None:
    d = _month()
    routine = learn_routine(d.events(), local(28, 0.0))
    back = local(28, 10.0)
    d.add(back, Place.ENTRANCE, Kind.DOOR)  # she comes home...
    d.add(back + 15, Place.ENTRANCE, Kind.DOOR)
    d.add(back + 90, Place.LIVING)  # ...walks in, and collapses: nothing after
    events = d.events()
    later = back + 6 * H  # far past any daytime limit, far short of "not back"
    rules = [f.rule for f in check_home(routine, events, later)]
    assert "unusual_inactivity" in rules, "she is at home and silent, not away"


def test_one_stray_event_in_an_absence_does_not_rearm_the_silence_clock() -> None:
    d = _month()
    routine = learn_routine(d.events(), local(28, 0.0))
    left = local(28, 9.0)
    d.add(left - 60, Place.KITCHEN)
    d.add(left, Place.ENTRANCE, Kind.DOOR)
    d.add(left + 10, Place.ENTRANCE, Kind.DOOR)
    d.add(left + 3 * H, Place.KITCHEN)  # a curtain, a pet, a PIR glitch: one event
    events = d.events()
    for hours in (4.0, 6.0, 8.0):
        rules = {f.rule for f in check_home(routine, events, left + hours * H)}
        assert not rules & {"unusual_inactivity", "long_bathroom", "not_up"}


def test_two_indoor_places_in_an_absence_mean_she_is_back() -> None:
    d = _month()
    routine = learn_routine(d.events(), local(28, 0.0))
    left = local(28, 9.0)
    d.add(left, Place.ENTRANCE, Kind.DOOR)
    d.add(left + 3 * H, Place.KITCHEN)  # came in by another way, unseen by the contact
    d.add(left + 3 * H + 300, Place.LIVING)
    events = d.events()
    rules = {f.rule for f in check_home(routine, events, left + 3 * H + 300 + 5 * H)}
    assert "unusual_inactivity" in rules


def test_sitting_on_the_armchair_for_three_hours_is_not_a_silence() -> None:
    d = Diary()
    for day in range(28):
        live(1, seed=day, diary=d, start_day=day)
    routine = learn_routine(d.events(), local(28, 0.0))
    sat = local(28, 13.0)
    d.add(local(28, 12.9), Place.KITCHEN)
    d.add(sat, Place.LIVING, Kind.OCCUPIED)  # the armchair's mat: a nap, TV
    events = d.events()
    assert check_home(routine, events, sat + 3 * H) == []
    got_up = sat + 3 * H
    d.add(got_up, Place.LIVING, Kind.VACATED)  # got up... and nothing anywhere after
    events = d.events()
    limit = routine.threshold_s[Place.LIVING, 16]
    (finding,) = [
        f
        for f in check_home(routine, events, got_up + limit + 60)
        if f.rule == "unusual_inactivity"
    ]
    assert not finding.seated and finding.since_s == got_up
