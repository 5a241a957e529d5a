"""Learn a home's routine from its own activity history and check the routine rules.

Pure numpy: event times are float seconds UTC plus the home's UTC offset (the hub resolves the
IANA zone; the detectors have no clock and no tz database). Limits are per room (place) and hour
of local time, for free silences and for a seat or bed mat occupied, pooled across hours, days
and a population prior (`detectors.pooling`); where the resident is comes from
`detectors.presence`. A routine is a few small arrays, cheap to store and to move between hub
workers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from detectors.errors import BadParameters, BadShape, EmptyInput, NonFiniteInput
from detectors.inactivity import scan_silences
from detectors.pooling import (
    BASE_S,
    PoolingPrior,
    SilenceStats,
    pooled_limits,
    silence_stats,
)
from detectors.presence import PresenceConfig, Timeline, presence_timeline

__all__ = [
    "DAY_S",
    "N_BINS",
    "N_CHANNELS",
    "N_PLACES",
    "ActivityEvents",
    "CheckPlan",
    "Finding",
    "HomeState",
    "Kind",
    "Place",
    "Routine",
    "RoutineConfig",
    "Sensitivity",
    "answer_rate_estimate",
    "channel",
    "check_home",
    "current_state",
    "default_prior",
    "home_silence_stats",
    "learn_routine",
    "local_time_of_day",
    "new_event_lead_s",
    "plan_next_check",
    "prompt_budget",
    "silence_limit",
    "time_bins",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

DAY_S = 86_400.0
BIN_S = 3_600.0
BINS_PER_DAY = int(DAY_S // BIN_S)
#: Bins are the hours of local time; weekends pool with weekdays (the same room on other days).
N_BINS = BINS_PER_DAY
#: Places (see `Place`), and channels: each place's free silences, then its seat/bed mat.
N_PLACES = 6
N_CHANNELS = 2 * N_PLACES
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
    OCCUPIED = 3  # a seat or bed mat pressed: the resident sat or lay down
    VACATED = 4  # the mat released: the resident got up
    APPLIANCE = 5  # an appliance used, the toilet flushed, a cupboard or fridge opened


@dataclass(frozen=True, slots=True)
class RoutineConfig:
    """Knobs of routine learning and of the rules; defaults are for a home that is learning."""

    history_days_needed: float = 14.0  # with pooling and the prior, two weeks are enough
    # Worker alerts a home may raise on ordinary days (normal sensitivity): what keeps a
    # worker trusting the next one. The margins scale the limits for low and high.
    false_alarms_per_30_days: float = 0.3
    # Check-in prompts a day the resident may be asked at most ("Are you OK?").
    prompts_per_day: float = 1.0
    # Share of prompts answered, before the home's own answers are known.
    answer_rate: float = 0.95
    margins: dict[str, float] = field(
        default_factory=lambda: {"low": 1.3, "normal": 1.0, "high": 0.8}
    )
    min_threshold_s: float = 45 * 60.0  # never page a worker sooner than this
    min_ask_threshold_s: float = 20 * 60.0  # never ask sooner than this
    max_threshold_s: float = 14 * 3600.0
    default_day_threshold_s: float = 4 * 3600.0  # before enough history
    default_night_threshold_s: float = 11 * 3600.0
    default_night: tuple[float, float] = (22 * 3600.0, 7 * 3600.0)  # local time of day
    presence: PresenceConfig = field(default_factory=PresenceConfig)
    default_bathroom_limit_s: float = 60 * 60.0
    max_bathroom_limit_s: float = 2 * 3600.0
    default_away_limit_s: float = 10 * 3600.0
    wake_margin_s: float = 60 * 60.0
    min_got_up_count: int = 20  # getting-ups seen before their own limit is trusted
    night_part_min_s: float = 60 * 60.0  # a quiet this long in the bedroom at night is sleep
    min_bathroom_limit_s: float = 45 * 60.0  # a bath or an evening wash is not an emergency
    kitchen_check_after_s: float = 20 * 3600.0  # "no kitchen all day" is judged from 20:00


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
    """What one home usually does; serialisable with `to_dict` so a home can move workers.

    Limits are per channel (a place's free silences, then the same place's seat/bed mat
    occupied: `channel()`) and per hour of local time.
    """

    threshold_s: FloatArray  # (N_CHANNELS, N_BINS) silence that pages a worker
    ask_threshold_s: FloatArray  # (N_CHANNELS, N_BINS) silence worth asking the resident about
    usual_s: FloatArray  # (N_CHANNELS, N_BINS) exceeded on about one day in ten
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
    prompts_per_day: float = 0.0  # expected check-in prompts a day at the asking limits
    prompt_budget_per_day: float = 0.0  # what the home may be asked a day (shown to people)
    answer_rate: float = 0.95  # the share of prompts this home answers, as used for the budget
    # Silence after getting up from a seat or bed with nothing after it: a person who stands
    # up walks (the PIR sees her) or sits again; 0 until enough getting-ups were seen.
    got_up_limit_s: float = 0.0

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
            for name in ("threshold_s", "ask_threshold_s", "usual_s"):
                arr = np.asarray(kwargs[name], dtype=np.float64)
                if arr.shape != (N_CHANNELS, N_BINS):
                    raise BadParameters(f"{name} must have shape {(N_CHANNELS, N_BINS)}")
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
    seated: bool = False  # the silence is on an occupied seat or bed: "sitting since ..."
    asking: bool = False  # judged against the asking limit (the kit asks before a worker)


def channel(place: npt.ArrayLike, on_mat: npt.ArrayLike) -> IntArray:
    """Channel index of a place's free silences (on_mat False) or of its occupied mat."""
    return np.asarray(
        np.asarray(place, dtype=np.intp) + N_PLACES * np.asarray(on_mat, dtype=np.intp),
        dtype=np.intp,
    )


