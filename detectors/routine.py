"""Learn a home's routine from its own activity history and check the routine rules.

Pure numpy: event times are float seconds UTC plus the home's UTC offset (the hub resolves the
IANA zone; the detectors have no clock and no tz database). Time of day is cut into 30 min bins,
weekdays and weekends apart, so a routine is a few small arrays, cheap to store and to move
between hub workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from detectors.errors import BadParameters, BadShape, EmptyInput, NonFiniteInput

__all__ = [
    "DAY_S",
    "N_BINS",
    "ActivityEvents",
    "Finding",
    "Kind",
    "Place",
    "Routine",
    "RoutineConfig",
    "Sensitivity",
    "check_home",
    "current_state",
    "learn_routine",
    "local_time_of_day",
    "time_bins",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

DAY_S = 86_400.0
BIN_S = 1_800.0
BINS_PER_DAY = int(DAY_S // BIN_S)
#: Bins 0..47 are weekdays' half hours, 48..95 weekends'.
N_BINS = 2 * BINS_PER_DAY
Sensitivity = Literal["low", "normal", "high"]


class Place(IntEnum):
    """What kind of place an event came from; the hub maps each sensor to one."""

    OTHER = 0
    KITCHEN = 1
    BATHROOM = 2
    BEDROOM = 3
    LIVING = 4
    ENTRANCE = 5  # the front door: opening it may mean the resident left


class Kind(IntEnum):
    """What the event was."""

    MOTION = 0
    DOOR = 1  # a contact opened or closed
    BUTTON = 2  # the help button or another deliberate press: the resident is active


@dataclass(frozen=True, slots=True)
class RoutineConfig:
    """Knobs of routine learning and of the rules; defaults are for a home that is learning."""

    history_days_needed: float = 14.0
    # Unusual-inactivity alerts a home may raise on ordinary days (normal sensitivity; the
    # margins scale it for low and high): what keeps a worker trusting the next one.
    false_alarms_per_30_days: float = 0.3
    margins: dict[str, float] = field(
        default_factory=lambda: {"low": 2.0, "normal": 1.5, "high": 1.15}
    )
    min_threshold_s: float = 45 * 60.0  # never cry wolf sooner than this
    max_threshold_s: float = 14 * 3600.0
    default_day_threshold_s: float = 4 * 3600.0  # before 14 days of history
    default_night_threshold_s: float = 11 * 3600.0
    default_night: tuple[float, float] = (22 * 3600.0, 7 * 3600.0)  # local time of day
    leave_grace_s: float = 180.0  # motion this soon after the front door is the resident leaving
    default_bathroom_limit_s: float = 60 * 60.0
    max_bathroom_limit_s: float = 2 * 3600.0
    default_away_limit_s: float = 10 * 3600.0
    wake_margin_s: float = 60 * 60.0
    bedtime_lead_s: float = 60 * 60.0  # going to the bedroom this long before the usual sleep
    min_bathroom_limit_s: float = 45 * 60.0  # a bath or an evening wash is not an emergency
    kitchen_check_after_s: float = 20 * 3600.0  # "no kitchen all day" is judged from 20:00
    min_day_samples_per_bin: int = 10  # day-bins with a silence, pooled with neighbours


@dataclass(frozen=True, slots=True)
class ActivityEvents:
    """A home's events: UTC seconds, place and kind codes, room names for explanations."""

    times_s: FloatArray
    places: IntArray
    kinds: IntArray
    rooms: tuple[str, ...]
    utc_offset_s: float = 5 * 3600.0  # Asia/Tashkent, no daylight saving

    @classmethod
    def build(
        cls,
        times_s: npt.ArrayLike,
        places: npt.ArrayLike,
        kinds: npt.ArrayLike,
        rooms: Sequence[str] | None = None,
        utc_offset_s: float = 5 * 3600.0,
    ) -> ActivityEvents:
        """Validate and sort events by time (a kit's clock may have jumped); rooms optional."""
        t = np.asarray(times_s, dtype=np.float64).reshape(-1)
        p = np.asarray(places, dtype=np.intp).reshape(-1)
        k = np.asarray(kinds, dtype=np.intp).reshape(-1)
        names = tuple(rooms) if rooms is not None else tuple(Place(int(x)).name.title() for x in p)
        if not (t.shape == p.shape == k.shape) or len(names) != t.size:
            raise BadShape(
                f"times, places, kinds and rooms differ in length: "
                f"{t.size}, {p.size}, {k.size}, {len(names)}"
            )
        if not np.all(np.isfinite(t)) or not np.isfinite(utc_offset_s):
            raise NonFiniteInput("event times and the UTC offset must be finite")
        order = np.argsort(t, kind="stable")
        return cls(t[order], p[order], k[order], tuple(names[i] for i in order), utc_offset_s)

    def __len__(self) -> int:
        return int(self.times_s.size)


