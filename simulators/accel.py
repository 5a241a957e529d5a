"""A waist-worn accelerometer at 50 Hz, in g: falls and hard daily movements, each labelled.

Mounting follows docs/detectors.md (SisFall's): standing, the sensor reads gravity as (0, -1, 0);
x is lateral, y runs down the trunk, z points forward out of the belly. A reading is the specific
force: the direction of "world up" in the sensor frame times the support the body gets (about
0 in free fall, 1 at rest), plus the body's own accelerations, plus sensor noise.

Falls (forward, backward, sideways, from sitting, fainting) end lying still on the floor; hard
daily movements (sitting down hard, stumbling, a small jump, lying down quickly) trip the kit's
cheap 1.5 g trigger but must not raise an alarm. Windows are cut as the kit does: 4 s before the
impact, 8 s after, the impact being the largest magnitude within 1 s of the first sample >= 1.5 g.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ADL_KINDS",
    "AFTER_S",
    "BEFORE_S",
    "FALL_KINDS",
    "RATE_HZ",
    "TRIGGER_G",
    "UPRIGHT",
    "AccelRecording",
    "LabelledWindow",
    "adl_window",
    "fall_window",
    "kit_window",
    "labelled_set",
    "record",
]

Array = npt.NDArray[np.float64]

RATE_HZ: Final = 50.0
TRIGGER_G: Final = 1.5
BEFORE_S: Final = 4.0
AFTER_S: Final = 8.0
UPRIGHT: Final = (0.0, -1.0, 0.0)

FALL_KINDS: Final = (
    "fall_forward",
    "fall_backward",
    "fall_sideways",
    "fall_from_sitting",
    "fall_fainting",
)
ADL_KINDS: Final = ("sit_down_hard", "stumble", "small_jump", "lie_down_quickly")

_UP = np.array(UPRIGHT)
_PRONE = np.array([0.0, 0.0, -1.0])  # face down: world up is out of the back
_SUPINE = np.array([0.0, 0.0, 1.0])
_SIDE = np.array([1.0, 0.0, 0.0])
_SITTING = np.array([0.0, -0.94, 0.34])  # trunk reclined about 20 degrees


@dataclass(frozen=True)
class AccelRecording:
    """A continuous recording around one movement, with its ground truth."""

    samples: Array  # (N, 3) in g
    rate_hz: float
    kind: str
    is_fall: bool
    impact_index: int  # where the model put the impact (truth, not the trigger's guess)


@dataclass(frozen=True)
class LabelledWindow:
    """A window as the kit ships it, with its label."""

    samples: Array  # (N, 3) in g
    rate_hz: float
    trigger_index: int  # the impact sample inside the window
    kind: str
    is_fall: bool


def _unit(v: Array) -> Array:
    return np.asarray(v / np.linalg.norm(v, axis=-1, keepdims=True))


def _slerp(a: Array, b: Array, frac: Array) -> Array:
    a, b = _unit(a), _unit(b)
    omega = float(np.arccos(np.clip(a @ b, -1.0, 1.0)))
    if omega < 1e-6:
        return np.tile(a, (frac.size, 1))
    s = np.sin(omega)
    return np.asarray(
        (np.sin((1 - frac) * omega)[:, None] * a + np.sin(frac * omega)[:, None] * b) / s
    )


def _tilted(v: Array, rng: np.random.Generator, degrees: float) -> Array:
    """`v` turned by a random angle up to `degrees` (people do not land square)."""
    return _unit(v + rng.normal(0.0, np.tan(np.radians(degrees)) / 1.7, 3))


def _smooth_step(n: int) -> Array:
    x = np.linspace(0.0, 1.0, max(n, 1))
    return np.asarray(x * x * (3 - 2 * x))


def _pulse(n: int, at: int, width_s: float, rate: float) -> Array:
    """A damped impact pulse (peak 1 at `at`): the body hits, rebounds once, settles."""
    k = (np.arange(n) - at) / rate
    main = np.exp(-0.5 * (k / width_s) ** 2)
    rebound = -0.25 * np.exp(-0.5 * ((k - 3 * width_s) / (1.5 * width_s)) ** 2)
    return np.asarray(main + rebound)


class _Builder:
    """Orientation, support and body accelerations over time; `samples()` sums them."""

    def __init__(self, seconds: float, rate: float, rng: np.random.Generator) -> None:
        self.rate = rate
        self.rng = rng
        self.n = round(seconds * rate)
        self.t = np.arange(self.n) / rate
        self.up = np.tile(_UP, (self.n, 1))
        self.support = np.ones(self.n)
        self.dyn = np.zeros((self.n, 3))
        self.noise_g = 0.012

    def i(self, seconds: float) -> int:
        return min(self.n - 1, max(0, round(seconds * self.rate)))

    def hold(self, start_s: float, orientation: Array) -> None:
        self.up[self.i(start_s) :] = _unit(orientation)

    def turn(self, start_s: float, end_s: float, target: Array) -> None:
        a, b = self.i(start_s), self.i(end_s)
        frac = _smooth_step(b - a)
        self.up[a:b] = _slerp(self.up[a], target, frac)
        self.up[b:] = _unit(target)

    def walk(self, start_s: float, end_s: float, amp: float = 0.22) -> None:
        a, b = self.i(start_s), self.i(end_s)
        cadence = self.rng.uniform(1.6, 2.0)  # steps per second, older adults walk slowly
        phase = self.rng.uniform(0, 2 * np.pi)
        tt = self.t[a:b]
        self.dyn[a:b, 1] -= amp * np.sin(2 * np.pi * cadence * tt + phase)
        self.dyn[a:b, 0] += 0.4 * amp * np.sin(np.pi * cadence * tt + phase)
        self.dyn[a:b, 2] += 0.3 * amp * np.sin(2 * np.pi * cadence * tt + phase + 1.0)

    def fidget(self, start_s: float, end_s: float, amp: float) -> None:
        a, b = self.i(start_s), self.i(end_s)
        if b <= a:
            return
        # Low-frequency body movement: noise smoothed over ~0.3 s.
        raw = self.rng.normal(0, amp, (b - a + 15, 3))
        kernel = np.ones(15) / 15
        sm = np.stack([np.convolve(raw[:, k], kernel, mode="valid") for k in range(3)], axis=1)
        self.dyn[a:b] += sm[: b - a] * np.sqrt(15)

    def free_fall(self, start_s: float, end_s: float, depth: float) -> None:
        """Support drops towards `depth` g (0: true free fall) and recovers at the impact."""
        a, b = self.i(start_s), self.i(end_s)
        frac = np.linspace(0.0, 1.0, max(b - a, 1))
        self.support[a:b] = 1.0 - (1.0 - depth) * np.sin(np.pi * frac / 2) ** 0.7

    def impact(self, at_s: float, peak_g: float, direction: Array, width_s: float = 0.04) -> int:
        at = self.i(at_s)
        self.dyn += np.outer(_pulse(self.n, at, width_s, self.rate), _unit(direction)) * (
            peak_g - 1.0
        )
        return at

    def samples(self) -> Array:
        acc = self.up * self.support[:, None] + self.dyn
        return np.asarray(acc + self.rng.normal(0.0, self.noise_g, acc.shape))


def _fall(kind: str, rng: np.random.Generator, seconds: float) -> tuple[Array, int]:
    b = _Builder(seconds, RATE_HZ, rng)
    t_imp = 8.0 + rng.uniform(-0.3, 0.3)
    if kind == "fall_from_sitting":
        b.hold(0.0, _tilted(_SITTING, rng, 8))
        b.fidget(0.0, t_imp - 1.0, 0.02)
        lying = _tilted(_PRONE if rng.random() < 0.5 else _SIDE * rng.choice([-1, 1]), rng, 20)
        fall_s = rng.uniform(0.5, 0.8)
        depth, peak = rng.uniform(0.35, 0.6), rng.uniform(2.5, 4.0)
    elif kind == "fall_fainting":
        b.hold(0.0, _tilted(_UP, rng, 4))
        b.fidget(0.0, t_imp - 1.5, 0.015)
        lying = _tilted(_PRONE if rng.random() < 0.6 else _SIDE * rng.choice([-1, 1]), rng, 20)
        # The knees give first (a slow sag), then the trunk drops.
        b.free_fall(t_imp - 1.6, t_imp - 0.6, 0.8)
        fall_s = rng.uniform(0.5, 0.7)
        depth, peak = rng.uniform(0.3, 0.5), rng.uniform(2.6, 4.5)
    else:
        b.walk(0.0, t_imp - 0.6)
        target = {"fall_forward": _PRONE, "fall_backward": _SUPINE}.get(
            kind, _SIDE * rng.choice([-1, 1])
        )
        lying = _tilted(target, rng, 20)
        fall_s = rng.uniform(0.5, 0.8)
        depth = rng.uniform(0.15, 0.45)
        peak = rng.uniform(3.0, 5.5) if kind == "fall_sideways" else rng.uniform(3.5, 6.5)
    b.free_fall(t_imp - fall_s, t_imp, depth)
    b.turn(t_imp - fall_s, t_imp + 0.1, lying)
    # The ground pushes the body back up: mostly along the lying "up", partly along the motion.
    direction = lying + 0.5 * (lying - _UP) + rng.normal(0, 0.2, 3)
    at = b.impact(t_imp, peak, direction)
    # A second, smaller hit (hip then shoulder, or a bounce) is common.
    b.impact(t_imp + rng.uniform(0.12, 0.3), 1.0 + 0.3 * (peak - 1.0), direction, 0.03)
    # Then lying still: breathing and small shifts only.
    b.fidget(t_imp + 0.6, seconds, 0.004)
    return b.samples(), at


def _adl(kind: str, rng: np.random.Generator, seconds: float) -> tuple[Array, int]:
    b = _Builder(seconds, RATE_HZ, rng)
    t_imp = 8.0 + rng.uniform(-0.3, 0.3)
    if kind == "sit_down_hard":
        b.walk(0.0, t_imp - 1.5)
        b.turn(t_imp - 0.7, t_imp + 0.2, _tilted(_SITTING, rng, 8))
        b.free_fall(t_imp - 0.4, t_imp, rng.uniform(0.55, 0.8))
        at = b.impact(t_imp, rng.uniform(1.8, 2.8), _SITTING + rng.normal(0, 0.15, 3), 0.05)
        b.fidget(t_imp + 0.8, seconds, 0.02)
    elif kind == "stumble":
        b.walk(0.0, seconds)
        at = b.impact(t_imp, rng.uniform(2.0, 3.0), np.array([0.2, -0.6, -1.0]), 0.05)
        # Catching oneself: a lurch forward and back, then walking on, upright.
        b.turn(t_imp, t_imp + 0.3, _tilted(_UP + np.array([0, 0, 0.35]), rng, 3))
        b.turn(t_imp + 0.3, t_imp + 0.9, _tilted(_UP, rng, 3))
    elif kind == "small_jump":
        b.hold(0.0, _tilted(_UP, rng, 3))
        b.fidget(0.0, seconds, 0.02)
        b.impact(t_imp - 0.45, rng.uniform(1.3, 1.45), _UP, 0.06)  # push-off
        b.free_fall(t_imp - 0.32, t_imp, 0.1)
        at = b.impact(t_imp, rng.uniform(2.5, 4.0), _UP + rng.normal(0, 0.1, 3), 0.035)
    elif kind == "lie_down_quickly":
        # From sitting on the bed's edge the trunk pivots at the hips: the pelvis (where the
        # sensor is) barely drops, so there is no free fall, and it tilts less than the trunk.
        b.hold(0.0, _tilted(_SITTING, rng, 8))
        b.fidget(0.0, t_imp - 1.6, 0.02)
        back = _SUPINE if rng.random() < 0.6 else _SIDE * rng.choice([-1, 1])
        angle = np.radians(rng.uniform(60.0, 85.0))
        lying = _tilted(np.cos(angle) * _UP + np.sin(angle) * back, rng, 5)
        b.turn(t_imp - rng.uniform(1.0, 1.5), t_imp + 0.1, lying)
        b.free_fall(t_imp - 0.3, t_imp, rng.uniform(0.85, 0.95))
        at = b.impact(t_imp, rng.uniform(1.6, 2.3), lying, 0.07)  # a mattress is soft
        b.fidget(t_imp + 0.5, t_imp + 3.0, 0.02)  # settling, pulling the blanket
        b.fidget(t_imp + 3.0, seconds, 0.008)
    else:
        raise ValueError(f"unknown movement {kind!r}; expected one of {FALL_KINDS + ADL_KINDS}")
    return b.samples(), at


def record(kind: str, rng: np.random.Generator, seconds: float = 20.0) -> AccelRecording:
    """A continuous recording of one labelled movement (impact about 8 s in)."""
    if kind in FALL_KINDS:
        samples, at = _fall(kind, rng, seconds)
        return AccelRecording(samples, RATE_HZ, kind, True, at)
    samples, at = _adl(kind, rng, seconds)
    return AccelRecording(samples, RATE_HZ, kind, False, at)


def kit_window(rec: AccelRecording) -> LabelledWindow | None:
    """Cut the window the kit's trigger would send (None: the trigger never fired)."""
    mag = np.linalg.norm(rec.samples, axis=1)
    rate = rec.rate_hz
    above = np.flatnonzero(mag >= TRIGGER_G)
    if above.size == 0:
        return None
    first = int(above[0])
    look = mag[first : first + round(rate)]
    impact = first + int(np.argmax(look))
    lo, hi = impact - round(BEFORE_S * rate), impact + round(AFTER_S * rate)
    if lo < 0 or hi > len(mag):
        return None
    return LabelledWindow(rec.samples[lo:hi].copy(), rate, impact - lo, rec.kind, rec.is_fall)