def local_time_of_day(times_s: npt.ArrayLike, utc_offset_s: float | npt.ArrayLike) -> FloatArray:
    """Local seconds since midnight for UTC times and a UTC offset (scalar or per time)."""
    local = np.asarray(times_s, dtype=np.float64) + np.asarray(utc_offset_s, dtype=np.float64)
    return np.asarray(np.mod(local, DAY_S), dtype=np.float64)


def _local_day(times_s: FloatArray, utc_offset_s: float) -> IntArray:
    return np.floor((times_s + utc_offset_s) / DAY_S).astype(np.intp)


def time_bins(times_s: npt.ArrayLike, utc_offset_s: float | npt.ArrayLike) -> IntArray:
    """Routine bin (0..23) of UTC times: the hour of local time."""
    tod = local_time_of_day(times_s, utc_offset_s)
    return np.asarray(np.floor(tod / BIN_S).astype(np.intp) % N_BINS, dtype=np.intp)


def _in_night(tod: FloatArray, start: float, end: float) -> BoolArray:
    if start <= end:
        return np.asarray((tod >= start) & (tod < end))
    return np.asarray((tod >= start) | (tod < end))


def default_prior() -> PoolingPrior:
    """The population prior: how people live, before a home has spoken.

    By day a person about the home is seldom quiet long outside a chair (mean excess 15 min
    over the 10 min base); nights are long. Sitting lasts an hour or so by day (TV, a nap) and
    a night's sleep on the bed. Rates are small so a home's own counts soon dominate.
    """
    hours = np.arange(N_BINS)
    night = (hours >= 22) | (hours < 7)
    free = np.where(night, 120 * 60.0, 15 * 60.0)
    seated = np.where(night, 360 * 60.0, 60 * 60.0)
    mean_excess = np.vstack([np.tile(free, (N_PLACES, 1)), np.tile(seated, (N_PLACES, 1))])
    rate = np.vstack([np.full((N_PLACES, N_BINS), 0.1), np.full((N_PLACES, N_BINS), 0.05)])
    return PoolingPrior(mean_excess_s=mean_excess, rate_per_day=rate)


def answer_rate_estimate(answered: int, unanswered: int, prior_rate: float = 0.95) -> float:
    """A home's share of answered prompts: its own answers shrunk towards the prior (20 prompts).

    A resident who often misses the buzzer earns a higher asking limit, so that her unanswered
    prompts do not page workers for nothing.
    """
    weight = 20.0
    return float((answered + weight * prior_rate) / (answered + unanswered + weight))


def prompt_budget(cfg: RoutineConfig, answer_rate: float) -> float:
    """Prompts a day the home may get: the cap, or fewer where unanswered ones would page."""
    worker_per_day = cfg.false_alarms_per_30_days / 30.0
    miss = max(1e-3, 1.0 - answer_rate)
    return float(min(cfg.prompts_per_day, worker_per_day / miss))


@dataclass(frozen=True, slots=True)
class _Silences:
    durations_s: FloatArray
    channels: IntArray
    bins: IntArray
    present: BoolArray


