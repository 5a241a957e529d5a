"""`mehr eval inactivity`: false alerts, check-in prompts and delays of the silence rules on a
recorded home, replayed day by day through the same detector calls as the hub's scan.

Method (issue 11):
- Learn from the first `train_days`; replay the rest minute by minute (`step_s`), re-learning the
  routine at every local midnight from up to 28 days before it (as the hub re-learns).
- Homes with ask-first (the default here): a silence past the asking limit is a check-in
  prompt; in ordinary life it is answered with probability `answer_rate` (seeded: an "I'm OK"
  press a little later, a sign of life), unanswered it escalates to a worker after
  `ask_window_s`, a false alert. Without ask-first the rules page a worker at once.
- Unmodified replay: every worker-facing inactivity-type alert (unusual inactivity, not up,
  long bathroom, not back) is a false alert. Absences (left through the entrance, nothing that
  means "back") may raise one "not back" each; anything else in them is counted apart.
- Incidents: times drawn with `numpy.random.default_rng(seed)`, uniform 08:00-20:00 on
  evaluation days, accepted when the last event before t is indoor (not the entrance) and under
  10 min old and no alert is open at t; every event in [t, t + 12 h) is removed; nobody answers
  a prompt; the delay runs to the first worker alert; missed (infinite) if none within 12 h.
- A multi-day absence is injected (`absence_days`): a real outing on an evaluation day is made
  to last that long; alerts other than one "not back" are `false_alerts_in_absences`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from detectors import ActivityEvents, Kind, Place, Routine, check_home, learn_routine
from detectors.pooling import PoolingPrior
from detectors.presence import presence_timeline
from detectors.routine import RoutineConfig

__all__ = [
    "ASKED_RULES",
    "INACTIVITY_RULES",
    "HomeRecording",
    "evaluate_inactivity",
    "recording_from",
]

DAY_S: Final = 86_400.0
HISTORY_S: Final = 28 * DAY_S
RECENT_S: Final = 36 * 3600.0
INCIDENT_S: Final = 12 * 3600.0
ANSWER_AFTER_S: Final = 30.0  # the resident presses "I'm OK" half a minute after the buzzer
# Worker-facing rules of the "no sign of life" family (sensor_silent is the hub's own, per kit).
INACTIVITY_RULES: Final = frozenset({"unusual_inactivity", "not_up", "long_bathroom", "not_back"})
# The kinds the alert engine holds as "asking" for a home with ask-first (hub INACTIVITY_KINDS).
ASKED_RULES: Final = frozenset({"unusual_inactivity", "not_up", "long_bathroom"})


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

    def with_event(self, t: float, place: int, kind: int, room: str) -> HomeRecording:
        """The same recording with one more event (kept sorted)."""
        i = int(np.searchsorted(self.times_s, t, side="right"))
        return HomeRecording(
            np.insert(self.times_s, i, t),
            np.insert(self.places, i, place),
            np.insert(self.kinds, i, kind),
            (*self.rooms[:i], room, *self.rooms[i:]),
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


@dataclass(frozen=True, slots=True)
class WorkerAlert:
    """A worker-facing alert of the replay."""

    at_s: float
    rule: str
    after_prompt: bool  # an unanswered check-in prompt escalated


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a stretch of replay raised."""

    alerts: list[WorkerAlert]
    prompts: int
    answered: int


class _Replay:
    """Steps a recording through time like the hub's scan, re-learning at local midnights."""

    def __init__(
        self,
        recording: HomeRecording,
        step_s: float,
        config: RoutineConfig,
        ask_first: bool,
        ask_window_s: float,
        answer_rate: float,
        routines: dict[float, Routine] | None = None,
        prior: PoolingPrior | None = None,
    ) -> None:
        self.rec = recording
        self.step_s = step_s
        self.config = config
        self.ask_first = ask_first
        self.ask_window_s = ask_window_s
        self.answer_rate = answer_rate
        self.prior = prior
        self.routines: dict[float, Routine] = {} if routines is None else routines

    def midnight(self, t: float) -> float:
        off = self.rec.utc_offset_s
        return float(np.floor((t + off) / DAY_S) * DAY_S - off)

    def routine_at(self, t: float) -> Routine:
        midnight = self.midnight(t)
        routine = self.routines.get(midnight)
        if routine is None:
            history = self.rec.slice(midnight - HISTORY_S, midnight)
            routine = learn_routine(history, midnight, config=self.config, prior=self.prior)
            self.routines[midnight] = routine
        return routine

    def run(
        self,
        start_s: float,
        end_s: float,
        answers: np.random.Generator | None,
        *,
        first_only: bool = False,
    ) -> ReplayResult:
        """Replay [start_s, end_s); `answers` None means nobody answers a prompt."""
        alerts: list[WorkerAlert] = []
        prompts = answered = 0
        open_since: float | None = None  # an episode stays open until the next sign of life
        asking_until: float | None = None
        asking_rule = ""
        t = start_s
        while t < end_s:
            events = self.rec.slice(t - RECENT_S, t)
            if open_since is not None and len(events) and events.times_s[-1] > open_since:
                open_since = None
            if asking_until is not None and t >= asking_until:
                asking_until = None
                alerts.append(WorkerAlert(t, asking_rule, after_prompt=True))
                open_since = t
                if first_only:
                    break
            if open_since is None and asking_until is None and len(events):
                findings = check_home(
                    self.routine_at(t), events, t, self.config, ask_first=self.ask_first
                )
                rules = [f.rule for f in findings if f.rule in INACTIVITY_RULES]
                asked = [r for r in rules if r in ASKED_RULES]
                if self.ask_first and asked:
                    prompts += 1
                    if answers is not None and answers.random() < self.answer_rate:
                        answered += 1
                        last = len(events) - 1
                        self.rec = self.rec.with_event(
                            t + ANSWER_AFTER_S,
                            int(events.places[last]),
                            int(Kind.BUTTON),
                            events.rooms[last],
                        )
                    else:
                        asking_until = t + self.ask_window_s
                        asking_rule = asked[0]
                elif rules:
                    alerts.append(WorkerAlert(t, rules[0], after_prompt=False))
                    open_since = t
                    if first_only:
                        break
            t += self.step_s
        return ReplayResult(alerts, prompts, answered)


