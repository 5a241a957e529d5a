"""Unusual inactivity across many homes in one numpy pass, with explanations as data.

The hub keeps, per home, the learned thresholds (a row of `Routine.threshold_s`), the time and
routine bin of the last activity, and whether the resident is out; `scan_inactivity` then decides
which of 100,000 homes are overdue in a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.errors import BadShape, EmptyInput, NonFiniteInput
from detectors.routine import N_BINS, Routine

__all__ = [
    "InactivityExplanation",
    "InactivityScan",
    "explain_inactivity",
    "scan_inactivity",
    "stack_routines",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class InactivityScan:
    """Per-home verdicts of one scan: who is overdue, how silent, against which limit."""

    overdue: BoolArray  # (H,)
    silence_s: FloatArray  # (H,) now - last activity, 0 where the clock ran backwards
    threshold_s: FloatArray  # (H,) the limit that applied
    clock_behind: BoolArray  # (H,) last activity later than now: skipped, not alerted

    @property
    def overdue_homes(self) -> IntArray:
        """Row indices of the overdue homes."""
        return np.flatnonzero(self.overdue)


@dataclass(frozen=True, slots=True)
class InactivityExplanation:
    """Figures for "no movement for 2 h 10 min since Kitchen at 10:40; usually under 45 min"."""

    silence_s: float
    last_room: str
    last_activity_s: float  # UTC
    last_activity_local_tod_s: float  # local seconds since midnight
    usual_s: float  # this home's 90th percentile gap at that hour
    threshold_s: float
    learned: bool  # False while the home is still on defaults (under 14 days)


def stack_routines(routines: Sequence[Routine]) -> tuple[FloatArray, FloatArray]:
    """Stack homes' routines into the (H, N_BINS) threshold and usual-gap arrays the scan uses."""
    if not routines:
        return np.zeros((0, N_BINS)), np.zeros((0, N_BINS))
    return (
        np.stack([r.threshold_s for r in routines]),
        np.stack([r.usual_s for r in routines]),
    )


def scan_inactivity(
    thresholds_s: npt.ArrayLike,
    last_activity_s: npt.ArrayLike,
    last_bin: npt.ArrayLike,
    now_s: float,
    away: npt.ArrayLike | None = None,
    threshold_scale: npt.ArrayLike | None = None,
) -> InactivityScan:
    """Flag homes whose silence since their last activity exceeds their limit at that hour.

    thresholds_s (H, B), last_activity_s (H,) UTC seconds (NaN: no activity yet, never flagged),
    last_bin (H,) routine bin of the last activity, away (H,) resident out (never inactivity),
    threshold_scale (H,) optional per-home factor (care-plan risk) applied on top.
    """
    thr = np.asarray(thresholds_s, dtype=np.float64)
    last = np.asarray(last_activity_s, dtype=np.float64)
    bins = np.asarray(last_bin, dtype=np.intp)
    if thr.ndim != 2 or last.shape != (thr.shape[0],) or bins.shape != last.shape:
        raise BadShape(
            f"need thresholds (H, B) with last_activity_s and last_bin of shape (H,); got "
            f"{thr.shape}, {last.shape}, {bins.shape}"
        )
    if thr.shape[1] == 0:
        raise EmptyInput("thresholds have no bins")
    if not np.isfinite(now_s):
        raise NonFiniteInput("now must be finite")
    if bins.size and (bins.min() < 0 or bins.max() >= thr.shape[1]):
        raise BadShape(f"last_bin must lie in 0..{thr.shape[1] - 1}")
    limit = thr[np.arange(thr.shape[0]), bins]
    if threshold_scale is not None:
        limit = limit * np.asarray(threshold_scale, dtype=np.float64)
    silence = now_s - last
    clock_behind = silence < 0
    # NaN (no activity yet) compares False, so such homes are never overdue.
    overdue = silence > limit
    if away is not None:
        overdue &= ~np.asarray(away, dtype=bool)
    return InactivityScan(
        overdue=overdue,
        silence_s=np.where(clock_behind, 0.0, silence),
        threshold_s=limit,
        clock_behind=clock_behind,
    )


def explain_inactivity(
    routine: Routine,
    last_activity_s: float,
    last_room: str,
    last_bin: int,
    now_s: float,
    utc_offset_s: float,
) -> InactivityExplanation:
    """Build the explanation of one home's inactivity verdict from its routine."""
    if not (np.isfinite(last_activity_s) and np.isfinite(now_s)):
        raise NonFiniteInput("times must be finite")
    return InactivityExplanation(
        silence_s=max(0.0, now_s - last_activity_s),
        last_room=last_room,
        last_activity_s=last_activity_s,
        last_activity_local_tod_s=float((last_activity_s + utc_offset_s) % 86_400.0),
        usual_s=float(routine.usual_s[last_bin]),
        threshold_s=float(routine.threshold_s[last_bin]),
        learned=routine.learned,
    )
