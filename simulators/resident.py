"""A resident's days: where one person living alone is, minute by minute, with seeded randomness.

The model is a day planner: sleep (with night-time bathroom visits), waking, meals in the
kitchen, sitting in the living room, bathroom visits, outings through the front door and
visitors, by weekday and time of day. A profile drifts slowly over weeks (waking later, more
night visits) so trend detection can be tested. The output is a list of `Segment`s that cover
the time without gaps; the home model (simulators.home) turns them into sensor signals.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from mehr.vocabulary import Place as RoomPlace

__all__ = [
    "ACTIVITY_RATE",
    "ON_MAT_LABELS",
    "Place",
    "ResidentProfile",
    "Segment",
    "local_midnight_utc",
    "plan_day",
    "plan_days",
]


class Place(StrEnum):
    """Where the resident is: one of the vocabulary's places of a home (`mehr.vocabulary.Place`,
    same values) or out; the home model maps each place to the sensor that covers it."""

    BEDROOM = RoomPlace.BEDROOM.value
    BATHROOM = RoomPlace.BATHROOM.value
    KITCHEN = RoomPlace.KITCHEN.value
    LIVING = RoomPlace.LIVING.value
    HALL = RoomPlace.ENTRANCE.value
    OUT = "out"  # not a place of the home: the resident went out


# Movements a PIR could see per minute, by activity label: sleeping people turn over now and
# then; cooking is busy. "Still" is a person who cannot move (on the floor, unconscious).
ACTIVITY_RATE: dict[str, float] = {
    "Sleep": 0.01,
    "Bed_to_Toilet": 3.0,
    "Personal_Hygiene": 3.0,
    "Meal_Preparation": 4.0,
    "Eat": 1.0,
    "Relax": 0.6,
    "Wash_Dishes": 3.0,
    "Leave_Home": 4.0,
    "Enter_Home": 4.0,
    "Out": 0.0,
    "Visitor": 2.0,
    "Tea": 3.0,
    "Toilet": 2.5,
    "Still": 0.0,
    "Wander": 4.0,
    "Shower": 3.0,
    "Potter": 1.5,
    "TV": 0.01,  # seated; the profile's sit_moves_per_h sets the real figure per segment
    "Nap": 0.003,
}

# Activities done sitting or lying on something a pressure mat can feel: the chair in the
# living room, the bed in the bedroom (the mat is the one in the segment's place).
ON_MAT_LABELS: frozenset[str] = frozenset({"Sleep", "Wake", "TV", "Nap", "Visitor"})


@dataclass(frozen=True)
class Segment:
    """The resident at one place doing one activity from `start` to `end` (UTC seconds)."""

    start: float
    end: float
    place: Place
    label: str
    # Movements per minute the PIR may see; defaults to ACTIVITY_RATE[label].
    rate_per_min: float | None = None
    visitor: bool = False

    @property
    def on_mat(self) -> bool:
        """True while the resident sits or lies where a mat would feel her (chair, bed)."""
        return self.label in ON_MAT_LABELS

    @property
    def rate(self) -> float:
        """Movements per minute during this segment."""
        if self.rate_per_min is not None:
            return self.rate_per_min
        return ACTIVITY_RATE.get(self.label, 1.0)


@dataclass(frozen=True)
class ResidentProfile:
    """Habits of one resident (hours are local time); every random draw comes from `seed`.

    A handful of interpretable parameters, calibrated on real homes (docs/simulators.md): when
    she sleeps, how long she sits in the armchair and how much of her free time she spends there,
    how often she goes out and for how long, how often she gets up at night.
    """

    seed: int = 0
    wake_h: float = 7.0
    wake_sd_h: float = 0.5
    bed_h: float = 22.5  # may pass midnight: 25.5 is half past one
    bed_sd_h: float = 0.5
    weekend_shift_h: float = 0.5  # sleeps a little longer at the weekend
    night_visits: float = 1.0  # mean bathroom visits per night (Poisson)
    breakfast_min: float = 30.0
    lunch_h: float = 13.0
    dinner_h: float = 19.0
    meal_sd_h: float = 0.4
    bathroom_every_h: float = 2.5
    bathroom_min: float = 5.0
    # Sitting: bouts in the armchair (TV, reading, dozing) are log-normal: most last under an
    # hour, a few run to three or four. Seated people barely move for a PIR.
    sit_median_min: float = 55.0
    sit_spread: float = 0.8  # log-sd of a bout's length
    sit_share: float = 0.65  # of free daytime activities, the share that is sitting down
    sit_morning_factor: float = 0.4  # mornings are busier: the share before noon is this much
    sit_moves_per_h: float = 0.3  # movements a room PIR sees from someone seated
    off_mat_share: float = 0.0  # of the sits, those where no mat feels her (sofa, bedroom chair)
    nap_p: float = 0.5  # chance of a nap after lunch (in the chair; a quarter of them in bed)
    nap_mean_min: float = 60.0
    outing_weekday_p: float = 0.7
    outing_weekend_p: float = 0.3
    outing_start_h: tuple[float, float] = (9.5, 11.5)
    outing_mean_h: float = 1.5
    outings_extra: float = 0.3  # further outings on a day she goes out (Poisson mean)
    visitor_p: float = 0.15
    # Slow drift per week since the start of the simulation.
    drift_wake_min_per_week: float = 0.0
    drift_night_visits_per_week: float = 0.0

    def for_week(self, week: float) -> ResidentProfile:
        """The profile `week` weeks after the start, with drift applied."""
        return replace(
            self,
            wake_h=self.wake_h + week * self.drift_wake_min_per_week / 60.0,
            night_visits=max(0.0, self.night_visits + week * self.drift_night_visits_per_week),
        )


def local_midnight_utc(day: date, tz: ZoneInfo) -> float:
    """UTC seconds of local midnight starting `day` in zone `tz`."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC).timestamp()


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: means here are small (night visits per night).
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