def fall_window(kind: str, rng: np.random.Generator) -> LabelledWindow:
    """A labelled fall window as the kit would ship it."""
    if kind not in FALL_KINDS:
        raise ValueError(f"unknown fall {kind!r}; expected one of {FALL_KINDS}")
    win = kit_window(record(kind, rng))
    if win is None:  # every modelled fall peaks far above the trigger
        raise RuntimeError(f"simulated {kind} did not trip the trigger")
    return win


def adl_window(kind: str, rng: np.random.Generator) -> LabelledWindow:
    """A labelled hard-daily-movement window as the kit would ship it."""
    if kind not in ADL_KINDS:
        raise ValueError(f"unknown movement {kind!r}; expected one of {ADL_KINDS}")
    win = kit_window(record(kind, rng))
    if win is None:
        raise RuntimeError(f"simulated {kind} did not trip the trigger")
    return win


def labelled_set(per_kind: int, seed: int = 0) -> list[LabelledWindow]:
    """`per_kind` windows of every fall and every hard daily movement, seeded."""
    rng = np.random.default_rng(seed)
    out = []
    for kind in FALL_KINDS:
        out += [fall_window(kind, rng) for _ in range(per_kind)]
    for kind in ADL_KINDS:
        out += [adl_window(kind, rng) for _ in range(per_kind)]
    return out
