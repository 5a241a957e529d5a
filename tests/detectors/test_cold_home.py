"""The cold-home detector on physically plausible homes: Newton cooling once the heating stops."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.cold_home import SAFE_INDOOR_C, check_cold_home, onset_clusters
from detectors.errors import BadShape, NonFiniteInput

H = 3600.0


def cooling(
    hours: float, start_c: float = 21.0, outside_c: float = -5.0, tau_h: float = 20.0,
    heating_off_h: float = 0.0, every_s: float = 600.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Readings of a room whose heating stops at `heating_off_h`: T -> outside with time tau."""
    t = np.arange(0.0, hours * H + 1, every_s)
    off = np.clip(t / H - heating_off_h, 0.0, None)
    temps = np.where(
        t / H < heating_off_h, start_c, outside_c + (start_c - outside_c) * np.exp(-off / tau_h)
    )
    return t, np.round(temps, 1)


def test_a_home_without_heating_on_a_frosty_night_is_cold_with_a_falling_trend() -> None:
    t, temps = cooling(8)  # 21 °C falls below 18 °C after about 2.5 h at -5 °C outside
    crossing = t[np.argmax(temps < SAFE_INDOOR_C)]
    result = check_cold_home(t, temps, np.zeros_like(t, dtype=int), now_s=t[-1])
    assert result is not None
    assert result.since_s == crossing
    assert result.duration_s == pytest.approx(t[-1] - crossing)
    assert result.latest_c < 15
    assert -1.2 < result.trend_c_per_h < -0.6  # (T - T_out) / tau at these temperatures


def test_not_cold_for_long_enough_yet() -> None:
    t, temps = cooling(8)
    crossing = t[np.argmax(temps < SAFE_INDOOR_C)]
    now = crossing + 2 * H - 600
    keep = t <= now
    assert check_cold_home(t[keep], temps[keep], np.zeros(keep.sum(), int), now) is None
    assert check_cold_home(t, temps, np.zeros_like(t, dtype=int), crossing + 2 * H) is not None


def test_a_warm_home_and_a_brief_airing_are_not_cold() -> None:
    t = np.arange(0, 8 * H, 600.0)
    warm = np.full(t.shape, 21.0)
    assert check_cold_home(t, warm, np.zeros_like(t, dtype=int), t[-1]) is None
    aired = warm.copy()
    aired[(t > 2 * H) & (t < 2.5 * H)] = 16.5  # window open for half an hour
    assert check_cold_home(t, aired, np.zeros_like(t, dtype=int), t[-1]) is None


def test_a_warm_room_elsewhere_in_the_home_means_it_is_not_cold() -> None:
    t, cold = cooling(8)
    both_t = np.r_[t, t]
    both = np.r_[cold, np.full(t.shape, 19.5)]  # the bedroom heater still works
    codes = np.r_[np.zeros(t.size, int), np.ones(t.size, int)]
    assert check_cold_home(both_t, both, codes, t[-1]) is None


def test_a_sensor_that_stopped_reporting_decides_nothing() -> None:
    t, temps = cooling(8)
    early = t <= 5 * H
    assert check_cold_home(t[early], temps[early], np.zeros(early.sum(), int), 9 * H) is None


def test_the_care_plan_threshold_applies() -> None:
    t = np.arange(0, 6 * H, 600.0)
    temps = np.full(t.shape, 19.0)
    codes = np.zeros_like(t, dtype=int)
    assert check_cold_home(t, temps, codes, t[-1]) is None
    assert check_cold_home(t, temps, codes, t[-1], safe_c=20.0) is not None


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(BadShape):
        check_cold_home([0.0, 1.0], [20.0], [0, 0], 2.0)
    with pytest.raises(NonFiniteInput):
        check_cold_home([0.0, 1.0], [20.0, float("nan")], [0, 0], 2.0)


def test_homes_that_went_cold_together_form_one_cluster() -> None:
    starts = np.array([0.0, 600.0, 1800.0, 4000.0, 30000.0])
    assert onset_clusters(starts, 3 * H, 3).tolist() == [True, True, True, True, False]
    assert not onset_clusters(starts[[0, 4]], 3 * H, 3).any()
    assert onset_clusters([], 3 * H, 3).size == 0