@dataclass
class _Planner:
    """Appends segments in order; keeps them contiguous."""

    midnight: float
    segments: list[Segment] = field(default_factory=list)

    def at(self, hours: float) -> float:
        return self.midnight + hours * 3600.0

    @property
    def now(self) -> float:
        return self.segments[-1].end

    def add(
        self,
        minutes: float,
        place: Place,
        label: str,
        visitor: bool = False,
        rate: float | None = None,
    ) -> None:
        start = self.now
        self.segments.append(
            Segment(start, start + minutes * 60.0, place, label, rate, visitor=visitor)
        )

    def until(self, t: float, place: Place, label: str) -> None:
        if t > self.now:
            self.segments.append(Segment(self.now, t, place, label))


def _bedtime_h(profile: ResidentProfile, day: date) -> float:
    """Local hour she goes to bed in the evening of `day` (past 24: after midnight).

    Drawn from its own seeded stream so the next day can know it (a late night ends there).
    """
    rng = random.Random(f"{profile.seed}:{day.isoformat()}:bedtime")
    return min(max(rng.gauss(profile.bed_h, profile.bed_sd_h), 20.0), 27.5)


def _lognormal_min(rng: random.Random, median: float, spread: float) -> float:
    return median * math.exp(rng.gauss(0.0, spread))


def plan_day(
    profile: ResidentProfile,
    day: date,
    tz: ZoneInfo,
    day_index: int,
) -> list[Segment]:
    """Plan one day from local 00:00 to 24:00 (the night belongs to the morning it ends).

    Deterministic for (profile.seed, day): the same day is the same whatever else is simulated.
    A late evening (bed time past midnight) continues at the start of the next day's plan.
    """
    # The helpers draw from `rng` in a fixed order: changing that order changes every day.
    rng = random.Random(f"{profile.seed}:{day.isoformat()}")
    p = profile.for_week(day_index / 7.0)
    weekend = day.weekday() >= 5
    midnight = local_midnight_utc(day, tz)
    plan = _Planner(midnight)
    wake_h = rng.gauss(p.wake_h + (p.weekend_shift_h if weekend else 0.0), p.wake_sd_h)
    asleep_h = _bedtime_h(p, day - timedelta(days=1)) - 24.0  # last night's bed time, today
    wake_h = min(max(wake_h, 4.0, asleep_h + 3.0), 12.5)
    bed_h = max(_bedtime_h(p, day), wake_h + 8.0)

    # A zero-length start so `plan.now` is defined; dropped at the end.
    plan.segments.append(Segment(midnight, midnight, Place.BEDROOM, "Sleep"))
    _plan_night(plan, rng, p, asleep_h, wake_h)
    _plan_morning(plan, rng, p)
    evening_end = min(bed_h, 24.0)
    last_bathroom = _play_agenda(plan, rng, p, _agenda(rng, p, weekend, bed_h), evening_end)
    last_bathroom = _fill(plan, rng, plan.at(evening_end), p, last_bathroom)
    if bed_h <= 24.0:
        plan.add(rng.uniform(5.0, 12.0), Place.BATHROOM, "Personal_Hygiene")
        plan.until(plan.at(24.0), Place.BEDROOM, "Sleep")
    # Clip to the day: a late evening may run over midnight by a few minutes.
    end = plan.at(24.0)
    out = [s if s.end <= end else replace(s, end=end) for s in plan.segments if s.start < end]
    return [s for s in out if s.end > s.start]


