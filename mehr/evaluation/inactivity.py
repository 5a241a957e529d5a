"""Evaluate the routine rules on a recorded home: false alerts on ordinary days, and how fast
injected "resident stopped moving" incidents are caught.

Method (issue 5): learn from the first `train_days`; (a) replay the rest unmodified — every
inactivity-type alert is a false alarm; (b) inject incidents at seeded random times t between
08:00 and 20:00 local on evaluation days, each at a moment the resident is at home (the last
event before t is indoor motion less than 10 minutes old): every event in [t, t + 12 h) is
removed; the delay runs from t to the first inactivity-type alert after t, missed if none
within 12 h. Incidents are evaluated one at a time. The replay re-learns the routine at every
local midnight from up to 28 days of history, and checks the home every `step_s`, as the hub
does once a minute.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from detectors import ActivityEvents, Kind, Place, Routine, check_home, learn_routine

__all__ = ["INACTIVITY_RULES", "HomeRecording", "evaluate_inactivity"]

DAY_S: Final = 86_400.0
HISTORY_S: Final = 28 * DAY_S
RECENT_S: Final = 36 * 3600.0
INCIDENT_S: Final = 12 * 3600.0
# The rules that answer "the resident may be lying on the floor".
INACTIVITY_RULES: Final = frozenset({"unusual_inactivity", "not_up", "long_bathroom"})


@dataclass(frozen=True)
class HomeRecording:
    """A home's signs of life, sorted by time: UTC seconds, place and kind codes, room names."""

    times_s: npt.NDArray[np.float64]
    places: npt.NDArray[np.intp]
    kinds: npt.NDArray[np.intp]
    rooms: tuple[str, ...]
    utc_offset_s: float

    def without(self, start_s: float, end_s: float) -> HomeRecording:
        """The same recording with every event in [start_s, end_s) removed."""
        keep = (self.times_s < start_s) | (self.times_s >= end_s)
        return HomeRecording(
            self.times_s[keep],
            self.places[keep],
            self.kinds[keep],
            tuple(r for r, k in zip(self.rooms, keep, strict=True) if k),
            self.utc_offset_s,
        )

    def slice(self, start_s: float, end_s: float) -> ActivityEvents:
        """Events with start_s <= t <= end_s as detector input."""
        lo = int(np.searchsorted(self.times_s, start_s, side="left"))
        hi = int(np.searchsorted(self.times_s, end_s, side="right"))
        return ActivityEvents(
            self.times_s[lo:hi],
            self.places[lo:hi],
            self.kinds[lo:hi],
            self.rooms[lo:hi],
            self.utc_offset_s,
        )


class _Replay:
    """Steps a recording through time, re-learning at local midnights, like the hub's scan."""

    def __init__(self, recording: HomeRecording, step_s: float) -> None:
        self.rec = recording
        self.step_s = step_s
        self._routines: dict[float, Routine] = {}

    def _midnight(self, t: float) -> float:
        off = self.rec.utc_offset_s
        return float(np.floor((t + off) / DAY_S) * DAY_S - off)

    def routine_at(self, t: float) -> Routine:
        midnight = self._midnight(t)
        routine = self._routines.get(midnight)
        if routine is None:
            routine = learn_routine(self.rec.slice(midnight - HISTORY_S, midnight), midnight)
            self._routines[midnight] = routine
        return routine

    def alerts(self, start_s: float, end_s: float, first_only: bool = False) -> list[float]:
        """Times of inactivity-type alerts raised in [start_s, end_s), one per episode.

        An episode stays open (not raised again) until the resident moves again.
        """
        raised: list[float] = []
        open_since: float | None = None
        t = start_s
        while t < end_s:
            events = self.rec.slice(t - RECENT_S, t)
            if open_since is not None and len(events) and events.times_s[-1] > open_since:
                open_since = None  # the resident moved: the episode is over
            if open_since is None and len(events):
                findings = check_home(self.routine_at(t), events, t)
                if any(f.rule in INACTIVITY_RULES for f in findings):
                    raised.append(t)
                    open_since = t
                    if first_only:
                        return raised
            t += self.step_s
        return raised


def _is_at_home(rec: HomeRecording, t: float) -> bool:
    """The last event before t is indoor motion less than 10 minutes old."""
    i = int(np.searchsorted(rec.times_s, t, side="left")) - 1
    if i < 0:
        return False
    indoor = rec.kinds[i] == Kind.MOTION and rec.places[i] != Place.ENTRANCE
    return bool(indoor and t - rec.times_s[i] < 600.0)


def evaluate_inactivity(
    recording: HomeRecording,
    train_days: float = 14.0,
    incidents: int = 50,
    seed: int = 0,
    step_s: float = 300.0,
) -> dict[str, Any]:
    """Run (a) the unmodified replay and (b) `incidents` injected incidents; return the figures."""
    if recording.times_s.size < 2:
        raise ValueError("the recording has fewer than two signs of life")
    first = float(recording.times_s[0])
    last = float(recording.times_s[-1])
    replay = _Replay(recording, step_s)
    eval_start = replay._midnight(first) + (np.ceil(train_days) + 1) * DAY_S
    eval_end = replay._midnight(last)
    if eval_end <= eval_start:
        raise ValueError(
            f"the recording covers {(last - first) / DAY_S:.1f} days: not enough to learn "
            f"{train_days} days and evaluate at least one more"
        )
    days = (eval_end - eval_start) / DAY_S
    false_alerts = replay.alerts(eval_start, eval_end)

    rng = random.Random(seed)
    delays: list[float] = []
    missed = 0
    placed = 0
    for _ in range(incidents):
        t = _incident_time(recording, replay, eval_start, eval_end, rng)
        if t is None:
            break
        placed += 1
        injured = _Replay(recording.without(t, t + INCIDENT_S), step_s)
        injured._routines = replay._routines  # history before t is unchanged
        hits = injured.alerts(t, t + INCIDENT_S, first_only=True)
        if hits:
            delays.append((hits[0] - t) / 60.0)
        else:
            missed += 1
    return {
        "days_evaluated": round(days, 2),
        "false_alerts": len(false_alerts),
        "false_alerts_per_30_days": round(len(false_alerts) / days * 30.0, 3),
        "false_alert_times": [float(x) for x in false_alerts[:50]],
        "incidents": placed,
        "detected": len(delays),
        "missed": missed,
        "median_delay_min": round(float(np.median(delays)), 1) if delays else None,
        "p90_delay_min": round(float(np.percentile(delays, 90)), 1) if delays else None,
        "step_s": step_s,
        "train_days": train_days,
        "seed": seed,
    }


def _incident_time(
    rec: HomeRecording, replay: _Replay, start: float, end: float, rng: random.Random
) -> float | None:
    """A seeded random moment 08:00-20:00 local on an evaluation day when the resident is in."""
    n_days = int((end - start) // DAY_S)
    for _ in range(1000):
        day = start + rng.randrange(max(1, n_days)) * DAY_S
        t = day + rng.uniform(8 * 3600.0, 20 * 3600.0)
        if t + INCIDENT_S <= end + DAY_S and _is_at_home(rec, t):
            return t
    return None


def recording_from(
    times_s: Sequence[float],
    places: Sequence[int],
    kinds: Sequence[int],
    rooms: Sequence[str],
    utc_offset_s: float,
) -> HomeRecording:
    """Build a sorted recording from parallel sequences (validated by the detectors)."""
    ev = ActivityEvents.build(times_s, places, kinds, rooms, utc_offset_s)
    return HomeRecording(ev.times_s, ev.places, ev.kinds, ev.rooms, ev.utc_offset_s)
