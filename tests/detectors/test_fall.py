"""Fall detector on synthetic signals: falls caught, hard ADLs not, errors clear, batch = single."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from detectors import (
    BadParameters,
    BadShape,
    DetectorError,
    EmptyInput,
    NonFiniteInput,
    WindowTooShort,
    classify_window,
    classify_windows,
    extract_windows,
    load_fall_params,
    trigger_impacts,
)
from detectors.fall import (
    FEATURE_NAMES,
    FallParams,
    fall_features,
    fit_fall_classifier,
    learn_upright,
)
from simulators.accel import RATE_HZ, labelled_set
from tests.detectors import signals

PARAMS = load_fall_params()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("peak", [3.0, 5.0, 9.0])
def test_synthetic_fall_is_a_fall_and_says_why(seed: int, peak: float) -> None:
    decision = classify_window(signals.fall(seed=seed, peak=peak), 50.0, PARAMS)
    assert decision.is_fall
    assert decision.probability > 0.5
    assert "posture_change_deg" in decision.deciding or "tilt_after_deg" in decision.deciding
    assert decision.features["posture_change_deg"] == pytest.approx(85, abs=10)
    assert decision.impact_time_s == pytest.approx(4.5, abs=0.1)


@pytest.mark.parametrize(
    "make",
    [
        lambda s: signals.hard_sit(seed=s),
        lambda s: signals.walking(12, seed=s),
        lambda s: signals.jogging(seed=s),
    ],
    ids=["hard_sit", "walking", "jogging"],
)
@pytest.mark.parametrize("seed", range(3))
def test_hard_daily_activities_are_not_falls(make: object, seed: int) -> None:
    decision = classify_window(make(seed), 50.0, PARAMS)  # type: ignore[operator]
    assert not decision.is_fall
    assert decision.deciding  # the features that kept it below the threshold


def test_contributions_add_up_to_the_logit() -> None:
    decision = classify_window(signals.fall(), 50.0, PARAMS)
    assert set(decision.contributions) == set(FEATURE_NAMES)
    assert not decision.upright_known
    assert decision.intercept == pytest.approx(PARAMS.free_intercept)
    total = sum(decision.contributions.values()) + decision.intercept
    assert total == pytest.approx(decision.logit)
    known = classify_window(signals.fall(), 50.0, PARAMS, upright=signals.UP)
    assert known.upright_known
    assert known.intercept == pytest.approx(PARAMS.intercept)
    assert sum(known.contributions.values()) + known.intercept == pytest.approx(known.logit)


def test_rolling_over_in_bed_is_not_a_fall_once_the_wearers_upright_is_known() -> None:
    # Lying on the back, rolling onto the side with a small bump: no upright start, no free fall.
    # Only the wearer's upright says "already lying" (see docs/detectors.md, Limits).
    n = 600
    back = np.array([0.0, 0.0, -1.0])
    side = np.array([1.0, 0.0, 0.0])
    frac = np.clip((np.arange(n) - 200) / 50.0, 0.0, 1.0)
    window = signals._rotate_towards(back, side, frac)
    window += signals._pulse(n, 250, 2.0, 0.8)[:, None] * np.array([0.6, 0.0, -0.8])
    window += np.random.default_rng(0).normal(0, 0.01, window.shape)
    decision = classify_window(window, 50.0, PARAMS, upright=signals.UP)
    assert decision.features["tilt_before_deg"] == pytest.approx(90, abs=5)
    assert not decision.is_fall
    # Without it this small bump is still no fall (it lands soft and slow), but harder rolls
    # are where the any-orientation coefficients lose specificity (SisFall D14).
    assert not classify_window(window, 50.0, PARAMS).is_fall


def test_batch_gives_the_same_verdicts_as_one_by_one() -> None:
    windows = np.stack(
        [signals.fall(seed=1), signals.hard_sit(seed=1), signals.jogging(seed=1), signals.fall()]
    )
    batch = classify_windows(windows, 50.0, PARAMS)
    assert batch.is_fall.tolist() == [True, False, False, True]
    for i in range(len(windows)):
        single = classify_window(windows[i], 50.0, PARAMS)
        assert single.logit == pytest.approx(batch.decision(i).logit)


@pytest.mark.parametrize("rate", [100.0, 200.0, 25.0])
def test_native_rates_are_resampled_to_the_model_rate(rate: float) -> None:
    fall = classify_window(signals.fall(rate=rate), rate, PARAMS)
    sit = classify_window(signals.hard_sit(rate=rate), rate, PARAMS)
    assert fall.is_fall
    assert not sit.is_fall


@pytest.mark.parametrize(
    ("window", "error"),
    [
        (np.zeros((0, 3)), EmptyInput),
        (np.zeros((0, 600, 3)), EmptyInput),
        (np.zeros((600, 2)), BadShape),
        (np.zeros(600), BadShape),
        (np.zeros((100, 3)), WindowTooShort),
    ],
)
def test_bad_windows_raise_clear_errors(window: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error):
        classify_windows(window, 50.0, PARAMS)


def test_nan_is_an_error_naming_the_window() -> None:
    windows = np.stack([signals.fall(), signals.fall()])
    windows[1, 10, 2] = np.nan
    with pytest.raises(NonFiniteInput, match=r"\[1\]"):
        classify_windows(windows, 50.0, PARAMS)


@pytest.mark.parametrize("rate", [0.0, -50.0, float("nan"), 5.0])
def test_bad_rates_are_errors(rate: float) -> None:
    with pytest.raises(DetectorError):
        classify_windows(signals.fall(), rate, PARAMS)


def test_saturated_samples_are_clipped_and_flagged() -> None:
    window = signals.fall(peak=40.0)  # far beyond the +-16 g of the sensor
    decision = classify_window(window, 50.0, PARAMS)
    assert decision.saturated
    assert decision.is_fall
    assert decision.features["peak_g"] <= 16.0 * np.sqrt(3) + 1e-9
    assert not classify_window(signals.fall(), 50.0, PARAMS).saturated


def test_errors_are_value_errors() -> None:
    assert issubclass(DetectorError, ValueError)
    with pytest.raises(ValueError, match="window"):
        classify_windows(np.zeros((10, 3)), 50.0, PARAMS)


def test_trigger_finds_the_impact_and_windows_stay_inside_the_recording() -> None:
    recording = np.concatenate([signals.walking(30, seed=2), signals.fall(), signals.walking(3)])
    impacts = trigger_impacts(recording, 50.0)
    assert impacts.size == 1
    assert impacts[0] == pytest.approx(30 * 50 + 4.5 * 50, abs=3)
    windows = extract_windows(recording, 50.0, impacts)
    assert windows.shape == (1, 600, 3)
    assert classify_windows(windows, 50.0, PARAMS).is_fall[0]


def test_quiet_recording_triggers_nothing() -> None:
    assert trigger_impacts(signals.walking(60), 50.0).size == 0


def test_trigger_holds_off_between_impacts() -> None:
    impacts = trigger_impacts(signals.jogging(20), 50.0)
    assert impacts.size > 3
    assert np.all(np.diff(impacts) >= 2.0 * 50)


def test_window_near_either_end_is_shifted_inside_and_short_recording_is_padded() -> None:
    recording = signals.fall()
    windows = extract_windows(recording, 50.0, np.array([5, 595]))
    assert windows.shape == (2, 600, 3)
    np.testing.assert_array_equal(windows[0], recording)
    short = extract_windows(recording[:400], 50.0, np.array([200]))
    assert short.shape == (1, 600, 3)
    np.testing.assert_array_equal(short[0, 400:], np.repeat(recording[399:400], 200, axis=0))


def test_fitting_separates_synthetic_falls_from_daily_activities() -> None:
    falls = [signals.fall(seed=s, peak=p) for s in range(6) for p in (3.0, 6.0)]
    adls = [signals.hard_sit(seed=s) for s in range(6)]
    adls += [signals.jogging(seed=s) for s in range(6)]
    feats = fall_features(np.stack(falls + adls), 50.0)
    labels = np.array([1] * len(falls) + [0] * len(adls))
    params = fit_fall_classifier(feats, labels, l2=1.0)
    from detectors.fall import classify_features

    assert classify_features(feats, params).is_fall.tolist() == labels.astype(bool).tolist()
    with pytest.raises(BadParameters):
        fit_fall_classifier(feats, np.zeros(len(labels)))


def test_parameters_round_trip_through_json_bytes_and_path(tmp_path: Path) -> None:
    raw = json.dumps(PARAMS.to_dict()).encode()
    again = load_fall_params(raw)
    np.testing.assert_array_equal(again.coef, PARAMS.coef)
    path = tmp_path / "falls.json"
    path.write_bytes(raw)
    assert load_fall_params(path).threshold == PARAMS.threshold


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="other/9"),
        lambda d: d.update(coef=d["coef"][:-1]),
        lambda d: d.update(feature_names=["peak_g"]),
        lambda d: d.update(scale=[0.0] * len(d["scale"])),
        lambda d: d.pop("mean"),
        lambda d: d.update(upright=[0, 0, 0]),
        lambda d: d.update(free_coef=[1.0] * len(d["free_coef"])),  # uses the tilts
        lambda d: d.update(format="mehr.fall.logistic/1"),  # one coefficient set, fixed mount
    ],
)
def test_malformed_parameters_are_refused(mutate: object) -> None:
    data = PARAMS.to_dict()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(BadParameters):
        load_fall_params(json.dumps(data).encode())


def test_not_json_is_refused() -> None:
    with pytest.raises(BadParameters, match="not JSON"):
        load_fall_params(b"\xff{")
    with pytest.raises(BadParameters, match="object"):
        load_fall_params(b"[1, 2]")


def test_shipped_parameters_describe_a_50_hz_model() -> None:
    assert isinstance(PARAMS, FallParams)
    assert PARAMS.rate_hz == 50.0
    assert PARAMS.feature_names == FEATURE_NAMES


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(200, 700), st.just(3)),
        elements=st.floats(-30, 30, allow_nan=False, allow_infinity=False),
    )
)
def test_any_finite_window_gives_a_verdict_never_a_crash(window: np.ndarray) -> None:
    decision = classify_window(window, 50.0, PARAMS)
    assert 0.0 <= decision.probability <= 1.0
    assert np.isfinite(decision.logit)
    assert all(np.isfinite(v) for v in decision.features.values())


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 599),
    st.integers(0, 2),
    st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_any_non_finite_sample_is_a_clear_error(i: int, axis: int, bad: float) -> None:
    window = signals.fall()
    window[i, axis] = bad
    with pytest.raises(NonFiniteInput):
        classify_window(window, 50.0, PARAMS)


def _rotations(count: int, seed: int) -> np.ndarray:
    """Uniformly random 3-D rotation matrices (how a sensor may be clipped on), seeded."""
    from scipy.spatial.transform import Rotation

    return np.asarray(Rotation.random(count, random_state=seed).as_matrix())


@pytest.fixture(scope="module")
def simulated() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Simulated kit windows: every fall kind and every hard daily movement, lie-down included."""
    windows = labelled_set(per_kind=6, seed=11)
    return (
        np.stack([w.samples for w in windows]),
        np.array([w.is_fall for w in windows]),
        [w.kind for w in windows],
    )