def _plan_night(
    plan: _Planner, rng: random.Random, p: ResidentProfile, asleep_h: float, wake_h: float
) -> None:
    """From midnight to waking: a late evening's end, sleep, and bathroom visits."""
    midnight = plan.midnight
    if asleep_h > 0.0:
        # Still up from last evening: the armchair until bed time, then the bathroom.
        _fill(plan, rng, plan.at(asleep_h) - 600, p, midnight - 3600)
        plan.add(rng.uniform(4.0, 9.0), Place.BATHROOM, "Personal_Hygiene")
        asleep_h = (plan.now - midnight) / 3600.0
    # The night until waking, with bathroom visits at random moments (not in the last 20 min).
    first = max(asleep_h, 0.0) + 0.5
    visits = sorted(
        rng.uniform(first, wake_h - 0.4)
        for _ in range(_poisson(rng, p.night_visits) if wake_h - 0.4 > first else 0)
    )
    for v in visits:
        if plan.at(v) <= plan.now + 600:
            continue
        plan.until(plan.at(v), Place.BEDROOM, "Sleep")
        plan.add(rng.uniform(0.3, 0.8), Place.HALL, "Bed_to_Toilet")
        plan.add(rng.uniform(2.5, 7.0), Place.BATHROOM, "Bed_to_Toilet")
        plan.add(rng.uniform(0.3, 0.8), Place.HALL, "Bed_to_Toilet")
    plan.until(plan.at(wake_h), Place.BEDROOM, "Sleep")


def _plan_morning(plan: _Planner, rng: random.Random, p: ResidentProfile) -> None:
    """Getting up, washing (a shower some days) and breakfast."""
    plan.add(rng.uniform(1.0, 4.0), Place.BEDROOM, "Wake")
    if rng.random() < 0.4:
        # A shower day: washing and the shower together take about as long as a wash.
        plan.add(rng.uniform(4.0, 8.0), Place.BATHROOM, "Personal_Hygiene")
        plan.add(rng.uniform(6.0, 10.0), Place.BATHROOM, "Shower")
    else:
        plan.add(rng.uniform(8.0, 18.0), Place.BATHROOM, "Personal_Hygiene")
    plan.add(p.breakfast_min * rng.uniform(0.3, 0.5), Place.KITCHEN, "Meal_Preparation")
    plan.add(p.breakfast_min * rng.uniform(0.5, 0.7), Place.KITCHEN, "Eat")


def _agenda(
    rng: random.Random, p: ResidentProfile, weekend: bool, bed_h: float
) -> list[tuple[float, str, float]]:
    """The day's fixed points, sorted: (local hour, what, minutes)."""
    agenda: list[tuple[float, str, float]] = []
    if rng.random() < (p.outing_weekend_p if weekend else p.outing_weekday_p):
        starts = [rng.uniform(*p.outing_start_h)]
        starts += [rng.uniform(14.0, 19.5) for _ in range(_poisson(rng, p.outings_extra))]
        for start in starts:
            minutes = 60.0 * min(5.0, rng.expovariate(1.0 / p.outing_mean_h))
            # Home again an hour and a half before bed at the latest.
            minutes = min(minutes, 60.0 * (min(bed_h, 24.0) - 1.5 - start))
            agenda.append((start, "outing", max(minutes, 10.0)))
    lunch_h = rng.gauss(p.lunch_h, p.meal_sd_h)
    agenda.append((lunch_h, "lunch", rng.uniform(35, 60)))
    if rng.random() < p.nap_p:
        agenda.append((lunch_h + 1.0, "nap", rng.expovariate(1.0 / p.nap_mean_min) + 20.0))
    if rng.random() < p.visitor_p:
        agenda.append((rng.uniform(15.0, 17.5), "visitor", rng.uniform(30, 90)))
    agenda.append((rng.gauss(p.dinner_h, p.meal_sd_h), "dinner", rng.uniform(40, 70)))
    agenda.sort()
    return agenda


