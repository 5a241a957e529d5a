"""Unusual inactivity across many homes in one numpy pass, with explanations as data.

The hub keeps, per home, the learned limits (`Routine.threshold_s` or, for homes whose kit can
ask "Are you OK?", `Routine.ask_threshold_s`: channels x hours), when the silence being judged
began, its channel (the room, or the room's seat/bed mat occupied) and hour, and whether the
resident is out; `scan_inactivity` then decides which of 100,000 homes are overdue in a few
milliseconds. `check_home` decides one home through the same `scan_silences`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from detectors.errors import BadShape, EmptyInput, NonFiniteInput

if TYPE_CHECKING:
    from detectors.routine import Routine

__all__ = [
    "InactivityExplanation",
    "InactivityScan",
    "explain_inactivity",
    "scan_inactivity",
    "scan_silences",
    "stack_routines",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class InactivityScan:
    """Per-home verdicts of one scan: who is overdue, how silent, against which limit."""

    overdue: BoolArray  # (H,)
    silence_s: FloatArray  # (H,) now - start of the silence, 0 where the clock ran backwards
    threshold_s: FloatArray  # (H,) the limit that applied
    clock_behind: BoolArray  # (H,) silence began later than now: skipped, not alerted

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
    usual_s: float  # what this room at this hour reaches on about one day in ten
    threshold_s: float
    learned: bool  # False while the home is still on defaults


def stack_routines(
    routines: Sequence[Routine], *, ask_first: npt.ArrayLike | None = None
) -> tuple[FloatArray, FloatArray]:
    """Stack homes' routines into the (H, C, B) limit and usual-silence arrays the scan uses.

    `ask_first` (H,) picks each home's asking limits instead of the worker limits.
    """
    if not routines:
        return np.zeros((0, 0, 0)), np.zeros((0, 0, 0))
    ask = (
        np.zeros(len(routines), dtype=bool)
        if ask_first is None
        else np.asarray(ask_first, dtype=bool)
    )
    return (
        np.stack(
            [r.ask_threshold_s if a else r.threshold_s for r, a in zip(routines, ask, strict=True)]
        ),
        np.stack([r.usual_s for r in routines]),
    )


def scan_silences(limits_s: npt.ArrayLike, since_s: npt.ArrayLike, now_s: float) -> InactivityScan:
    """The core verdict: silence since `since_s` (H,) longer than `limits_s` (H,) at `now_s`.

    NaN `since_s` (no activity yet) compares False, so such homes are never overdue; a silence
    that began after now (a clock that jumped) is never overdue either.
    """
    if not np.isfinite(now_s):
        raise NonFiniteInput("now must be finite")
    limit = np.asarray(limits_s, dtype=np.float64)
    since = np.asarray(since_s, dtype=np.float64)
    if limit.shape != since.shape:
        raise BadShape(f"limits and silence starts differ in shape: {limit.shape}, {since.shape}")
    silence = now_s - since
    clock_behind = silence < 0
    return InactivityScan(
        overdue=np.asarray(silence > limit, dtype=bool),
        silence_s=np.where(clock_behind, 0.0, silence),
        threshold_s=limit,
        clock_behind=clock_behind,
    )


def scan_inactivity(
    thresholds_s: npt.ArrayLike,
    last_activity_s: npt.ArrayLike,
    last_bin: npt.ArrayLike,
    now_s: float,
    away: npt.ArrayLike | None = None,
    threshold_scale: npt.ArrayLike | None = None,
    channel: npt.ArrayLike | None = None,
) -> InactivityScan:
    """Flag homes whose silence exceeds their limit for its room (or mat) and hour.

    thresholds_s (H, C, B) (or (H, B) for a single channel), last_activity_s (H,) UTC seconds the
    silence began (NaN: no activity yet, never flagged), last_bin (H,) its hour bin, channel
    (H,) its channel (default 0), away (H,) resident out (never inactivity), threshold_scale (H,)
    optional per-home factor (care-plan risk) applied on top.
    """
    thr = np.asarray(thresholds_s, dtype=np.float64)
    if thr.ndim == 2:
        thr = thr[:, None, :]
    last = np.asarray(last_activity_s, dtype=np.float64)
    bins = np.asarray(last_bin, dtype=np.intp)
    chan = np.zeros_like(bins) if channel is None else np.asarray(channel, dtype=np.intp)
    if (
        thr.ndim != 3
        or last.shape != (thr.shape[0],)
        or not (bins.shape == chan.shape == last.shape)
    ):
        raise BadShape(
            f"need thresholds (H, C, B) with last_activity_s, last_bin and channel of shape "
            f"(H,); got {thr.shape}, {last.shape}, {bins.shape}, {chan.shape}"
        )
    if thr.shape[2] == 0 or thr.shape[1] == 0:
        raise EmptyInput("thresholds have no bins")
    if bins.size and (bins.min() < 0 or bins.max() >= thr.shape[2]):
        raise BadShape(f"last_bin must lie in 0..{thr.shape[2] - 1}")
    if chan.size and (chan.min() < 0 or chan.max() >= thr.shape[1]):
        raise BadShape(f"channel must lie in 0..{thr.shape[1] - 1}")
    limit = thr[np.arange(thr.shape[0]), chan, bins]
    if threshold_scale is not None:
        limit = limit * np.asarray(threshold_scale, dtype=np.float64)
    verdict = scan_silences(limit, last, now_s)
    if away is None:
        return verdict
    return InactivityScan(
        overdue=verdict.overdue & ~np.asarray(away, dtype=bool),
        silence_s=verdict.silence_s,
        threshold_s=verdict.threshold_s,
        clock_behind=verdict.clock_behind,
    )


def explain_inactivity(
    routine: Routine,
    last_activity_s: float,
    last_room: str,
    last_bin: int,
    now_s: float,
    utc_offset_s: float,
    channel: int = 0,
) -> InactivityExplanation:
    """Build the explanation of one home's inactivity verdict from its routine."""
    if not (np.isfinite(last_activity_s) and np.isfinite(now_s)):
        raise NonFiniteInput("times must be finite")
    return InactivityExplanation(
        silence_s=max(0.0, now_s - last_activity_s),
        last_room=last_room,
        last_activity_s=last_activity_s,
        last_activity_local_tod_s=float((last_activity_s + utc_offset_s) % 86_400.0),
        usual_s=float(routine.usual_s[channel, last_bin]),
        threshold_s=float(routine.threshold_s[channel, last_bin]),
        learned=routine.learned,
    )