def test_rotated_falls_and_daily_movements_get_the_same_verdicts_as_unrotated(
    simulated: tuple[np.ndarray, np.ndarray, list[str]],
) -> None:
    windows, is_fall, kinds = simulated
    assert "lie_down_quickly" in kinds
    turned = np.einsum("wij,wnj->wni", _rotations(len(windows), seed=3), windows)
    as_worn = classify_windows(windows, RATE_HZ, PARAMS)
    rotated = classify_windows(turned, RATE_HZ, PARAMS)
    assert rotated.is_fall.tolist() == as_worn.is_fall.tolist()
    np.testing.assert_allclose(rotated.logit, as_worn.logit, atol=1e-6)
    # And the verdicts are the right ones: every simulated fall, no hard sit, stumble or jump.
    hard = np.isin(kinds, ["sit_down_hard", "stumble", "small_jump"])
    assert as_worn.is_fall[is_fall].all()
    assert not as_worn.is_fall[hard].any()


def test_with_the_wearers_upright_rotated_windows_get_the_same_verdicts(
    simulated: tuple[np.ndarray, np.ndarray, list[str]],
) -> None:
    windows, _, _ = simulated
    turn = _rotations(len(windows), seed=4)
    turned = np.einsum("wij,wnj->wni", turn, windows)
    up = np.asarray(signals.UP)
    as_worn = classify_windows(windows, RATE_HZ, PARAMS, upright=up)
    rotated = classify_windows(turned, RATE_HZ, PARAMS, upright=turn @ up)
    assert as_worn.features.known().all()
    assert rotated.is_fall.tolist() == as_worn.is_fall.tolist()
    np.testing.assert_allclose(rotated.logit, as_worn.logit, atol=1e-6)


