"""Fall detection on accelerometer windows: physical features and a small logistic classifier.

Pure numpy/scipy: windows in (W, N, 3) in g, typed results out, each with the features and the
per-feature contributions to the logit that decided it. No I/O here; parameters come in as a
`FallParams` (see `detectors.loader` for reading the shipped file).

The decision does not depend on how the sensor is clipped on. Every feature but the two tilts is
rotation-invariant (magnitudes, the angle between gravity before and after, variances in the
frame of the pre-impact gravity). The tilts need the wearer's upright direction, which
`learn_upright` learns from the signal itself (gravity while walking, e.g. the install walk test
or the windows a kit has sent); until it is known, a second coefficient set that ignores the
tilts decides.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, signal

from detectors.errors import (
    BadParameters,
    BadShape,
    EmptyInput,
    NonFiniteInput,
    WindowTooShort,
)

__all__ = [
    "DEFAULT_SATURATION_G",
    "FEATURE_NAMES",
    "MIN_AFTER_S",
    "MIN_WINDOW_S",
    "TRIGGER",
    "UPRIGHT",
    "FallBatch",
    "FallDecision",
    "FallFeatures",
    "FallParams",
    "TriggerConfig",
    "UprightEstimate",
    "classify_features",
    "classify_window",
    "classify_windows",
    "extract_windows",
    "fall_features",
    "fit_fall_classifier",
    "gait_gravity",
    "learn_upright",
    "trigger_impacts",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

#: The shortest window that still shows the moments before and after an impact.
MIN_WINDOW_S = 4.0
#: The impact is searched where at least this much of the window follows it.
MIN_AFTER_S = 2.0
#: ADXL345 full scale; readings at the rail are clipped there and flagged.
DEFAULT_SATURATION_G = 16.0
#: Gravity as a belt-worn sensor in SisFall's mounting reads it when the wearer stands (-y).
#: Only a default for tests and tools: the classifier never assumes it (see `learn_upright`).
UPRIGHT: tuple[float, float, float] = (0.0, -1.0, 0.0)
#: Below this rate the 5 Hz smoothing filter and the impact peak are meaningless.
_MIN_RATE_HZ = 20.0
_G = 9.80665

#: Features in the order the classifier sees them (raw physical values, before transform).
FEATURE_NAMES: tuple[str, ...] = (
    "peak_g",  # largest acceleration magnitude (the impact)
    "dip_g",  # lowest smoothed magnitude in the 1.5 s before the impact (free fall < 1 g)
    "fall_speed_ms",  # speed gained while under 1 g in the second before impact, m/s
    "posture_change_deg",  # angle between gravity before (-3..-1 s) and after (+2..+5 s)
    "tilt_before_deg",  # gravity before vs the wearer's upright direction (lying already: ~90)
    "tilt_after_deg",  # gravity after vs upright (lying on the floor: ~90)
    "post_motion_g",  # std of magnitude 1.5..5 s after impact (lying still is low)
    "c8_g",  # SisFall C8 in the pre-impact frame: max 1 s horizontal std around impact
    "c9_g",  # total 1 s std around impact, all axes
    "impact_energy_g2s",  # integral of (|a| - 1)^2 over +-0.5 s
    "post_active_s",  # time 1..8 s after impact with magnitude off 1 g by > 0.3 g
    # "Turned AND landed hard": a fall is a big turn together with a fast or hard landing; lying
    # down on a bed turns as much but lands soft and slow. A linear model cannot say "and"
    # without these products.
    "turn_x_log_energy",  # posture_change / 90 deg x log(impact_energy + 0.01)
    "turn_x_speed_ms",  # posture_change / 90 deg x fall_speed, m/s
)
#: Features that need the wearer's upright direction; the any-orientation coefficients are 0 here.
ORIENTED_FEATURES: tuple[str, ...] = ("tilt_before_deg", "tilt_after_deg")
_ORIENTED_INDEX = np.array([FEATURE_NAMES.index(n) for n in ORIENTED_FEATURES], dtype=np.intp)
#: Version 2: two coefficient sets (known upright / any orientation), upright learned.
_FORMAT = "mehr.fall.logistic/2"


@dataclass(frozen=True, slots=True)
class TriggerConfig:
    """The cheap impact trigger the kit runs before it sends a window (documented contract)."""

    threshold_g: float = 1.5  # raw magnitude; every SisFall fall passes it at 50 Hz
    peak_search_s: float = 1.0  # after crossing, the impact is the maximum within this span
    holdoff_s: float = 2.0  # after an impact, next crossing searched from impact + this
    pre_s: float = 4.0  # seconds of window before the impact
    post_s: float = 8.0  # seconds of window after the impact (12 s in all)


TRIGGER = TriggerConfig()


@dataclass(frozen=True, slots=True)
class FallParams:
    """Fitted parameters: standardisation, two logistic coefficient sets and the threshold.

    `coef`/`intercept` decide when the wearer's upright direction is known (they may use the
    tilts); `free_coef`/`free_intercept` decide when it is not (0 on `ORIENTED_FEATURES`, so the
    verdict is the same however the sensor is worn). `upright` is the wearer's direction if it
    was set at install; None (the shipped file) means "learn it" (see `learn_upright`).
    """

    rate_hz: float
    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    intercept: float
    threshold: float  # on the logit; probability = 1 / (1 + exp(-logit))
    free_coef: FloatArray
    free_intercept: float
    feature_names: tuple[str, ...] = FEATURE_NAMES
    saturation_g: float = DEFAULT_SATURATION_G
    upright: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        n = len(self.feature_names)
        if self.feature_names != FEATURE_NAMES:
            raise BadParameters(
                f"parameters are for features {self.feature_names}, this detector computes "
                f"{FEATURE_NAMES}; refit with `mehr train falls`"
            )
        for name in ("mean", "scale", "coef", "free_coef"):
            value = getattr(self, name)
            if value.shape != (n,) or not np.all(np.isfinite(value)):
                raise BadParameters(f"{name} must be {n} finite numbers, got {value!r}")
        if np.any(self.scale <= 0):
            raise BadParameters("scale must be positive")
        if np.any(self.free_coef[_ORIENTED_INDEX] != 0):
            raise BadParameters(f"free_coef must be 0 on {ORIENTED_FEATURES}")
        if not all(np.isfinite([self.intercept, self.threshold, self.free_intercept])):
            raise BadParameters("intercepts and threshold must be finite")
        if self.rate_hz < _MIN_RATE_HZ:
            raise BadParameters(f"rate_hz must be at least {_MIN_RATE_HZ}, got {self.rate_hz}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (the shipped file's content)."""
        return {
            "format": _FORMAT,
            "rate_hz": self.rate_hz,
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "free_coef": self.free_coef.tolist(),
            "free_intercept": self.free_intercept,
            "threshold": self.threshold,
            "saturation_g": self.saturation_g,
            "upright": None if self.upright is None else list(self.upright),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FallParams:
        """Build parameters from `to_dict`'s output; BadParameters names what is wrong."""
        if data.get("format") != _FORMAT:
            raise BadParameters(
                f"unknown fall parameter format {data.get('format')!r} (expected {_FORMAT!r}); "
                "refit with `mehr train falls`"
            )
        try:
            upright = data.get("upright")
            return cls(
                rate_hz=float(data["rate_hz"]),
                mean=np.asarray(data["mean"], dtype=np.float64),
                scale=np.asarray(data["scale"], dtype=np.float64),
                coef=np.asarray(data["coef"], dtype=np.float64),
                intercept=float(data["intercept"]),
                threshold=float(data["threshold"]),
                free_coef=np.asarray(data["free_coef"], dtype=np.float64),
                free_intercept=float(data["free_intercept"]),
                feature_names=tuple(str(n) for n in data["feature_names"]),
                saturation_g=float(data.get("saturation_g", DEFAULT_SATURATION_G)),
                upright=None if upright is None else _vector3(upright),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, BadParameters):
                raise
            raise BadParameters(f"malformed fall parameters: {exc}") from exc


def _vector3(value: Any) -> tuple[float, float, float]:
    x, y, z = (float(v) for v in value)
    if not (np.isfinite([x, y, z]).all() and x * x + y * y + z * z > 0):
        raise BadParameters(f"upright must be a non-zero 3-vector, got {value!r}")
    return (x, y, z)


@dataclass(frozen=True, slots=True)
class FallFeatures:
    """Features of a batch of windows: values (W, F) plus where the impact was and saturation.

    `upright_known[w]` says whether the tilts of window w were measured against the wearer's
    upright direction; where not, they are measured against the pre-impact gravity (so
    `tilt_before_deg` is 0) and the any-orientation coefficients decide.
    """

    values: FloatArray
    impact_index: IntArray
    saturated: BoolArray
    rate_hz: float
    names: tuple[str, ...] = FEATURE_NAMES
    upright_known: BoolArray | None = None

    def known(self) -> BoolArray:
        """Per window: was the wearer's upright known (False where `upright_known` is None)."""
        if self.upright_known is None:
            return np.zeros(self.values.shape[0], dtype=bool)
        return self.upright_known


@dataclass(frozen=True, slots=True)
class UprightEstimate:
    """The wearer's upright direction in the sensor's frame, learned from gravity while walking."""

    direction: tuple[float, float, float]  # unit vector: what the sensor reads standing, in g
    blocks: int  # 1 s stretches of walking it rests on
    spread_deg: float  # median angle of those stretches' gravity from `direction`


@dataclass(frozen=True, slots=True)
class FallDecision:
    """One window's verdict with the evidence: features, contributions, the deciding ones."""

    is_fall: bool
    probability: float
    logit: float
    threshold: float
    features: dict[str, float]
    contributions: dict[str, float]
    deciding: tuple[str, ...]
    impact_time_s: float
    saturated: bool
    upright_known: bool  # False: decided without the tilts (sensor orientation unknown)
    intercept: float  # of the coefficient set that decided; contributions + intercept = logit


@dataclass(frozen=True, slots=True)
class FallBatch:
    """Verdicts for W windows at once; `decision(i)` gives one window's explained result."""

    is_fall: BoolArray
    probability: FloatArray
    logit: FloatArray
    contributions: FloatArray
    features: FallFeatures
    threshold: float

    def __len__(self) -> int:
        return int(self.is_fall.shape[0])

    def decision(self, i: int) -> FallDecision:
        """Return window `i`'s verdict with its features and the contributions that decided it."""
        names = self.features.names
        contrib = self.contributions[i]
        fall = bool(self.is_fall[i])
        # The deciding features push the logit the way the verdict went, strongest first.
        sign = 1.0 if fall else -1.0
        order = np.argsort(-sign * contrib)
        deciding = tuple(names[j] for j in order[:3] if sign * contrib[j] > 0)
        return FallDecision(
            is_fall=fall,
            probability=float(self.probability[i]),
            logit=float(self.logit[i]),
            threshold=self.threshold,
            features={n: float(v) for n, v in zip(names, self.features.values[i], strict=True)},
            contributions={n: float(v) for n, v in zip(names, contrib, strict=True)},
            deciding=deciding,
            impact_time_s=float(self.features.impact_index[i]) / self.features.rate_hz,
            saturated=bool(self.features.saturated[i]),
            upright_known=bool(self.features.known()[i]),
            intercept=float(self.logit[i] - contrib.sum()),
        )


def _check_rate(rate_hz: float) -> None:
    if not np.isfinite(rate_hz) or rate_hz < _MIN_RATE_HZ:
        raise BadShape(f"sampling rate must be a number >= {_MIN_RATE_HZ} Hz, got {rate_hz!r}")


def _as_batch(windows: npt.ArrayLike, rate_hz: float) -> FloatArray:
    """Validate and return windows as float64 (W, N, 3)."""
    _check_rate(rate_hz)
    arr = np.asarray(windows, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise BadShape(f"expected windows of shape (N, 3) or (W, N, 3), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise EmptyInput(f"no samples: windows have shape {arr.shape}")
    if arr.shape[1] < MIN_WINDOW_S * rate_hz:
        raise WindowTooShort(
            f"a window needs at least {MIN_WINDOW_S:g} s ({int(MIN_WINDOW_S * rate_hz)} samples "
            f"at {rate_hz:g} Hz), got {arr.shape[1]}"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        w = np.unique(np.nonzero(bad)[0])
        raise NonFiniteInput(f"NaN or infinite acceleration in window(s) {w[:10].tolist()}")
    return arr


def _resample_batch(arr: FloatArray, from_hz: float, to_hz: float) -> FloatArray:
    if abs(from_hz - to_hz) < 1e-9:
        return arr
    ratio = Fraction(to_hz / from_hz).limit_denominator(1000)
    out = signal.resample_poly(arr, ratio.numerator, ratio.denominator, axis=1)
    return np.asarray(out, dtype=np.float64)


def _segment(
    x: FloatArray, centre: IntArray, start: int, length: int
) -> tuple[FloatArray, FloatArray]:
    """Samples x[w, centre+start : centre+start+length] and a 0/1 weight for those in the window.

    Parts of the segment outside the window get weight 0, so a recording that ends (or starts)
    close to the impact does not pretend to be still; if none is inside, the nearest sample
    stands in.
    """
    n = x.shape[1]
    idx = centre[:, None] + (start + np.arange(length))[None, :]
    weight = ((idx >= 0) & (idx < n)).astype(np.float64)
    np.clip(idx, 0, n - 1, out=idx)
    weight[weight.sum(axis=1) == 0] = 1.0
    if x.ndim == 3:
        return np.take_along_axis(x, idx[:, :, None], axis=1), weight
    return np.take_along_axis(x, idx, axis=1), weight


def _wmean(x: FloatArray, weight: FloatArray) -> FloatArray:
    """Weighted mean along axis 1; x is (W, L) or (W, L, 3)."""
    if x.ndim == 3:
        out = np.einsum("wli,wl->wi", x, weight) / weight.sum(axis=1)[:, None]
    else:
        out = np.einsum("wl,wl->w", x, weight) / weight.sum(axis=1)
    return np.asarray(out, dtype=np.float64)


def _angle_deg(a: FloatArray, b: FloatArray) -> FloatArray:
    """Angle between row vectors of a and b, in degrees (0 when either is ~zero)."""
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    cos = np.einsum("...i,...i->...", a, b) / np.maximum(na * nb, 1e-9)
    return np.asarray(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))), dtype=np.float64)


def fall_features(
    windows: npt.ArrayLike,
    rate_hz: float,
    *,
    saturation_g: float = DEFAULT_SATURATION_G,
    upright: npt.ArrayLike | None = None,
) -> FallFeatures:
    """Compute the fall features of one (N, 3) or many (W, N, 3) windows in g at `rate_hz`.

    `upright`: the wearer's upright direction, (3,) for all windows or (W, 3) per window (a row
    of NaN: unknown for that window); None: unknown for all.
    """
    arr = _as_batch(windows, rate_hz)
    up, known = _upright_rows(upright, arr.shape[0])
    saturated = np.any(np.abs(arr) >= saturation_g * 0.999, axis=(1, 2))
    # At the rail the true value is unknown but at least this big: clip so it cannot be worse.
    arr = np.clip(arr, -saturation_g, saturation_g)
    n_w = arr.shape[0]
    fs = float(rate_hz)

    def s(seconds: float) -> int:
        return round(seconds * fs)

    mag = np.sqrt(np.einsum("wni,wni->wn", arr, arr))
    # 4th-order 5 Hz low-pass as in the SisFall paper; zero-phase so the dip stays before the peak.
    mag_lp = signal.sosfiltfilt(_lowpass_sos(fs).copy(), mag, axis=1)
    # The impact is the largest peak that still has MIN_AFTER_S of window after it: a peak at the
    # very end has no "after" to judge (the next window the kit sends will show it).
    impact = np.argmax(mag[:, : mag.shape[1] - s(MIN_AFTER_S)], axis=1).astype(np.intp)
    peak = mag[np.arange(n_w), impact]

    seg, wt = _segment(mag_lp, impact, -s(1.5), s(1.5))
    dip = np.where(wt > 0, seg, np.inf).min(axis=1)
    seg, wt = _segment(mag_lp, impact, -s(1.0), s(1.0))
    speed = (np.clip(1.0 - seg, 0.0, None) * wt).sum(axis=1) / fs * _G

    seg3, wt = _segment(arr, impact, -s(3.0), s(2.0))
    g_pre = _wmean(seg3, wt)
    seg3, wt = _segment(arr, impact, s(2.0), s(3.0))
    g_post = _wmean(seg3, wt)
    posture = _angle_deg(g_pre, g_post)
    # Unknown upright: measure against the gravity before the impact (the wearer was upright),
    # which makes both tilts rotation-invariant; the any-orientation coefficients ignore them.
    reference = np.where(known[:, None], up, g_pre)
    tilt_before = _angle_deg(g_pre, reference)
    tilt_after = _angle_deg(g_post, reference)

    seg, wt = _segment(mag, impact, s(1.5), s(3.5))
    m1 = _wmean(seg, wt)
    post_motion = np.sqrt(np.clip(_wmean(seg * seg, wt) - m1 * m1, 0.0, None))
    seg, wt = _segment(mag_lp, impact, s(1.0), s(7.0))
    post_active = ((np.abs(seg - 1.0) > 0.3) * wt).sum(axis=1) / fs

    # C8/C9: 1 s standard deviations at centres within +-1 s of the impact, via cumulative sums.
    # C8 is horizontal variance; "horizontal" is the plane normal to gravity before the impact,
    # so it does not depend on how the sensor is worn.
    norm_pre = np.linalg.norm(g_pre, axis=1)
    u = g_pre / np.maximum(norm_pre, 1e-9)[:, None]
    seg3, _ = _segment(arr, impact, -s(1.5), s(3.0))
    proj = np.einsum("wni,wi->wn", seg3, u)
    win = 2 * max(1, s(0.5))
    var_total = _rolling_var(seg3, win).sum(axis=2)
    var_vert = _rolling_var(proj[:, :, None], win)[:, :, 0]
    c8 = np.sqrt(np.clip(var_total - var_vert, 0.0, None)).max(axis=1)
    c9 = np.sqrt(var_total).max(axis=1)

    seg, wt = _segment(mag, impact, -s(0.5), s(1.0))
    energy = (((seg - 1.0) ** 2) * wt).sum(axis=1) / fs

    turn = posture / 90.0
    values = np.stack(
        [
            peak, dip, speed, posture, tilt_before, tilt_after,
            post_motion, c8, c9, energy, post_active,
            turn * np.log(energy + 0.01), turn * speed,
        ],
        axis=1,
    )
    return FallFeatures(
        values=values,
        impact_index=impact,
        saturated=saturated,
        rate_hz=fs,
        upright_known=known,
    )


def _upright_rows(upright: npt.ArrayLike | None, n_w: int) -> tuple[FloatArray, BoolArray]:
    """The wearer's upright as (W, 3) rows and which rows are known (finite and non-zero)."""
    if upright is None:
        return np.zeros((n_w, 3)), np.zeros(n_w, dtype=bool)
    up = np.asarray(upright, dtype=np.float64)
    if up.shape == (3,):
        up = np.tile(up, (n_w, 1))
    if up.shape != (n_w, 3):
        raise BadShape(f"upright must be (3,) or ({n_w}, 3), got {up.shape}")
    known = np.all(np.isfinite(up), axis=1) & (np.linalg.norm(np.nan_to_num(up), axis=1) > 1e-6)
    return np.where(known[:, None], up, 0.0), known


def _rolling_var(x: FloatArray, win: int) -> FloatArray:
    """Variance over every run of `win` samples along axis 1 of a (W, L, C) array."""
    zero = np.zeros_like(x[:, :1])
    c1 = np.cumsum(np.concatenate([zero, x], axis=1), axis=1)
    c2 = np.cumsum(np.concatenate([zero, x * x], axis=1), axis=1)
    m1 = (c1[:, win:] - c1[:, :-win]) / win
    m2 = (c2[:, win:] - c2[:, :-win]) / win
    return np.asarray(np.clip(m2 - m1 * m1, 0.0, None), dtype=np.float64)


@functools.lru_cache(maxsize=16)
def _lowpass_sos(fs: float) -> FloatArray:
    # Cached: designing the filter costs more than filtering a small batch. Read-only result.
    sos = np.asarray(signal.butter(4, 5.0, btype="low", fs=fs, output="sos"), dtype=np.float64)
    sos.flags.writeable = False
    return sos


def _transform(values: FloatArray) -> FloatArray:
    """Map raw features to the classifier's inputs: logs where the physics is multiplicative."""
    out = values.copy()
    for j in (0, 6, 7, 8, 9):  # peak, post_motion, c8, c9, energy: spread over decades
        out[:, j] = np.log(values[:, j] + 0.01)
    return out


def classify_windows(
    windows: npt.ArrayLike,
    rate_hz: float,
    params: FallParams,
    *,
    upright: npt.ArrayLike | None = None,
) -> FallBatch:
    """Classify one (N, 3) or many (W, N, 3) windows in g sampled at `rate_hz`.

    `upright`: the wearer's upright direction if known ((3,) or (W, 3), see `learn_upright`);
    otherwise `params.upright`; if neither, the any-orientation coefficients decide.
    """
    arr = _as_batch(windows, rate_hz)
    arr = _resample_batch(arr, rate_hz, params.rate_hz)
    feats = fall_features(
        arr,
        params.rate_hz,
        saturation_g=params.saturation_g,
        upright=params.upright if upright is None else upright,
    )
    return classify_features(feats, params)


def classify_features(feats: FallFeatures, params: FallParams) -> FallBatch:
    """Classify windows whose features are already computed (at `params.rate_hz`)."""
    if feats.values.ndim != 2 or feats.values.shape[1] != len(params.feature_names):
        raise BadShape(f"expected features of shape (W, {len(params.feature_names)})")
    z = (_transform(feats.values) - params.mean) / params.scale
    known = feats.known()
    coef = np.where(known[:, None], params.coef[None, :], params.free_coef[None, :])
    contributions = z * coef
    logit = contributions.sum(axis=1) + np.where(known, params.intercept, params.free_intercept)
    probability = 0.5 * (1.0 + np.tanh(0.5 * logit))  # the logistic, without overflow
    return FallBatch(
        is_fall=logit >= params.threshold,
        probability=probability,
        logit=logit,
        contributions=contributions,
        features=feats,
        threshold=params.threshold,
    )


def classify_window(
    window: npt.ArrayLike,
    rate_hz: float,
    params: FallParams,
    *,
    upright: npt.ArrayLike | None = None,
) -> FallDecision:
    """Classify one (N, 3) window in g and explain the verdict (`upright`: see classify_windows)."""
    arr = np.asarray(window, dtype=np.float64)
    if arr.ndim != 2:
        raise BadShape(f"expected one window of shape (N, 3), got {arr.shape}")
    return classify_windows(arr, rate_hz, params, upright=upright).decision(0)


def fit_fall_classifier(
    features: FallFeatures,
    labels: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    l2: float = 1.0,
    threshold: float = 0.0,
) -> FallParams:
    """Fit standardised logistic regression (L2, L-BFGS) to feature rows and 0/1 labels.

    Two coefficient sets: one on every feature, fitted on the rows whose upright was known (none
    known: it copies the other), and one without `ORIENTED_FEATURES`, fitted on all rows.
    """
    x = _transform(features.values)
    y = np.asarray(labels, dtype=np.float64)
    if x.shape[0] == 0 or y.shape != (x.shape[0],):
        raise BadShape(f"need one label per feature row, got {y.shape} for {x.shape[0]} rows")
    if not (np.any(y == 1) and np.any(y == 0)):
        raise BadParameters("fitting needs both falls and non-falls")
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    known = features.known()
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    if known.any():  # the tilts mean something only where the upright was known
        mean[_ORIENTED_INDEX] = x[known][:, _ORIENTED_INDEX].mean(axis=0)
        scale[_ORIENTED_INDEX] = x[known][:, _ORIENTED_INDEX].std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    free_cols = np.setdiff1d(np.arange(z.shape[1]), _ORIENTED_INDEX)
    free_coef = np.zeros(z.shape[1])
    theta = _fit_logistic(z[:, free_cols], y, w, l2)
    free_coef[free_cols] = theta[:-1]
    free_intercept = float(theta[-1])
    rows = known
    if np.any(y[rows] == 1) and np.any(y[rows] == 0):
        theta = _fit_logistic(z[rows], y[rows], w[rows], l2)
        coef, intercept = theta[:-1], float(theta[-1])
    else:
        coef, intercept = free_coef.copy(), free_intercept
    return FallParams(
        rate_hz=features.rate_hz,
        mean=mean,
        scale=scale,
        coef=coef,
        intercept=intercept,
        threshold=float(threshold),
        free_coef=free_coef,
        free_intercept=free_intercept,
    )


def _fit_logistic(z: FloatArray, y: FloatArray, w: FloatArray, l2: float) -> FloatArray:
    """Coefficients then intercept of an L2 logistic regression with balanced class weights."""
    # Balance the classes so the many ADL windows do not drown the falls.
    w = w * np.where(y == 1, 0.5 / w[y == 1].sum(), 0.5 / w[y == 0].sum())
    n_f = z.shape[1]

    def loss(theta: FloatArray) -> tuple[float, FloatArray]:
        logit = z @ theta[:n_f] + theta[n_f]
        # log(1 + exp(-y*logit)) written stably; y in {-1, +1}.
        ys = 2.0 * y - 1.0
        m = ys * logit
        nll = np.logaddexp(0.0, -m)
        sig = 0.5 * (1.0 + np.tanh(-0.5 * m))  # = 1 / (1 + exp(m))
        g_logit = -ys * sig * w
        grad = np.concatenate([z.T @ g_logit, [g_logit.sum()]])
        penalty = 0.5 * l2 / len(y) * float(theta[:n_f] @ theta[:n_f])
        grad[:n_f] += l2 / len(y) * theta[:n_f]
        return float((w * nll).sum()) + penalty, grad

    result = optimize.minimize(loss, np.zeros(n_f + 1), jac=True, method="L-BFGS-B")
    return np.asarray(result.x, dtype=np.float64)


#: A 1 s stretch counts as walking when its magnitude swings like steps (std within these g),
#: mostly along its own mean (the vertical bounce of gait) and nothing in it hits hard.
_GAIT_STD_G = (0.08, 0.6)
_GAIT_VERTICAL_SHARE = 0.5
_GAIT_MAX_G = 2.5
#: Gravity of walking stretches further than this from the first estimate is not believed
#: (a turn while stumbling, a belt slipping) and left out of the second.
_GAIT_OUTLIER_DEG = 35.0


def gait_gravity(
    windows: npt.ArrayLike, rate_hz: float, *, pre_impact_only: bool = True
) -> tuple[FloatArray, BoolArray]:
    """Mean gravity of every 1 s walking stretch (hop 0.5 s) in (W, N, 3) windows, in g.

    Returns (W, B, 3) block means and a (W, B) mask of the blocks that look like walking. With
    `pre_impact_only`, only stretches ending 0.5 s before each window's impact count (the
    impact found as in `fall_features`), so a struggle on the floor never counts as walking.
    """
    arr = _as_batch(windows, rate_hz)
    length = max(2, round(rate_hz))
    hop = max(1, length // 2)
    blocks = np.lib.stride_tricks.sliding_window_view(arr, length, axis=1)[:, ::hop]
    # blocks: (W, B, 3, L)
    g = blocks.mean(axis=3)
    dyn = blocks - g[..., None]
    mag = np.sqrt(np.einsum("wbil,wbil->wbl", blocks, blocks))
    norm = np.linalg.norm(g, axis=2)
    u = g / np.maximum(norm, 1e-9)[..., None]
    vertical = np.einsum("wbil,wbi->wbl", dyn, u)
    total = np.einsum("wbil,wbil->wb", dyn, dyn)
    share = np.einsum("wbl,wbl->wb", vertical, vertical) / np.maximum(total, 1e-12)
    std = mag.std(axis=2)
    walking = (
        (std >= _GAIT_STD_G[0])
        & (std <= _GAIT_STD_G[1])
        & (share >= _GAIT_VERTICAL_SHARE)
        & (mag.max(axis=2) <= _GAIT_MAX_G)
        & (np.abs(norm - 1.0) <= 0.2)
    )
    if pre_impact_only:
        n = arr.shape[1]
        full = np.sqrt(np.einsum("wni,wni->wn", arr, arr))
        impact = np.argmax(full[:, : max(1, n - round(MIN_AFTER_S * rate_hz))], axis=1)
        ends = np.arange(blocks.shape[1]) * hop + length
        walking &= ends[None, :] <= (impact - round(0.5 * rate_hz))[:, None]
    return np.asarray(g, dtype=np.float64), walking


def learn_upright(
    windows: npt.ArrayLike,
    rate_hz: float,
    *,
    min_blocks: int = 6,
    pre_impact_only: bool = True,
) -> UprightEstimate | None:
    """Learn the wearer's upright direction from gravity while walking; None if too little.

    Pass a wearer's windows (the kit sends some while walking: a brisk step trips the trigger),
    or the install walk test's recording as one (N, 3) window with `pre_impact_only=False`.
    No labels are used: this is the signal itself, however the sensor is clipped on.
    """
    g, walking = gait_gravity(windows, rate_hz, pre_impact_only=pre_impact_only)
    vectors = g[walking]
    if vectors.shape[0] < min_blocks:
        return None
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    direction = unit.mean(axis=0)
    direction /= max(float(np.linalg.norm(direction)), 1e-9)
    inliers = _angle_deg(unit, direction[None, :]) <= _GAIT_OUTLIER_DEG
    if int(inliers.sum()) < min_blocks:
        return None
    direction = unit[inliers].mean(axis=0)
    direction /= max(float(np.linalg.norm(direction)), 1e-9)
    spread = float(np.median(_angle_deg(unit[inliers], direction[None, :])))
    x, y, z = (float(v) for v in direction)
    return UprightEstimate(direction=(x, y, z), blocks=int(inliers.sum()), spread_deg=spread)


def trigger_impacts(
    acc: npt.ArrayLike, rate_hz: float, config: TriggerConfig = TRIGGER
) -> IntArray:
    """Indices of impacts the kit's cheap trigger would report in a (N, 3) recording in g."""
    _check_rate(rate_hz)
    arr = np.asarray(acc, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise BadShape(f"expected a recording of shape (N, 3), got {arr.shape}")
    if arr.shape[0] == 0:
        raise EmptyInput("no samples")
    if not np.all(np.isfinite(arr)):
        raise NonFiniteInput("NaN or infinite acceleration in the recording")
    mag = np.sqrt(np.einsum("ni,ni->n", arr, arr))
    above = np.flatnonzero(mag > config.threshold_g)
    search = max(1, round(config.peak_search_s * rate_hz))
    holdoff = max(1, round(config.holdoff_s * rate_hz))
    impacts: list[int] = []
    next_allowed = 0
    # A loop over crossings only (a handful per minute), the same steps the kit runs in C/Python.
    while True:
        pos = int(np.searchsorted(above, next_allowed))
        if pos >= above.size:
            break
        start = int(above[pos])
        peak = start + int(np.argmax(mag[start : start + search]))
        impacts.append(peak)
        next_allowed = peak + holdoff
    return np.asarray(impacts, dtype=np.intp)


def extract_windows(
    acc: npt.ArrayLike, rate_hz: float, impacts: npt.ArrayLike, config: TriggerConfig = TRIGGER
) -> FloatArray:
    """Cut (W, N, 3) windows of pre_s + post_s around each impact, kept inside the recording."""
    arr = np.asarray(acc, dtype=np.float64)
    idx = np.asarray(impacts, dtype=np.intp)
    pre = round(config.pre_s * rate_hz)
    length = pre + round(config.post_s * rate_hz)
    if arr.shape[0] < length:
        # A recording shorter than a window: hold the last reading, as the kit's buffer would.
        arr = np.pad(arr, ((0, length - arr.shape[0]), (0, 0)), mode="edge")
    # Shift a window that would run past either end back inside: the impact stays in it.
    start = np.clip(idx - pre, 0, arr.shape[0] - length)
    return np.asarray(arr[start[:, None] + np.arange(length)[None, :]], dtype=np.float64)