def _play_agenda(
    plan: _Planner,
    rng: random.Random,
    p: ResidentProfile,
    agenda: list[tuple[float, str, float]],
    evening_end: float,
) -> float:
    """Each fixed point in turn, with free time before it; returns the last toilet visit."""
    last_bathroom = plan.now
    for hour, what, minutes in agenda:
        target = max(plan.at(hour), plan.now)
        if target >= plan.at(evening_end) - 1800:
            if what in ("lunch", "dinner") and plan.now < plan.at(evening_end) - 900:
                # Home late from an outing: a quick bite before bed, not no meal.
                plan.add(10.0, Place.KITCHEN, "Eat")
            continue
        last_bathroom = _fill(plan, rng, target, p, last_bathroom)
        if what == "outing":
            plan.add(rng.uniform(1.0, 3.0), Place.HALL, "Leave_Home")
            plan.add(minutes, Place.OUT, "Out")
            plan.add(rng.uniform(1.0, 3.0), Place.HALL, "Enter_Home")
        elif what == "visitor":
            plan.add(minutes, Place.LIVING, "Visitor", visitor=True)
        elif what == "nap":
            # A nap is mostly in the armchair; now and then she lies down on the bed.
            place = Place.BEDROOM if rng.random() < 0.25 else Place.LIVING
            plan.add(minutes, place, "Nap")
        else:
            plan.add(minutes * 0.5, Place.KITCHEN, "Meal_Preparation")
            plan.add(minutes * 0.4, Place.KITCHEN, "Eat")
            plan.add(minutes * 0.1, Place.KITCHEN, "Wash_Dishes")
    return last_bathroom


def _fill(
    plan: _Planner, rng: random.Random, until: float, p: ResidentProfile, last_bathroom: float
) -> float:
    """Free time until `until`: bouts in the armchair between short trips; returns last toilet.

    Every bout in the chair ends with getting up (a trip elsewhere), as real mats show.
    """
    sit_rate = p.sit_moves_per_h / 60.0
    sat_last = False
    while plan.now < until - 60:
        left = (until - plan.now) / 60.0
        if plan.now - last_bathroom > p.bathroom_every_h * 3600.0 * rng.uniform(0.6, 1.2):
            plan.add(0.5, Place.HALL, "Toilet")
            plan.add(min(left, rng.uniform(0.6, 1.4) * p.bathroom_min), Place.BATHROOM, "Toilet")
            last_bathroom = plan.now
            sat_last = False
            continue
        before_noon = (plan.now - plan.midnight) < 12 * 3600.0
        share = p.sit_share * (p.sit_morning_factor if before_noon else 1.0)
        if not sat_last and rng.random() < share:
            minutes = min(left, max(3.0, _lognormal_min(rng, p.sit_median_min, p.sit_spread)))
            if rng.random() < p.off_mat_share:
                # On the sofa or the bedroom chair: as still, but no mat says she is there.
                place = Place.LIVING if rng.random() < 0.5 else Place.BEDROOM
                plan.add(minutes, place, "Read", rate=sit_rate)
            else:
                plan.add(minutes, Place.LIVING, "TV", rate=sit_rate)
            sat_last = True
            continue
        sat_last = False
        pick = rng.random()
        if pick < 0.35:
            plan.add(min(left, rng.uniform(3.0, 10.0)), Place.KITCHEN, "Tea")
        elif pick < 0.55:
            plan.add(min(left, rng.uniform(2.0, 10.0)), Place.BEDROOM, "Potter")
        else:
            plan.add(min(left, _lognormal_min(rng, 12.0, 0.6)), Place.LIVING, "Potter")
    plan.until(until, Place.LIVING, "Potter")
    return last_bathroom


def plan_days(
    profile: ResidentProfile, start: date, days: int, tz: ZoneInfo
) -> Iterator[tuple[int, list[Segment]]]:
    """Plan `days` consecutive days from `start`; yields (day index, segments)."""
    for i in range(days):
        yield i, plan_day(profile, start + timedelta(days=i), tz, i)
