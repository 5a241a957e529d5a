"""Cold home: indoor temperature below a safe level for too long, with its trend (numpy only).

An older person's body keeps warm poorly; WHO's Housing and health guidelines (2018) set 18 °C
as the safe indoor minimum in cold seasons, higher for older people. In winter a gas or power
cut stops the heating of a whole mahalla at once: homes then cool together, which
`onset_clusters` finds so the hub can raise one grouped alert instead of many.

Readings arrive when they change (Zigbee sensors report on a step of a few tenths of a degree,
or hourly), so a reading holds until the next one. A home with several sensors is cold only
when its warmest fresh sensor is: a warm room is where the resident can be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from detectors.errors import BadShape, NonFiniteInput

__all__ = ["SAFE_INDOOR_C", "ColdHome", "check_cold_home", "onset_clusters"]

SAFE_INDOOR_C: Final = 18.0


@dataclass(frozen=True, slots=True)
class ColdHome:
    """A cold spell and the features that decided it."""

    since_s: float  # first reading below safe_c of the current spell (warmest sensor)
    duration_s: float
    latest_c: float
    trend_c_per_h: float  # least-squares slope over the trend window; negative: cooling
    safe_c: float
    sensor: int  # code of the warmest fresh sensor (the one that decided)


def _slope_per_h(times_s: npt.NDArray[np.float64], temps: npt.NDArray[np.float64]) -> float:
    if times_s.size < 2 or float(np.ptp(times_s)) == 0.0:
        return 0.0
    hours = (times_s - times_s[0]) / 3600.0
    slope, _ = np.polyfit(hours, temps, 1)
    return float(slope)


def check_cold_home(
    times_s: npt.ArrayLike,
    temps_c: npt.ArrayLike,
    sensors: npt.ArrayLike,
    now_s: float,
    *,
    safe_c: float = SAFE_INDOOR_C,
    min_duration_s: float = 2 * 3600.0,
    trend_window_s: float = 3 * 3600.0,
    max_age_s: float = 3 * 3600.0,
) -> ColdHome | None:
    """A cold spell of at least `min_duration_s` at `now_s`, or None.

    `times_s` (epoch seconds), `temps_c` and `sensors` (integer codes) are one row per reading,
    in any order. Sensors whose newest reading is older than `max_age_s` are not trusted
    (a dead battery is not a cold home; the kit's health alerts cover it).
    """
    times = np.asarray(times_s, dtype=np.float64)
    temps = np.asarray(temps_c, dtype=np.float64)
    codes = np.asarray(sensors, dtype=np.int64)
    if not times.shape == temps.shape == codes.shape or times.ndim != 1:
        raise BadShape("times_s, temps_c and sensors must be 1-D arrays of one length")
    if not np.all(np.isfinite(temps)) or not np.all(np.isfinite(times)):
        raise NonFiniteInput("temperatures and times must be finite")
    keep = times <= now_s
    times, temps, codes = times[keep], temps[keep], codes[keep]
    if times.size == 0:
        return None
    order = np.lexsort((times, codes))
    times, temps, codes = times[order], temps[order], codes[order]
    # Last row of each sensor: its newest reading.
    last = np.flatnonzero(np.r_[codes[1:] != codes[:-1], True])
    fresh = last[now_s - times[last] <= max_age_s]
    if fresh.size == 0:
        return None
    warmest = int(fresh[np.argmax(temps[fresh])])
    if temps[warmest] >= safe_c:
        return None
    mine = codes == codes[warmest]
    t, c = times[mine], temps[mine]
    warm = np.flatnonzero(c >= safe_c)
    # The spell starts at the first cold reading after the last warm one (or the first we have).
    since = float(t[warm[-1] + 1]) if warm.size else float(t[0])
    duration = now_s - since
    if duration < min_duration_s:
        return None
    recent = t >= now_s - trend_window_s
    return ColdHome(
        since_s=since,
        duration_s=duration,
        latest_c=float(c[-1]),
        trend_c_per_h=_slope_per_h(t[recent], c[recent]),
        safe_c=safe_c,
        sensor=int(codes[warmest]),
    )


def onset_clusters(
    since_s: npt.ArrayLike, window_s: float, min_count: int
) -> npt.NDArray[np.bool_]:
    """Mask of the spells that began within `window_s` of the earliest, if at least `min_count`.

    One mahalla's cold spells in; True where they belong to one shared cause (the heating of
    many homes stopped together), False everywhere when too few began together.
    """
    starts = np.asarray(since_s, dtype=np.float64)
    if starts.size == 0:
        return np.zeros(0, dtype=np.bool_)
    together: npt.NDArray[np.bool_] = np.abs(starts - starts.min()) <= window_s
    if int(together.sum()) < min_count:
        return np.zeros(starts.shape, dtype=np.bool_)
    return together