def _silences(events: ActivityEvents, tl: Timeline) -> _Silences:
    """At-home silences between signs of life, and sittings on a mat, with channel and hour."""
    t = events.times_s
    off = events.utc_offset_s
    places = events.places
    present = np.zeros(N_CHANNELS, dtype=bool)
    present[np.unique(places[places != Place.ENTRANCE])] = True
    mats = np.unique(places[events.kinds == Kind.OCCUPIED])
    present[N_PLACES + mats] = True
    if t.size < 2:
        return _Silences(np.zeros(0), np.zeros(0, np.intp), np.zeros(0, np.intp), present)
    gaps = np.diff(t)
    free = ~tl.away[:-1] & (tl.mat_place[:-1] < 0) & (places[:-1] != Place.ENTRANCE)
    d_free = gaps[free]
    c_free = places[:-1][free]
    b_free = time_bins(t[:-1][free], off)
    # Silences while seated or lying: from each sign of life on the mat (sitting down, the
    # room's PIR seeing her shift, "I'm OK") to the next. Where the room has no PIR this is the
    # whole sitting; where it has one, a still body is told from a resting one.
    seated = ~tl.away[:-1] & (tl.mat_place[:-1] >= 0)
    d_mat = gaps[seated]
    c_mat = N_PLACES + tl.mat_place[:-1][seated]
    b_mat = time_bins(t[:-1][seated], off)
    return _Silences(
        np.concatenate([d_free, d_mat]),
        np.concatenate([c_free, c_mat]).astype(np.intp),
        np.concatenate([b_free, b_mat]).astype(np.intp),
        present,
    )


def home_silence_stats(
    events: ActivityEvents, now_s: float, config: RoutineConfig | None = None
) -> SilenceStats:
    """One home's silence statistics up to `now_s`, for a population prior of many homes."""
    cfg = config or RoutineConfig()
    keep = events.times_s <= now_s
    ev = ActivityEvents(
        events.times_s[keep],
        events.places[keep],
        events.kinds[keep],
        tuple(np.asarray(events.rooms)[keep]),
        events.utc_offset_s,
    )
    days = float((now_s - ev.times_s[0]) / DAY_S) if len(ev) else 0.0
    tl = presence_timeline(ev.times_s, ev.places, ev.kinds, cfg.presence)
    sil = _silences(ev, tl)
    return silence_stats(
        sil.durations_s, sil.channels, sil.bins, N_CHANNELS, N_BINS, days, sil.present
    )


def learn_routine(
    events: ActivityEvents,
    now_s: float,
    *,
    sensitivity: Sensitivity = "normal",
    config: RoutineConfig | None = None,
    prior: PoolingPrior | None = None,
    answer_rate: float | None = None,
) -> Routine:
    """Learn the home's routine from its history up to `now_s` (defaults if too short)."""
    cfg = config or RoutineConfig()
    if sensitivity not in cfg.margins:
        raise BadParameters(f"sensitivity must be one of {sorted(cfg.margins)}, got {sensitivity}")
    if not np.isfinite(now_s):
        raise NonFiniteInput("now must be finite")
    margin = cfg.margins[sensitivity]
    keep = events.times_s <= now_s  # events "from the future" (clock jumps) are not history
    t = events.times_s[keep]
    history_days = float((now_s - t[0]) / DAY_S) if t.size else 0.0
    defaults = _default_routine(cfg, sensitivity, history_days)
    if t.size < 2:
        return defaults
    ev = ActivityEvents(
        t,
        events.places[keep],
        events.kinds[keep],
        tuple(np.asarray(events.rooms)[keep]),
        events.utc_offset_s,
    )
    tl = presence_timeline(ev.times_s, ev.places, ev.kinds, cfg.presence)
    sil = _silences(ev, tl)
    stats = silence_stats(
        sil.durations_s, sil.channels, sil.bins, N_CHANNELS, N_BINS, history_days, sil.present
    )
    rate_answer = cfg.answer_rate if answer_rate is None else answer_rate
    budgets = np.array([cfg.false_alarms_per_30_days / 30.0, prompt_budget(cfg, rate_answer)])
    limits, mean_excess, rate = pooled_limits(stats, prior or default_prior(), budgets)
    scale = margin / cfg.margins["normal"]
    if history_days < cfg.history_days_needed:
        # Still learning: the defaults hold, but a resident who already sat for five hours
        # on her third afternoon will do so again; what the home showed only raises them,
        # judged with the low sensitivity's margin while a few days are all there is.
        unsure = cfg.margins["low"] / cfg.margins["normal"]
        early = np.maximum(
            defaults.threshold_s, np.minimum(limits[0] * scale * unsure, cfg.max_threshold_s)
        )
        return dataclasses.replace(
            defaults, threshold_s=early, ask_threshold_s=early.copy(), usual_s=early / 2.0
        )
    thr = np.clip(limits[0] * scale, cfg.min_threshold_s, cfg.max_threshold_s)
    ask = np.clip(limits[1] * scale, cfg.min_ask_threshold_s, thr)
    # "Usually under": the silence this cell reaches on about one day in ten.
    usual = BASE_S + mean_excess * np.log(np.maximum(rate * 10.0, 1.0))
    prompts = float(
        np.sum(np.where(sil.present[:, None], rate, 0.0) * np.exp(-(ask - BASE_S) / mean_excess))
    )
    sleep_start, wake, wake_latest = _night(ev, tl, cfg, defaults)
    return Routine(
        threshold_s=np.asarray(thr, dtype=np.float64),
        ask_threshold_s=np.asarray(ask, dtype=np.float64),
        usual_s=np.asarray(np.minimum(usual, thr), dtype=np.float64),
        history_days=history_days,
        learned=True,
        sleep_start_tod_s=sleep_start,
        wake_tod_s=wake,
        wake_latest_tod_s=wake_latest,
        bathroom_limit_s=_bathroom_limit(ev, cfg, scale),
        away_limit_s=_away_limit(ev, tl, cfg, scale),
        door_at_night_rate=_night_door_rate(ev, sleep_start, wake),
        kitchen_day_rate=_kitchen_day_rate(ev),
        sensitivity=sensitivity,
        prompts_per_day=prompts,
        prompt_budget_per_day=float(budgets[1]),
        answer_rate=float(rate_answer),
        got_up_limit_s=_got_up_limit(ev, tl, cfg, scale),
    )


