"""Fall detection on accelerometer windows: physical features and a small logistic classifier.

Pure numpy/scipy: windows in (W, N, 3) in g, typed results out, each with the features and the
per-feature contributions to the logit that decided it. No I/O here; parameters come in as a
`FallParams` (see `detectors.loader` for reading the shipped file).
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
    "classify_features",
    "classify_window",
    "classify_windows",
    "extract_windows",
    "fall_features",
    "fit_fall_classifier",
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
#: Gravity as the belt-worn sensor reads it when the wearer stands (SisFall's waist mount: -y).
#: The kit's fall sensor must be mounted the same way; see docs/detectors.md.
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
)


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
    """Fitted parameters: standardisation, logistic coefficients and decision threshold."""

    rate_hz: float
    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    intercept: float
    threshold: float  # on the logit; probability = 1 / (1 + exp(-logit))
    feature_names: tuple[str, ...] = FEATURE_NAMES
    saturation_g: float = DEFAULT_SATURATION_G
    upright: tuple[float, float, float] = UPRIGHT

    def __post_init__(self) -> None:
        n = len(self.feature_names)
        if self.feature_names != FEATURE_NAMES:
            raise BadParameters(
                f"parameters are for features {self.feature_names}, this detector computes "
                f"{FEATURE_NAMES}; refit with `mehr train falls`"
            )
        for name in ("mean", "scale", "coef"):
            value = getattr(self, name)
            if value.shape != (n,) or not np.all(np.isfinite(value)):
                raise BadParameters(f"{name} must be {n} finite numbers, got {value!r}")
        if np.any(self.scale <= 0):
            raise BadParameters("scale must be positive")
        if not (np.isfinite(self.intercept) and np.isfinite(self.threshold)):
            raise BadParameters("intercept and threshold must be finite")
        if self.rate_hz < _MIN_RATE_HZ:
            raise BadParameters(f"rate_hz must be at least {_MIN_RATE_HZ}, got {self.rate_hz}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (the shipped file's content)."""
        return {
            "format": "mehr.fall.logistic/1",
            "rate_hz": self.rate_hz,
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "threshold": self.threshold,
            "saturation_g": self.saturation_g,
            "upright": list(self.upright),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FallParams:
        """Build parameters from `to_dict`'s output; BadParameters names what is wrong."""
        if data.get("format") != "mehr.fall.logistic/1":
            raise BadParameters(f"unknown fall parameter format {data.get('format')!r}")
        try:
            return cls(
                rate_hz=float(data["rate_hz"]),
                mean=np.asarray(data["mean"], dtype=np.float64),
                scale=np.asarray(data["scale"], dtype=np.float64),
                coef=np.asarray(data["coef"], dtype=np.float64),
                intercept=float(data["intercept"]),
                threshold=float(data["threshold"]),
                feature_names=tuple(str(n) for n in data["feature_names"]),
                saturation_g=float(data.get("saturation_g", DEFAULT_SATURATION_G)),
                upright=_vector3(data.get("upright", UPRIGHT)),
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
    """Features of a batch of windows: values (W, F) plus where the impact was and saturation."""

    values: FloatArray
    impact_index: IntArray
    saturated: BoolArray
    rate_hz: float
    names: tuple[str, ...] = FEATURE_NAMES


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
    upright: npt.ArrayLike = UPRIGHT,
) -> FallFeatures:
    """Compute the fall features of one (N, 3) or many (W, N, 3) windows in g at `rate_hz`."""
    arr = _as_batch(windows, rate_hz)
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
    up = np.asarray(upright, dtype=np.float64)
    tilt_before = _angle_deg(g_pre, up[None, :])
    tilt_after = _angle_deg(g_post, up[None, :])

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

    values = np.stack(
        [
            peak, dip, speed, posture, tilt_before, tilt_after,
            post_motion, c8, c9, energy, post_active,
        ],
        axis=1,
    )
    return FallFeatures(values=values, impact_index=impact, saturated=saturated, rate_hz=fs)


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


def classify_windows(windows: npt.ArrayLike, rate_hz: float, params: FallParams) -> FallBatch:
    """Classify one (N, 3) or many (W, N, 3) windows in g sampled at `rate_hz`."""
    arr = _as_batch(windows, rate_hz)
    arr = _resample_batch(arr, rate_hz, params.rate_hz)
    feats = fall_features(
        arr, params.rate_hz, saturation_g=params.saturation_g, upright=params.upright
    )
    return classify_features(feats, params)


def classify_features(feats: FallFeatures, params: FallParams) -> FallBatch:
    """Classify windows whose features are already computed (at `params.rate_hz`)."""
    if feats.values.ndim != 2 or feats.values.shape[1] != len(params.feature_names):
        raise BadShape(f"expected features of shape (W, {len(params.feature_names)})")
    z = (_transform(feats.values) - params.mean) / params.scale
    contributions = z * params.coef
    logit = contributions.sum(axis=1) + params.intercept
    probability = 0.5 * (1.0 + np.tanh(0.5 * logit))  # the logistic, without overflow
    return FallBatch(
        is_fall=logit >= params.threshold,
        probability=probability,
        logit=logit,
        contributions=contributions,
        features=feats,
        threshold=params.threshold,
    )


def classify_window(window: npt.ArrayLike, rate_hz: float, params: FallParams) -> FallDecision:
    """Classify one (N, 3) window in g and explain the verdict."""
    arr = np.asarray(window, dtype=np.float64)
    if arr.ndim != 2:
        raise BadShape(f"expected one window of shape (N, 3), got {arr.shape}")
    return classify_windows(arr, rate_hz, params).decision(0)


def fit_fall_classifier(
    features: FallFeatures,
    labels: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    l2: float = 1.0,
    threshold: float = 0.0,
) -> FallParams:
    """Fit standardised logistic regression (L2, L-BFGS) to feature rows and 0/1 labels."""
    x = _transform(features.values)
    y = np.asarray(labels, dtype=np.float64)
    if x.shape[0] == 0 or y.shape != (x.shape[0],):
        raise BadShape(f"need one label per feature row, got {y.shape} for {x.shape[0]} rows")
    if not (np.any(y == 1) and np.any(y == 0)):
        raise BadParameters("fitting needs both falls and non-falls")
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    # Balance the classes so the many ADL windows do not drown the falls.
    w = w * np.where(y == 1, 0.5 / w[y == 1].sum(), 0.5 / w[y == 0].sum())
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
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
    theta = np.asarray(result.x, dtype=np.float64)
    return FallParams(
        rate_hz=features.rate_hz,
        mean=mean,
        scale=scale,
        coef=theta[:n_f],
        intercept=float(theta[n_f]),
        threshold=float(threshold),
    )


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