def test_a_quick_lie_down_on_a_bed_is_rarely_a_fall_in_any_orientation(
    simulated: tuple[np.ndarray, np.ndarray, list[str]],
) -> None:
    windows, _, kinds = simulated
    lie = windows[np.array(kinds) == "lie_down_quickly"]
    turned = np.einsum("wij,wnj->wni", _rotations(len(lie), seed=5), lie)
    up = np.asarray(signals.UP)
    unknown = classify_windows(turned, RATE_HZ, PARAMS).is_fall
    known = classify_windows(lie, RATE_HZ, PARAMS, upright=up).is_fall
    assert unknown.mean() <= 1 / 6
    assert known.mean() <= 1 / 6


@pytest.mark.parametrize("seed", range(4))
def test_the_wearers_upright_is_learned_from_walking_however_the_sensor_is_worn(
    seed: int,
) -> None:
    turn = _rotations(1, seed=seed)[0]
    walk = np.stack([signals.walking(12, seed=seed + k) for k in range(3)]) @ turn.T
    estimate = learn_upright(walk, 50.0, pre_impact_only=False)
    assert estimate is not None
    angle = np.degrees(np.arccos(np.clip(np.dot(estimate.direction, turn @ signals.UP), -1, 1)))
    assert angle < 3.0
    assert estimate.blocks >= 6
    # A window sent for an impact: only the walking before the impact counts.
    fall = signals.fall(seed=seed) @ turn.T
    from_window = learn_upright(np.stack([fall, fall]), 50.0)
    assert from_window is not None
    assert np.dot(from_window.direction, turn @ signals.UP) > np.cos(np.radians(10))


def test_no_walking_means_the_upright_stays_unknown() -> None:
    lying = np.tile([0.0, 0.0, -1.0], (600, 1)) + np.random.default_rng(1).normal(0, 0.01, (600, 3))
    assert learn_upright(lying, 50.0, pre_impact_only=False) is None
    # Sitting on the bed's edge, then a quick lie-down (simulated): sitting still is no walking.
    lie_downs = labelled_set(per_kind=3, seed=2)
    lie = np.stack([w.samples for w in lie_downs if w.kind == "lie_down_quickly"])
    assert learn_upright(lie, 50.0) is None


def test_upright_per_window_with_nan_rows_for_unknown_wearers() -> None:
    windows = np.stack([signals.fall(seed=2), signals.fall(seed=2)])
    rows = np.array([signals.UP, [np.nan, np.nan, np.nan]])
    batch = classify_windows(windows, 50.0, PARAMS, upright=rows)
    assert batch.features.known().tolist() == [True, False]
    assert batch.decision(0).upright_known
    assert batch.decision(1).features["tilt_before_deg"] == 0.0
    with pytest.raises(BadShape):
        classify_windows(windows, 50.0, PARAMS, upright=np.zeros((3, 3)))
