"""The vectorised inactivity scan agrees with the one-home rule and handles odd clocks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import BadShape, NonFiniteInput, explain_inactivity, scan_inactivity, stack_routines
from detectors.routine import N_BINS, N_CHANNELS, Place, learn_routine
from tests.detectors.homes import OFFSET, live, local


def test_scan_matches_a_loop_over_homes() -> None:
    rng = np.random.default_rng(3)
    homes = 1000
    thr = rng.uniform(1800, 40_000, (homes, N_BINS))
    last = rng.uniform(0, 50_000, homes)
    bins = rng.integers(0, N_BINS, homes)
    away = rng.random(homes) < 0.1
    now = 50_000.0
    scan = scan_inactivity(thr, last, bins, now, away)
    expected = [(now - last[h]) > thr[h, bins[h]] and not away[h] for h in range(homes)]
    assert scan.overdue.tolist() == expected
    assert scan.overdue_homes.tolist() == [h for h in range(homes) if expected[h]]


def test_clock_behind_and_unknown_homes_are_never_overdue() -> None:
    thr = np.full((3, N_BINS), 3600.0)
    scan = scan_inactivity(thr, np.array([10_000.0, np.nan, 0.0]), np.zeros(3), 5_000.0)
    assert scan.overdue.tolist() == [False, False, True]
    assert scan.clock_behind.tolist() == [True, False, False]
    assert scan.silence_s[0] == 0.0


def test_risk_scale_tightens_the_limit() -> None:
    thr = np.full((2, N_BINS), 3600.0)
    scan = scan_inactivity(thr, np.zeros(2), np.zeros(2), 3000.0, threshold_scale=[1.0, 0.5])
    assert scan.overdue.tolist() == [False, True]


@pytest.mark.parametrize(
    ("thr", "last", "bins"),
    [
        (np.zeros(N_BINS), np.zeros(1), np.zeros(1)),
        (np.zeros((2, N_BINS)), np.zeros(3), np.zeros(3)),
        (np.zeros((2, N_BINS)), np.zeros(2), np.array([0, N_BINS])),
        (np.zeros((2, N_BINS)), np.zeros(2), np.array([-1, 0])),
    ],
)
def test_bad_shapes_and_bins_are_errors(
    thr: np.ndarray, last: np.ndarray, bins: np.ndarray
) -> None:
    with pytest.raises(BadShape):
        scan_inactivity(thr, last, bins, 0.0)


def test_nan_now_is_an_error_and_no_homes_is_fine() -> None:
    with pytest.raises(NonFiniteInput):
        scan_inactivity(np.zeros((1, N_BINS)), np.zeros(1), np.zeros(1), float("nan"))
    empty = scan_inactivity(np.zeros((0, N_BINS)), np.zeros(0), np.zeros(0), 0.0)
    assert empty.overdue.size == 0


def test_stacked_routines_scan_and_explain() -> None:
    month = live(28, seed=4).events()
    r = learn_routine(month, local(28, 0.0))
    fresh = learn_routine(live(3).events(), local(3, 0.0))
    thr, usual = stack_routines([r, fresh])
    assert thr.shape == usual.shape == (2, N_CHANNELS, N_BINS)
    last = local(28, 10 + 40 / 60)
    b = 10  # 10:00-11:00
    kitchen = np.array([Place.KITCHEN, Place.KITCHEN])
    now = last + 2 * 3600 + 600
    scan = scan_inactivity(thr, np.array([last, last]), np.array([b, b]), now, channel=kitchen)
    assert scan.overdue.tolist() == [True, False]  # learned home: 2 h 10 min is unusual
    why = explain_inactivity(r, last, "Kitchen", b, now, OFFSET, channel=int(Place.KITCHEN))
    assert why.silence_s == pytest.approx(7800)
    assert why.last_activity_local_tod_s == pytest.approx(10 * 3600 + 2400)
    assert why.usual_s < why.threshold_s < why.silence_s
    assert why.learned


def test_asking_limits_are_stacked_for_ask_first_homes() -> None:
    r = learn_routine(live(28, seed=4).events(), local(28, 0.0))
    worker, _ = stack_routines([r, r], ask_first=[False, True])
    assert np.array_equal(worker[0], r.threshold_s)
    assert np.array_equal(worker[1], r.ask_threshold_s)
    assert np.all(worker[1] <= worker[0])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), max_size=30),
    st.floats(-1e6, 1e6, allow_nan=False),
)
def test_scan_never_flags_a_negative_silence(lasts: list[float], now: float) -> None:
    n = len(lasts)
    scan = scan_inactivity(np.full((n, N_BINS), 100.0), np.array(lasts), np.zeros(n), now)
    assert not np.any(scan.silence_s < 0)
    for h, last in enumerate(lasts):
        assert scan.overdue[h] == (not np.isnan(last) and now - last > 100.0)