@dataclass(frozen=True, slots=True)
class Routine:
    """What one home usually does; serialisable with `to_dict` so a home can move workers."""

    threshold_s: FloatArray  # (N_BINS,) silence that counts as unusual, by bin of last activity
    usual_s: FloatArray  # (N_BINS,) 90th percentile gap: "at this hour it is usually under ..."
    history_days: float
    learned: bool
    sleep_start_tod_s: float
    wake_tod_s: float
    wake_latest_tod_s: float
    bathroom_limit_s: float
    away_limit_s: float
    door_at_night_rate: float  # share of nights with the front door used in the night window
    kitchen_day_rate: float  # share of days with kitchen activity
    sensitivity: Sensitivity = "normal"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            out[name] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Routine:
        """Rebuild a routine from `to_dict`'s output."""
        try:
            kwargs = dict(data)
            for name in ("threshold_s", "usual_s"):
                arr = np.asarray(kwargs[name], dtype=np.float64)
                if arr.shape != (N_BINS,):
                    raise BadParameters(f"{name} must have {N_BINS} values")
                kwargs[name] = arr
            return cls(**kwargs)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, BadParameters):
                raise
            raise BadParameters(f"malformed routine: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that fired, with the figures to explain it in any language."""

    rule: Literal[
        "unusual_inactivity",
        "not_back",
        "not_up",
        "long_bathroom",
        "night_door",
        "no_kitchen",
    ]
    since_s: float  # UTC time the situation began (last activity, leaving, entering...)
    duration_s: float  # how long it has lasted at `now`
    limit_s: float  # the figure it exceeded
    usual_s: float  # what this home usually shows here
    last_room: str
    local_time_of_day_s: float  # local time of `since_s`, for "since Kitchen at 10:40"


def local_time_of_day(times_s: npt.ArrayLike, utc_offset_s: float | npt.ArrayLike) -> FloatArray:
    """Local seconds since midnight for UTC times and a UTC offset (scalar or per time)."""
    local = np.asarray(times_s, dtype=np.float64) + np.asarray(utc_offset_s, dtype=np.float64)
    return np.asarray(np.mod(local, DAY_S), dtype=np.float64)


def _local_day(times_s: FloatArray, utc_offset_s: float) -> IntArray:
    return np.floor((times_s + utc_offset_s) / DAY_S).astype(np.intp)


def time_bins(times_s: npt.ArrayLike, utc_offset_s: float | npt.ArrayLike) -> IntArray:
    """Routine bin (0..95) of UTC times: 30 min of local time, weekday or weekend."""
    local = np.asarray(times_s, dtype=np.float64) + np.asarray(utc_offset_s, dtype=np.float64)
    day = np.floor(local / DAY_S)
    # 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays, 5 and 6 at the weekend.
    weekend = np.mod(day + 3, 7) >= 5
    half_hour = np.floor(np.mod(local, DAY_S) / BIN_S).astype(np.intp)
    return np.asarray(half_hour + BINS_PER_DAY * weekend, dtype=np.intp)


def _tail_threshold(samples: FloatArray, exceed: float) -> float:
    """The silence a day exceeds with probability `exceed`, from that day-bin's longest silences.

    A month gives a few dozen samples, too few to read a 1-in-5,000 quantile off directly; the
    upper half is modelled as exponential (peaks over the median), the usual tail of waiting
    times, and extrapolated. Never below the largest silence actually seen.
    """
    median = float(np.median(samples))
    upper = samples[samples > median]
    scale = float(np.mean(upper - median)) if upper.size else 0.0
    return max(float(samples.max()), median + scale * float(np.log(0.5 / exceed)))


def _in_night(tod: FloatArray, start: float, end: float) -> BoolArray:
    if start <= end:
        return np.asarray((tod >= start) & (tod < end))
    return np.asarray((tod >= start) | (tod < end))


def _away_mask(events: ActivityEvents, config: RoutineConfig) -> BoolArray:
    """For each event, whether the resident is out after it (causal: uses no later event).

    Out means: the front door was used, and since then nothing inside has moved except in the
    first `leave_grace_s` (the hall sensor seeing the resident leave).
    """
    t = events.times_s
    n = t.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    idx = np.arange(n)
    door = (events.places == Place.ENTRANCE) & (events.kinds == Kind.DOOR)
    inside = (events.kinds != Kind.DOOR) & (events.places != Place.ENTRANCE)
    last_door = np.maximum.accumulate(np.where(door, idx, -1))
    has_door = last_door >= 0
    door_t = t[np.maximum(last_door, 0)]
    late_inside = inside & has_door & (t - door_t > config.leave_grace_s)
    last_late = np.maximum.accumulate(np.where(late_inside, idx, -1))
    return np.asarray(has_door & (last_late < last_door), dtype=bool)


def learn_routine(
    events: ActivityEvents,
    now_s: float,
    *,
    sensitivity: Sensitivity = "normal",
    config: RoutineConfig | None = None,
) -> Routine:
    """Learn the home's routine from its history up to `now_s` (defaults if under 14 days)."""
    cfg = config or RoutineConfig()
    if sensitivity not in cfg.margins:
        raise BadParameters(f"sensitivity must be one of {sorted(cfg.margins)}, got {sensitivity}")
    if not np.isfinite(now_s):
        raise NonFiniteInput("now must be finite")
    margin = cfg.margins[sensitivity]
    keep = events.times_s <= now_s  # events "from the future" (clock jumps) are not history
    t = events.times_s[keep]
    off = events.utc_offset_s
    history_days = float((now_s - t[0]) / DAY_S) if t.size else 0.0
    night_start, night_end = cfg.default_night

    default_thr = np.where(
        _in_night(
            np.asarray(np.arange(N_BINS) % BINS_PER_DAY * BIN_S, dtype=np.float64),
            (night_start - 2 * 3600.0) % DAY_S,
            night_end,
        ),
        cfg.default_night_threshold_s,
        cfg.default_day_threshold_s,
    )
    defaults = Routine(
        threshold_s=default_thr.astype(np.float64),
        usual_s=default_thr / margin,
        history_days=history_days,
        learned=False,
        sleep_start_tod_s=night_start,
        wake_tod_s=night_end,
        wake_latest_tod_s=(night_end + 3 * 3600.0) % DAY_S,
        bathroom_limit_s=cfg.default_bathroom_limit_s,
        away_limit_s=cfg.default_away_limit_s,
        door_at_night_rate=1.0,  # unknown: do not call a night door unusual yet
        kitchen_day_rate=0.0,  # unknown: do not call a day without kitchen unusual yet
        sensitivity=sensitivity,
    )
    if history_days < cfg.history_days_needed or t.size < 2:
        return defaults

    ev = ActivityEvents(
        t, events.places[keep], events.kinds[keep], tuple(np.asarray(events.rooms)[keep]), off
    )
    away = _away_mask(ev, cfg)
    gaps = np.diff(t)
    start_bin = time_bins(t[:-1], off)
    home_gap = ~away[:-1]

    # Each day's longest at-home silence starting in each bin. The plain distribution of gaps
    # is dominated by the many short gaps inside bursts of activity (a PIR fires every minute
    # while someone cooks), which makes its quantiles far too short; what matters is how long
    # this home stays quiet at this hour on an ordinary day.
    gap_day = _local_day(t[:-1], off)
    first_day = int(gap_day.min())
    n_days = int(gap_day.max()) - first_day + 1
    sel_home = np.flatnonzero(home_gap)
    flat = np.full(n_days * N_BINS, -np.inf)
    np.maximum.at(
        flat, (gap_day[sel_home] - first_day) * N_BINS + start_bin[sel_home], gaps[sel_home]
    )
    longest = np.where(np.isfinite(flat), flat, np.nan).reshape(n_days, N_BINS)

    # The false-alarm budget, spread over every half hour of every day, sets how rare a
    # silence must be (per day and bin) before it is called unusual.
    exceed = cfg.false_alarms_per_30_days / (30.0 * BINS_PER_DAY)
    thr = default_thr.copy()
    usual = default_thr / margin
    for b in range(N_BINS):
        # Pool the bin with its neighbours (same day type) so a month of data is enough.
        day_type = b // BINS_PER_DAY
        hh = b % BINS_PER_DAY
        near = [day_type * BINS_PER_DAY + (hh + d) % BINS_PER_DAY for d in (-1, 0, 1)]
        samples = longest[:, near].ravel()
        samples = samples[np.isfinite(samples)]
        if samples.size < cfg.min_day_samples_per_bin:
            # Too few weekend days: borrow the same hours on the other day type.
            other = [(x + BINS_PER_DAY) % N_BINS for x in near]
            samples = longest[:, near + other].ravel()
            samples = samples[np.isfinite(samples)]
        if samples.size < cfg.min_day_samples_per_bin:
            continue
        thr[b] = _tail_threshold(samples, exceed) * margin / cfg.margins["normal"]
        usual[b] = np.quantile(samples, 0.9)
    thr = np.clip(thr, cfg.min_threshold_s, cfg.max_threshold_s)

    # Night: each day's longest at-home gap starting between 19:00 and 04:00 is its sleep.
    tod = local_time_of_day(t, off)
    day = _local_day(t - 12 * 3600.0, off)  # a "night" belongs to the evening it starts
    start_tod = tod[:-1]
    evening = _in_night(start_tod, 19 * 3600.0, 4 * 3600.0) & home_gap
    sleep_starts: list[float] = []
    wakes: list[float] = []
    for d in np.unique(day[:-1][evening]):
        m = evening & (day[:-1] == d)
        j = np.flatnonzero(m)[np.argmax(gaps[m])]
        if gaps[j] >= 3 * 3600.0:
            sleep_starts.append(float(tod[j]))
            wakes.append(float(tod[j + 1]))
    if len(wakes) >= 7:
        # Circular statistics around noon so 23:30 and 00:30 average to midnight.
        ss = (np.asarray(sleep_starts) - 12 * 3600.0) % DAY_S
        sleep_start = float((np.median(ss) + 12 * 3600.0) % DAY_S)
        wake = float(np.median(wakes))
        wake_latest = float((np.quantile(wakes, 0.95) + cfg.wake_margin_s) % DAY_S)
    else:
        sleep_start, wake = night_start, night_end
        wake_latest = defaults.wake_latest_tod_s

    # Front door in the night window: on what share of nights?
    n_nights = max(1, len(np.unique(day)))
    door = (ev.places == Place.ENTRANCE) & (ev.kinds == Kind.DOOR)
    night_door_days = np.unique(day[door & _in_night(tod, sleep_start, wake)])
    door_rate = night_door_days.size / n_nights

    # Bathroom stays: from entering to the first event elsewhere.
    bath = ev.places == Place.BATHROOM
    enter = np.flatnonzero(bath & ~np.append(False, bath[:-1]))
    leave = np.flatnonzero(~bath & np.append(False, bath[:-1]))
    stays: list[float] = []
    # Visits at any hour teach the limit (the evening wash is the longest); a "stay" longer
    # than the cap is not a visit but a missed exit (the sensor elsewhere did not see them).
    for e in enter:
        k = np.searchsorted(leave, e)
        if k < leave.size and t[leave[k]] - t[e] <= cfg.max_bathroom_limit_s:
            stays.append(float(t[leave[k]] - t[e]))
    bath_limit = cfg.default_bathroom_limit_s
    if len(stays) >= 20:
        # The longest ordinary stay counts too: a weekly bath is rarer than 1 % of visits.
        bath_limit = float(
            np.clip(
                max(np.quantile(stays, 0.99) * margin, max(stays) * 1.1),
                cfg.min_bathroom_limit_s,
                cfg.max_bathroom_limit_s,
            )
        )

    # Away: how long outings last.
    # Each outing from its first "away" event to the first event after it: the door closing and
    # the hall sensor make several short gaps per outing, which must not count as outings.
    out = away[:-1].astype(np.int8)
    starts = np.flatnonzero(np.diff(np.concatenate(([0], out))) == 1)
    ends = np.flatnonzero(np.diff(np.concatenate((out, [0]))) == -1)
    outings = t[ends + 1] - t[starts]
    away_limit = cfg.default_away_limit_s
    if outings.size >= 10:
        away_limit = float(
            np.clip(
                max(np.quantile(outings, 0.95) * margin, float(outings.max()) * 1.1),
                2 * 3600.0,
                cfg.max_threshold_s,
            )
        )

    cal_day = _local_day(t, off)
    days = np.unique(cal_day)
    kitchen_days = np.unique(cal_day[ev.places == Place.KITCHEN])
    kitchen_rate = kitchen_days.size / max(1, days.size)

    return Routine(
        threshold_s=thr.astype(np.float64),
        usual_s=usual.astype(np.float64),
        history_days=history_days,
        learned=True,
        sleep_start_tod_s=sleep_start,
        wake_tod_s=wake,
        wake_latest_tod_s=wake_latest,
        bathroom_limit_s=bath_limit,
        away_limit_s=away_limit,
        door_at_night_rate=door_rate,
        kitchen_day_rate=kitchen_rate,
        sensitivity=sensitivity,
    )


@dataclass(frozen=True, slots=True)
class HomeState:
    """Where a home stands at `now`, derived from its recent events."""

    last_activity_s: float
    last_room: str
    last_place: int
    last_bin: int
    away: bool
    away_since_s: float
    bathroom_since_s: float  # NaN unless the resident is (still) in the bathroom
    clock_behind: bool  # the last event is later than now: the kit's or hub's clock jumped


def current_state(events: ActivityEvents, now_s: float, config: RoutineConfig) -> HomeState:
    """Summarise the recent events as the state the rules and the scan need."""
    if len(events) == 0:
        raise EmptyInput("no events: a home without any activity has no state yet")
    t = events.times_s
    last = t.size - 1
    away = bool(_away_mask(events, config)[last])
    door_idx = np.flatnonzero((events.places == Place.ENTRANCE) & (events.kinds == Kind.DOOR))
    away_since = float(t[door_idx[-1]]) if away and door_idx.size else float("nan")
    bath_since = float("nan")
    if events.places[last] == Place.BATHROOM:
        not_bath = np.flatnonzero(events.places != Place.BATHROOM)
        first = int(not_bath[-1]) + 1 if not_bath.size else 0
        bath_since = float(t[first])
    return HomeState(
        last_activity_s=float(t[last]),
        last_room=events.rooms[last],
        last_place=int(events.places[last]),
        last_bin=int(time_bins(t[last : last + 1], events.utc_offset_s)[0]),
        away=away,
        away_since_s=away_since,
        bathroom_since_s=bath_since,
        clock_behind=bool(t[last] > now_s),
    )


def check_home(
    routine: Routine,
    events: ActivityEvents,
    now_s: float,
    config: RoutineConfig | None = None,
) -> list[Finding]:
    """Apply every routine rule to one home's recent events (the last day or more) at `now_s`."""
    cfg = config or RoutineConfig()
    if not np.isfinite(now_s):
        raise NonFiniteInput("now must be finite")
    if len(events) == 0:
        return []
    off = events.utc_offset_s
    state = current_state(events, now_s, cfg)
    findings: list[Finding] = []
    if state.clock_behind:
        # Time ran backwards: every duration would be negative. Say nothing rather than guess.
        return findings

    def tod(x: float) -> float:
        return float(local_time_of_day(np.array([x]), off)[0])

    silence = now_s - state.last_activity_s
    if state.away:
        out_for = now_s - state.away_since_s
        if out_for > routine.away_limit_s:
            findings.append(
                Finding(
                    "not_back",
                    state.away_since_s,
                    out_for,
                    routine.away_limit_s,
                    routine.away_limit_s / _margin(routine, cfg),
                    state.last_room,
                    tod(state.away_since_s),
                )
            )
    else:
        limit = float(routine.threshold_s[state.last_bin])
        if routine.learned and _gone_to_bed(routine, state, tod(state.last_activity_s), cfg):
            # Asleep: silence in the bedroom is expected until the latest usual wake time
            # (then "not up" and this rule speak). A PIR cannot tell sleep from lying still.
            until_wake = (routine.wake_latest_tod_s - tod(state.last_activity_s)) % DAY_S
            limit = max(limit, until_wake)
        if silence > limit:
            findings.append(
                Finding(
                    "unusual_inactivity",
                    state.last_activity_s,
                    silence,
                    limit,
                    float(routine.usual_s[state.last_bin]),
                    state.last_room,
                    tod(state.last_activity_s),
                )
            )
        if np.isfinite(state.bathroom_since_s):
            stay = now_s - state.bathroom_since_s
            if stay > routine.bathroom_limit_s:
                findings.append(
                    Finding(
                        "long_bathroom",
                        state.bathroom_since_s,
                        stay,
                        routine.bathroom_limit_s,
                        routine.bathroom_limit_s / _margin(routine, cfg),
                        state.last_room,
                        tod(state.bathroom_since_s),
                    )
                )

    now_tod = tod(now_s)
    today_start = now_s - now_tod
    t = events.times_s
    today = (t >= today_start) & (t <= now_s)
    inside = (events.kinds != Kind.DOOR) & (events.places != Place.ENTRANCE)

    # Not up: past the latest usual wake time, at home, and nothing inside since the night began.
    if routine.learned and not state.away and routine.wake_tod_s < now_tod < 14 * 3600.0:
        since_wake = inside & (t >= today_start + routine.wake_tod_s - 2 * 3600.0)
        if now_tod > routine.wake_latest_tod_s and not since_wake.any():
            findings.append(
                Finding(
                    "not_up",
                    state.last_activity_s,
                    silence,
                    routine.wake_latest_tod_s,
                    routine.wake_tod_s,
                    state.last_room,
                    tod(state.last_activity_s),
                )
            )

    # Night door: the front door used in the night window when this home almost never does.
    recent_door = (events.places == Place.ENTRANCE) & (events.kinds == Kind.DOOR)
    recent_door &= (t > now_s - 3600.0) & (t <= now_s)
    if routine.learned and routine.door_at_night_rate < 0.05 and recent_door.any():
        j = int(np.flatnonzero(recent_door)[-1])
        if _in_night(np.array([tod(float(t[j]))]), routine.sleep_start_tod_s, routine.wake_tod_s)[
            0
        ]:
            findings.append(
                Finding(
                    "night_door",
                    float(t[j]),
                    now_s - float(t[j]),
                    0.0,
                    routine.door_at_night_rate,
                    events.rooms[j],
                    tod(float(t[j])),
                )
            )

    # No kitchen all day, judged in the evening, for homes that use the kitchen daily.
    if (
        routine.learned
        and routine.kitchen_day_rate >= 0.9
        and now_tod >= cfg.kitchen_check_after_s
        and not (today & (events.places == Place.KITCHEN)).any()
        and (today & inside).any()
    ):
        findings.append(
            Finding(
                "no_kitchen",
                today_start,
                now_tod,
                cfg.kitchen_check_after_s,
                routine.kitchen_day_rate,
                state.last_room,
                0.0,
            )
        )
    return findings


def _gone_to_bed(routine: Routine, state: HomeState, last_tod: float, cfg: RoutineConfig) -> bool:
    """The last sign of life was in the bedroom, in the learned night (or just before it)."""
    if state.last_place != Place.BEDROOM:
        return False
    start = (routine.sleep_start_tod_s - cfg.bedtime_lead_s) % DAY_S
    return bool(_in_night(np.array([last_tod]), start, routine.wake_tod_s)[0])


def _margin(routine: Routine, cfg: RoutineConfig) -> float:
    return cfg.margins.get(routine.sensitivity, 1.0)