def _default_routine(cfg: RoutineConfig, sensitivity: Sensitivity, history_days: float) -> Routine:
    """The routine of a home with too little history: fixed day and night limits."""
    night_start, night_end = cfg.default_night
    hour_starts = np.asarray(np.arange(N_BINS) * BIN_S, dtype=np.float64)
    default_row = np.where(
        _in_night(hour_starts, (night_start - 2 * 3600.0) % DAY_S, night_end),
        cfg.default_night_threshold_s,
        cfg.default_day_threshold_s,
    )
    default_thr = np.tile(default_row, (N_CHANNELS, 1)).astype(np.float64)
    return Routine(
        threshold_s=default_thr,
        ask_threshold_s=default_thr.copy(),
        usual_s=default_thr / 2.0,
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


def _night(
    ev: ActivityEvents, tl: Timeline, cfg: RoutineConfig, defaults: Routine
) -> tuple[float, float, float]:
    """Usual sleep start, wake and latest wake (times of day), or the defaults' if unclear.

    Night: from the first long quiet in the bedroom of an evening to the end of the last one
    of the morning. Night-time toilet visits split a night into parts; the wake is when the
    last part ends, not the end of the longest one (often the return from the toilet at 03:00).
    """
    t, off = ev.times_s, ev.utc_offset_s
    home_gap = ~tl.away[:-1]
    gaps = np.diff(t)
    tod = local_time_of_day(t, off)
    day = _local_day(t - 12 * 3600.0, off)  # a "night" belongs to the evening it starts
    start_tod = tod[:-1]
    bedroom = (ev.places[:-1] == Place.BEDROOM) | (tl.mat_place[:-1] == Place.BEDROOM)
    if not bedroom.any():
        bedroom = np.ones_like(bedroom)  # one-room flats: the quiet may start anywhere
    night_part = (
        _in_night(start_tod, 19 * 3600.0, 10 * 3600.0)
        & home_gap
        & bedroom
        & (gaps >= cfg.night_part_min_s)
    )
    sleep_starts: list[float] = []
    wakes: list[float] = []
    for d in np.unique(day[:-1][night_part]):
        parts = np.flatnonzero(night_part & (day[:-1] == d))
        first, last = int(parts[0]), int(parts[-1])
        if t[last + 1] - t[first] >= 3 * 3600.0:
            sleep_starts.append(float(tod[first]))
            wakes.append(float(tod[last + 1]))
    if len(wakes) < 5:
        return defaults.sleep_start_tod_s, defaults.wake_tod_s, defaults.wake_latest_tod_s
    # Circular statistics around noon so 23:30 and 00:30 average to midnight.
    ss = (np.asarray(sleep_starts) - 12 * 3600.0) % DAY_S
    sleep_start = float((np.median(ss) + 12 * 3600.0) % DAY_S)
    wake = float(np.median(wakes))
    wake_latest = float((np.quantile(wakes, 0.95) + cfg.wake_margin_s) % DAY_S)
    return sleep_start, wake, wake_latest


def _night_door_rate(ev: ActivityEvents, sleep_start: float, wake: float) -> float:
    """On what share of nights the front door was used in the night window."""
    t, off = ev.times_s, ev.utc_offset_s
    day = _local_day(t - 12 * 3600.0, off)  # a "night" belongs to the evening it starts
    n_nights = max(1, len(np.unique(day)))
    door = (ev.places == Place.ENTRANCE) & (ev.kinds == Kind.DOOR)
    night_door_days = np.unique(day[door & _in_night(local_time_of_day(t, off), sleep_start, wake)])
    return float(night_door_days.size / n_nights)


def _bathroom_limit(ev: ActivityEvents, cfg: RoutineConfig, scale: float) -> float:
    """Past the home's bathroom stays, each from entering to the first event elsewhere."""
    t = ev.times_s
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
    if len(stays) < 20:
        return cfg.default_bathroom_limit_s
    # The longest ordinary stay counts too: a weekly bath is rarer than 1 % of visits.
    return _tail_limit(
        np.asarray(stays), 0.99, scale, cfg.min_bathroom_limit_s, cfg.max_bathroom_limit_s
    )


def _away_limit(
    ev: ActivityEvents, tl: Timeline, cfg: RoutineConfig, scale: float
) -> float:
    """Past how long outings last, each from leaving to the first event after coming back."""
    t = ev.times_s
    out = tl.away[:-1].astype(np.int8)
    starts = np.flatnonzero(np.diff(np.concatenate(([0], out))) == 1)
    ends = np.flatnonzero(np.diff(np.concatenate((out, [0]))) == -1)
    outings = t[ends + 1] - t[starts]
    if outings.size < 5:
        return cfg.default_away_limit_s
    return _tail_limit(outings, 0.95, scale, 2 * 3600.0, cfg.max_threshold_s)


def _got_up_limit(
    ev: ActivityEvents, tl: Timeline, cfg: RoutineConfig, scale: float
) -> float:
    """Getting up: the quiet after a mat is left, at home, until the next sign of life."""
    up = np.flatnonzero((ev.kinds[:-1] == Kind.VACATED) & ~tl.away[:-1])
    if up.size < cfg.min_got_up_count:
        return 0.0
    gaps = np.diff(ev.times_s)
    return _tail_limit(gaps[up], 0.99, scale, cfg.min_threshold_s, cfg.max_threshold_s)


def _kitchen_day_rate(ev: ActivityEvents) -> float:
    """The share of the home's days with the kitchen used."""
    cal_day = _local_day(ev.times_s, ev.utc_offset_s)
    days = np.unique(cal_day)
    kitchen_days = np.unique(cal_day[ev.places == Place.KITCHEN])
    return float(kitchen_days.size / max(1, days.size))


@dataclass(frozen=True, slots=True)
class HomeState:
    """Where a home stands at `now`, derived from its recent events."""

    last_activity_s: float  # the last sign of life at home (or the last event, when out)
    last_room: str
    last_place: int
    last_bin: int
    away: bool
    away_since_s: float
    bathroom_since_s: float  # NaN unless the resident is (still) in the bathroom
    clock_behind: bool  # the last event is later than now: the kit's or hub's clock jumped
    seated: bool = False  # on a seat or bed mat since `silence_since_s`
    silence_since_s: float = float("nan")  # when the silence being judged began
    channel: int = 0  # the routine channel that judges it (`channel()`)
    silence_bin: int = 0  # the hour bin of `silence_since_s`
    answered: bool = False  # the silence began with a button press ("I'm OK" or help)
    got_up: bool = False  # the silence began with the resident leaving a seat or bed mat


def current_state(
    events: ActivityEvents, now_s: float, config: RoutineConfig | None = None
) -> HomeState:
    """Summarise the recent events as the state the rules and the scan need."""
    cfg = config or RoutineConfig()
    if len(events) == 0:
        raise EmptyInput("no events: a home without any activity has no state yet")
    t = events.times_s
    tl = presence_timeline(t, events.places, events.kinds, cfg.presence)
    last = t.size - 1
    away = bool(tl.away[last])
    alive = np.flatnonzero(tl.sign_of_life)
    j = int(alive[-1]) if alive.size and not away else last
    bath_since = float("nan")
    if not away and events.places[j] == Place.BATHROOM:
        not_bath = np.flatnonzero(events.places[: j + 1] != Place.BATHROOM)
        first = int(not_bath[-1]) + 1 if not_bath.size else 0
        bath_since = float(t[first])
    seated = not away and int(tl.mat_place[last]) >= 0
    since = float(t[j])
    place = int(tl.mat_place[last]) if seated else int(events.places[j])
    return HomeState(
        last_activity_s=float(t[j]),
        last_room=events.rooms[j],
        last_place=int(events.places[j]),
        last_bin=int(time_bins(t[j : j + 1], events.utc_offset_s)[0]),
        away=away,
        away_since_s=float(tl.away_since_s[last]) if away else float("nan"),
        bathroom_since_s=bath_since,
        clock_behind=bool(t[last] > now_s),
        seated=seated,
        silence_since_s=since,
        channel=int(channel(place, seated)),
        silence_bin=int(time_bins(np.array([since]), events.utc_offset_s)[0]),
        answered=bool(events.kinds[j] == Kind.BUTTON and float(t[j]) >= since),
        got_up=bool(events.kinds[j] == Kind.VACATED and not seated),
    )


def silence_limit(
    routine: Routine, state: HomeState, utc_offset_s: float, *, ask_first: bool = False
) -> float:
    """The silence this home may keep in its state before the rule speaks (worker or asking).

    A silence that began with the resident pressing a button (she answered "I'm OK") is not
    asked about again at the asking limit: she said this quiet is ordinary, so it is judged at
    the worker limit (asking twice for one quiet afternoon spends the budget for nothing).
    """
    asking = ask_first and not state.answered
    table = routine.ask_threshold_s if asking else routine.threshold_s
    limit = float(table[state.channel, state.silence_bin])
    if state.got_up and routine.got_up_limit_s > 0:
        # She stood up and nothing moved after: this home's own getting-ups say how long that
        # lasts (seconds to a minute, then the PIR or another mat), however long she may sit.
        limit = min(limit, routine.got_up_limit_s)
    since_tod = float(local_time_of_day(np.array([state.silence_since_s]), utc_offset_s)[0])
    if routine.learned and _gone_to_bed(routine, state, since_tod):
        # Asleep: silence in the bedroom is expected until the latest usual wake time
        # (then "not up" and this rule speak). A PIR cannot tell sleep from lying still.
        until_wake = (routine.wake_latest_tod_s - since_tod) % DAY_S
        limit = max(limit, until_wake)
    return limit


def check_home(
    routine: Routine,
    events: ActivityEvents,
    now_s: float,
    config: RoutineConfig | None = None,
    *,
    ask_first: bool = False,
    watched_since_s: float | None = None,
) -> list[Finding]:
    """Apply every routine rule to one home's recent events (the last day or more) at `now_s`.

    With `ask_first` (the kit can ask "Are you OK?"), silences are judged against the lower
    asking limits; the alert engine asks the resident before any worker is paged.
    `watched_since_s`: when the home's kits came back after an outage (power cut, no network).
    A silence is the resident's only while the kit could see her: one that began before the
    outage is timed from the kit's return, and "not up" needs the kit to have watched the whole
    morning.
    """
    cfg = config or RoutineConfig()
    if not np.isfinite(now_s):
        raise NonFiniteInput("now must be finite")
    if len(events) == 0:
        return []
    off = events.utc_offset_s
    state = _watched(current_state(events, now_s, cfg), watched_since_s, off)
    if state.clock_behind:
        # Time ran backwards: every duration would be negative. Say nothing rather than guess.
        return []
    day = _Today(events, now_s, _tod(now_s, off))
    findings = _quiet_findings(routine, state, now_s, off, ask_first=ask_first)
    for rule in (_not_up, _night_door, _no_kitchen):
        found = rule(routine, state, day, cfg, watched_since_s)
        if found is not None:
            findings.append(found)
    return findings


@dataclass(frozen=True, slots=True)
class CheckPlan:
    """When `check_home` on the same events could next find something (a scan's gate).

    The at-home silence is kept apart (`silence_since_s`, `silence_limit_s`) so a scan over
    many homes decides it for all of them in one `scan_silences` call; `other_due_s` is the
    earliest moment any other rule could speak. Both hold only while no new event arrives:
    `new_event_lead_s` bounds how soon a new event can make a rule speak.
    """

    silence_since_s: float  # NaN: no at-home silence is being timed (out, or no events)
    silence_limit_s: float
    other_due_s: float  # inf: no other rule can speak without new events


def plan_next_check(
    routine: Routine,
    events: ActivityEvents,
    now_s: float,
    config: RoutineConfig | None = None,
    *,
    ask_first: bool = False,
    watched_since_s: float | None = None,
) -> CheckPlan:
    """The earliest times at which `check_home` with these events could return a finding.

    Conservative: the scan checks the home at these times (or sooner) and finds what
    `check_home` would find on every pass in between, since with the same events nothing can
    fire earlier. A rule firing now gives `other_due_s` <= `now_s`.
    """
    cfg = config or RoutineConfig()
    if not np.isfinite(now_s):
        raise NonFiniteInput("now must be finite")
    if len(events) == 0:
        return CheckPlan(float("nan"), float("inf"), float("inf"))
    off = events.utc_offset_s
    state = _watched(current_state(events, now_s, cfg), watched_since_s, off)
    if state.clock_behind:
        return CheckPlan(float("nan"), float("inf"), now_s)  # look again on every pass
    due = float("inf")
    since, limit = float("nan"), float("inf")
    if state.away:
        due = state.away_since_s + routine.away_limit_s  # not_back
    else:
        since = state.silence_since_s
        limit = silence_limit(routine, state, off, ask_first=ask_first)
    if np.isfinite(state.bathroom_since_s):
        # Also while seated: getting up from a bathroom seat continues the same stay.
        due = min(due, state.bathroom_since_s + routine.bathroom_limit_s)
    now_tod = _tod(now_s, off)
    day_start = now_s - now_tod
    if routine.learned and not state.away:
        # not_up speaks after the latest usual wake time; with the same events, a morning
        # that passed it without a finding stays quiet until the next morning.
        up = day_start + max(routine.wake_latest_tod_s, routine.wake_tod_s)
        due = min(due, up if now_s <= up else up + DAY_S)
    if routine.learned and routine.kitchen_day_rate >= 0.9:
        evening = day_start + cfg.kitchen_check_after_s
        if now_s <= evening:
            due = min(due, evening)  # later evenings need events of their own day
    if _night_door(routine, state, _Today(events, now_s, now_tod), cfg, watched_since_s):
        due = now_s
    return CheckPlan(since, limit, due)


def new_event_lead_s(routine: Routine, *, ask_first: bool = False, vacated: bool = False) -> float:
    """How soon after a new event, later than every event a plan saw, a rule can speak.

    A new sign of life restarts the silence (judged against at least the smallest limit of
    the tables); a new getting-up against the getting-up limit. Door and entrance events,
    and events older than the plan's newest, are not covered: check such homes at once.
    """
    table = (
        np.minimum(routine.threshold_s, routine.ask_threshold_s)
        if ask_first
        else (routine.threshold_s)
    )
    lead = min(float(table.min()), routine.bathroom_limit_s, routine.away_limit_s)
    if vacated and routine.got_up_limit_s > 0:
        lead = min(lead, routine.got_up_limit_s)
    return max(0.0, lead)


def _tod(x: float, utc_offset_s: float) -> float:
    return float(local_time_of_day(np.array([x]), utc_offset_s)[0])


@dataclass(frozen=True, slots=True)
class _Today:
    """The events of one check, with the local day they are judged in."""

    events: ActivityEvents
    now_s: float
    now_tod: float

    @property
    def start(self) -> float:
        return self.now_s - self.now_tod

    @property
    def today(self) -> BoolArray:
        t = self.events.times_s
        return np.asarray((t >= self.start) & (t <= self.now_s), dtype=np.bool_)

    @property
    def inside(self) -> BoolArray:
        ev = self.events
        return np.asarray((ev.kinds != Kind.DOOR) & (ev.places != Place.ENTRANCE), dtype=np.bool_)


def _quiet_findings(
    routine: Routine, state: HomeState, now_s: float, off: float, *, ask_first: bool
) -> list[Finding]:
    """Out too long; or, at home, a silence past its limit and a bathroom stay past its limit."""
    if state.away:
        out_for = now_s - state.away_since_s
        if out_for <= routine.away_limit_s:
            return []
        return [
            Finding(
                "not_back",
                state.away_since_s,
                out_for,
                routine.away_limit_s,
                routine.away_limit_s / 1.5,
                state.last_room,
                _tod(state.away_since_s, off),
            )
        ]
    findings: list[Finding] = []
    # One decision for one home and for the hub's 100,000: the vectorised scan.
    limit = silence_limit(routine, state, off, ask_first=ask_first)
    verdict = scan_silences(np.array([limit]), np.array([state.silence_since_s]), now_s)
    if verdict.overdue[0]:
        findings.append(
            Finding(
                "unusual_inactivity",
                state.silence_since_s,
                float(verdict.silence_s[0]),
                limit,
                float(routine.usual_s[state.channel, state.silence_bin]),
                state.last_room,
                _tod(state.silence_since_s, off),
                seated=state.seated,
                asking=ask_first and not state.answered,
            )
        )
    if np.isfinite(state.bathroom_since_s) and not state.seated:
        stay = now_s - state.bathroom_since_s
        if stay > routine.bathroom_limit_s:
            findings.append(
                Finding(
                    "long_bathroom",
                    state.bathroom_since_s,
                    stay,
                    routine.bathroom_limit_s,
                    routine.bathroom_limit_s / 1.5,
                    state.last_room,
                    _tod(state.bathroom_since_s, off),
                )
            )
    return findings


def _not_up(
    routine: Routine,
    state: HomeState,
    day: _Today,
    cfg: RoutineConfig,
    watched_since_s: float | None,
) -> Finding | None:
    """Past the latest usual wake time, at home, and nothing inside since the night began."""
    if not (routine.learned and not state.away and routine.wake_tod_s < day.now_tod < 14 * 3600.0):
        return None
    t = day.events.times_s
    night_began = day.start + routine.wake_tod_s - 2 * 3600.0
    since_wake = day.inside & (t >= night_began)
    watched = watched_since_s is None or watched_since_s <= night_began
    if not (day.now_tod > routine.wake_latest_tod_s and watched and not since_wake.any()):
        return None
    return Finding(
        "not_up",
        state.last_activity_s,
        day.now_s - state.last_activity_s,
        routine.wake_latest_tod_s,
        routine.wake_tod_s,
        state.last_room,
        _tod(state.last_activity_s, day.events.utc_offset_s),
    )


def _night_door(
    routine: Routine,
    state: HomeState,
    day: _Today,
    cfg: RoutineConfig,
    watched_since_s: float | None,
) -> Finding | None:
    """The front door used in the night window when this home almost never does."""
    events, now_s, off = day.events, day.now_s, day.events.utc_offset_s
    t = events.times_s
    recent_door = (events.places == Place.ENTRANCE) & (events.kinds == Kind.DOOR)
    recent_door &= (t > now_s - 3600.0) & (t <= now_s)
    if not (routine.learned and routine.door_at_night_rate < 0.05 and recent_door.any()):
        return None
    j = int(np.flatnonzero(recent_door)[-1])
    door_tod = _tod(float(t[j]), off)
    if not _in_night(np.array([door_tod]), routine.sleep_start_tod_s, routine.wake_tod_s)[0]:
        return None
    return Finding(
        "night_door",
        float(t[j]),
        now_s - float(t[j]),
        0.0,
        routine.door_at_night_rate,
        events.rooms[j],
        door_tod,
    )


def _no_kitchen(
    routine: Routine,
    state: HomeState,
    day: _Today,
    cfg: RoutineConfig,
    watched_since_s: float | None,
) -> Finding | None:
    """No kitchen all day, judged in the evening, for homes that use the kitchen daily."""
    today = day.today
    if not (
        routine.learned
        and routine.kitchen_day_rate >= 0.9
        and day.now_tod >= cfg.kitchen_check_after_s
        and not (today & (day.events.places == Place.KITCHEN)).any()
        and (today & day.inside).any()
    ):
        return None
    return Finding(
        "no_kitchen",
        day.start,
        day.now_tod,
        cfg.kitchen_check_after_s,
        routine.kitchen_day_rate,
        state.last_room,
        0.0,
    )


def _tail_limit(
    durations_s: FloatArray, quantile: float, scale: float, lo: float, hi: float
) -> float:
    """A limit past a home's own ordinary durations: 1.5 x the quantile, above the longest."""
    top = float(np.quantile(durations_s, quantile)) * 1.5 * scale
    return float(np.clip(max(top, float(durations_s.max()) * 1.1), lo, hi))


def _watched(state: HomeState, watched_since_s: float | None, utc_offset_s: float) -> HomeState:
    """The state with its silences timed from when the kits came back, if that is later."""
    if watched_since_s is None or not np.isfinite(watched_since_s) or state.away:
        return state
    if watched_since_s <= state.silence_since_s:
        return state
    bath = state.bathroom_since_s
    return dataclasses.replace(
        state,
        silence_since_s=float(watched_since_s),
        silence_bin=int(time_bins(np.array([watched_since_s]), utc_offset_s)[0]),
        bathroom_since_s=max(bath, float(watched_since_s)) if np.isfinite(bath) else bath,
        answered=False,
        got_up=False,
    )


def _gone_to_bed(routine: Routine, state: HomeState, since_tod: float) -> bool:
    """The silence began in the bedroom (or on the bed), in the learned night or just before."""
    if state.channel % N_PLACES != Place.BEDROOM:
        return False
    start = (routine.sleep_start_tod_s - 3600.0) % DAY_S
    return bool(_in_night(np.array([since_tod]), start, routine.wake_tod_s)[0])