def _last_event_indoor_and_recent(rec: HomeRecording, t: float) -> tuple[bool, int]:
    """The last event before t is indoor (not the entrance) and under 10 minutes old."""
    i = int(np.searchsorted(rec.times_s, t, side="left")) - 1
    if i < 0:
        return False, i
    return bool(rec.places[i] != Place.ENTRANCE and t - rec.times_s[i] < 600.0), i


def _quantile_with_misses(delays: list[float], q: float) -> float:
    """Quantile over all incidents with misses as +inf (the "higher" element, no averaging)."""
    if not delays:
        return math.inf
    return float(np.quantile(np.asarray(delays), q, method="higher"))


def _figure(x: float) -> float | None:
    return None if not math.isfinite(x) else round(x, 1)


def evaluate_inactivity(
    recording: HomeRecording,
    train_days: float = 14.0,
    incidents: int = 50,
    seed: int = 0,
    step_s: float = 60.0,
    *,
    answer_rate: float = 0.95,
    ask_first: bool = True,
    ask_window_s: float = 120.0,
    absence_days: float = 3.0,
    config: RoutineConfig | None = None,
    prior: PoolingPrior | None = None,
) -> dict[str, Any]:
    """Run the unmodified replay, the incidents and an injected absence; return the figures."""
    if recording.times_s.size < 2:
        raise ValueError("the recording has fewer than two signs of life")
    if not 0.0 <= answer_rate <= 1.0:
        raise ValueError(f"answer rate must lie in [0, 1], got {answer_rate}")
    cfg = config or RoutineConfig()
    if cfg.history_days_needed > train_days:
        # "Learn from the first N days": N days of history are enough here by definition.
        cfg = dataclasses.replace(cfg, history_days_needed=float(train_days))
    first = float(recording.times_s[0])
    last = float(recording.times_s[-1])

    def replay(rec: HomeRecording, routines: dict[float, Routine] | None = None) -> _Replay:
        return _Replay(rec, step_s, cfg, ask_first, ask_window_s, answer_rate, routines, prior)

    base = replay(recording)
    eval_start = base.midnight(first) + np.ceil(train_days) * DAY_S + DAY_S
    # The last, partial day is left out: the end of a recording is not the resident going quiet.
    eval_end = base.midnight(last)
    if eval_end - eval_start < DAY_S:
        raise ValueError(
            f"the recording covers {(last - first) / DAY_S:.1f} days: not enough to learn "
            f"{train_days} days and evaluate at least one more"
        )
    days = (eval_end - eval_start) / DAY_S
    ordinary = base.run(eval_start, eval_end, np.random.default_rng([seed, 1]))
    absences = _absences(recording, eval_start, eval_end)
    in_absence = _alerts_in_absences(ordinary.alerts, absences)

    rng = np.random.default_rng(seed)
    delays: list[float] = []
    by_room: dict[str, list[float]] = {}
    placed = 0
    open_alerts = [a.at_s for a in ordinary.alerts]
    for _ in range(incidents):
        found = _incident_time(recording, open_alerts, eval_start, eval_end, rng)
        if found is None:
            break
        t, i = found
        placed += 1
        injured = replay(recording.without(t, t + INCIDENT_S), base.routines)
        hit = injured.run(t, t + INCIDENT_S, None, first_only=True)
        delay = (hit.alerts[0].at_s - t) / 60.0 if hit.alerts else math.inf
        delays.append(delay)
        by_room.setdefault(recording.rooms[i], []).append(delay)
    detected = sum(1 for d in delays if math.isfinite(d))
    median = _quantile_with_misses(delays, 0.5)
    p90 = _quantile_with_misses(delays, 0.9)

    absence = _injected_absence(recording, eval_start, eval_end, absence_days, replay)
    false_alerts = len(ordinary.alerts)
    return {
        "days_evaluated": round(days, 2),
        "false_alerts": false_alerts,
        "false_alerts_per_30_days": round(false_alerts / days * 30.0, 3),
        "false_alerts_by_rule": _count(a.rule for a in ordinary.alerts),
        "false_alerts_after_prompt": sum(1 for a in ordinary.alerts if a.after_prompt),
        "prompts": ordinary.prompts,
        "prompts_answered": ordinary.answered,
        "prompts_per_day": round(ordinary.prompts / days, 3),
        # What the prompts cost on average, beyond this seed's draws: each unanswered one pages.
        "expected_false_alerts_per_30_days_from_prompts": round(
            ordinary.prompts / days * (1.0 - answer_rate) * 30.0 if ask_first else 0.0, 3
        ),
        "incidents": placed,
        "detected": detected,
        "missed": placed - detected,
        "median_delay_min": _figure(median),
        "p90_delay_min": _figure(p90),
        "delay_by_room": {
            room: {
                "incidents": len(ds),
                "missed": sum(1 for d in ds if not math.isfinite(d)),
                "median_delay_min": _figure(_quantile_with_misses(ds, 0.5)),
            }
            for room, ds in sorted(by_room.items())
        },
        "absences": len(absences),
        "false_alerts_in_absences": in_absence + absence["false_alerts"],
        "injected_absence": absence,
        "false_alert_times": [a.at_s for a in ordinary.alerts[:50]],
        "train_days": train_days,
        "relearn": "at every local midnight, from up to 28 days before it",
        "ask_first": ask_first,
        "answer_rate": answer_rate,
        "step_s": step_s,
        "seed": seed,
        "prior": "built-in population prior" if prior is None else "given population prior",
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def _absences(rec: HomeRecording, start: float, end: float) -> list[tuple[float, float]]:
    """Absences (leaving to coming back) that overlap [start, end), from the presence timeline."""
    tl = presence_timeline(rec.times_s, rec.places, rec.kinds)
    out: list[tuple[float, float]] = []
    away = tl.away
    i = 0
    n = away.size
    while i < n:
        if away[i]:
            j = i
            while j + 1 < n and away[j + 1]:
                j += 1
            back = float(rec.times_s[j + 1]) if j + 1 < n else math.inf
            left = float(tl.away_since_s[i])
            if back > start and left < end:
                out.append((left, back))
            i = j + 1
        else:
            i += 1
    return out


def _alerts_in_absences(alerts: list[WorkerAlert], absences: list[tuple[float, float]]) -> int:
    """Alerts in absences beyond one "not back" each."""
    extra = 0
    for left, back in absences:
        inside = [a for a in alerts if left <= a.at_s < back]
        not_back = [a for a in inside if a.rule == "not_back"]
        extra += len(inside) - min(1, len(not_back))
    return extra


def _injected_absence(
    rec: HomeRecording,
    start: float,
    end: float,
    absence_days: float,
    replay: Any,
) -> dict[str, Any]:
    """Make the first real outing of the evaluation days last `absence_days`; count alerts."""
    if absence_days <= 0:
        return {"days": 0, "false_alerts": 0, "not_back": 0}
    outings = [a for a in _absences(rec, start, end) if a[0] >= start]
    if not outings:
        return {"days": 0, "false_alerts": 0, "not_back": 0, "note": "no outing to extend"}
    left, _ = outings[0]
    until = left + absence_days * DAY_S
    # Keep the leaving itself (the door events of the next minute), remove the rest.
    quiet = rec.without(left + 60.0, until)
    result = replay(quiet).run(left, until, None)
    not_back = sum(1 for a in result.alerts if a.rule == "not_back")
    return {
        "days": absence_days,
        "left_at": left,
        "false_alerts": len(result.alerts) - min(1, not_back),
        "not_back": not_back,
        "rules": _count(a.rule for a in result.alerts),
    }


def _incident_time(
    rec: HomeRecording,
    alert_times: list[float],
    start: float,
    end: float,
    rng: np.random.Generator,
) -> tuple[float, int] | None:
    """A seeded random moment 08:00-20:00 local on an evaluation day when the resident is in."""
    n_days = max(1, int((end - start) // DAY_S))
    for _ in range(2000):
        day = start + int(rng.integers(n_days)) * DAY_S
        t = day + float(rng.uniform(8 * 3600.0, 20 * 3600.0))
        ok, i = _last_event_indoor_and_recent(rec, t)
        if not ok:
            continue
        # An alert raised since that last event is still open at t: such a t does not count.
        if any(rec.times_s[i] < a <= t for a in alert_times):
            continue
        return t, i
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
