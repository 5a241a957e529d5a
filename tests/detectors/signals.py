"""Synthetic accelerometer recordings (g, waist-worn, upright = (0, -1, 0)) made by the tests."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

RATE = 50.0
UP = np.array([0.0, -1.0, 0.0])
Arr = npt.NDArray[np.float64]


def _rotate_towards(a: Arr, b: Arr, frac: Arr) -> Arr:
    """Unit vectors moving from a to b along the great circle, frac in 0..1 per sample."""
    omega = np.arccos(np.clip(a @ b, -1, 1))
    s = np.sin(omega)
    out = (np.sin((1 - frac) * omega)[:, None] * a + np.sin(frac * omega)[:, None] * b) / s
    return np.asarray(out)


def _pulse(n: int, at: int, width: int, height: float) -> Arr:
    k = np.arange(n)
    return np.asarray(height * np.exp(-0.5 * ((k - at) / width) ** 2))


def walking(seconds: float, rate: float = RATE, amp: float = 0.25, seed: int = 0) -> Arr:
    """Upright walking: ~2 steps/s, vertical bounce and a little sway."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    acc = np.tile(UP, (t.size, 1))
    acc[:, 1] -= amp * np.sin(2 * np.pi * 2.0 * t)
    acc[:, 0] += 0.5 * amp * np.sin(2 * np.pi * 1.0 * t)
    return acc + rng.normal(0, 0.02, acc.shape)


def fall(rate: float = RATE, seed: int = 0, peak: float = 5.0, end: Arr | None = None) -> Arr:
    """12 s: 4 s walking, 0.5 s free fall, an impact, then lying still rotated ~90 degrees."""
    rng = np.random.default_rng(seed)
    n = int(12 * rate)
    i_fall = int(4.0 * rate)
    i_imp = int(4.5 * rate)
    lying = np.array([0.0, -0.1, -1.0]) if end is None else end
    lying = lying / np.linalg.norm(lying)
    acc = walking(12, rate, seed=seed)
    # Free fall: magnitude drops towards 0.2 g while the body starts to rotate.
    k = np.arange(i_fall, i_imp)
    frac = (k - i_fall) / (i_imp - i_fall)
    direction = _rotate_towards(UP, lying, frac * 0.7)
    acc[i_fall:i_imp] = direction * (1.0 - 0.8 * np.sin(np.pi * frac / 2))[:, None]
    # Impact: a sharp pulse mostly horizontal to the pre-fall frame, then lying still.
    acc[i_imp:] = lying
    width = max(1.0, 0.03 * rate)
    acc += _pulse(n, i_imp, width, peak)[:, None] * np.array([0.7, -0.3, -0.65])
    acc[i_imp + int(0.3 * rate) :] += rng.normal(0, 0.01, (n - i_imp - int(0.3 * rate), 3))
    return acc


def hard_sit(rate: float = RATE, seed: int = 0) -> Arr:
    """12 s: walking, a quick drop onto a chair (2.5 g), then sitting still, trunk ~15 degrees."""
    rng = np.random.default_rng(seed)
    n = int(12 * rate)
    i0, i1 = int(4.0 * rate), int(4.6 * rate)
    sitting = np.array([0.0, -0.97, -0.26])
    acc = walking(12, rate, seed=seed)
    k = np.arange(i0, i1)
    frac = (k - i0) / (i1 - i0)
    acc[i0:i1] = _rotate_towards(UP, sitting, frac) * (1 - 0.4 * np.sin(np.pi * frac))[:, None]
    acc[i1:] = sitting
    acc += _pulse(n, i1, 0.05 * rate, 1.5)[:, None] * np.array([0.1, -0.95, -0.2])
    acc[i1:] += rng.normal(0, 0.02, (n - i1, 3))
    return acc


def jogging(seconds: float = 12, rate: float = RATE, seed: int = 0) -> Arr:
    """Jogging: 3 g heel strikes at ~2.8 Hz, upright."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    acc = np.tile(UP, (t.size, 1))
    phase = np.mod(t * 2.8, 1.0)
    acc[:, 1] -= 2.0 * np.exp(-0.5 * ((phase - 0.5) / 0.06) ** 2) - 0.5
    acc[:, 0] += 0.3 * np.sin(2 * np.pi * 1.4 * t)
    return acc + rng.normal(0, 0.05, acc.shape)
