"""A simulated home side by side with a real one: silences, nights, events, outings, KS distances.

The simulated home gets the real home's sensors (`layout_like`) and a resident whose handful of
habits (sleep, sitting, outings, night visits) are fitted to the real one (`fit_profile`), so a
figure that differs says the model of how people live is off, not that the kits differ.
Silences are counted two ways: motion only, and "no sign of life at all" (motion, doors, mats,
appliances); time out of the home (between two front-door events) is no silence.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

import numpy as np
from scipy.stats import chi2, ks_2samp

from mehr.contract import SensorKind
from simulators.home import (
    HomeLayout,
    HomeSimulator,
    SensorEvent,
    SensorPhysics,
    SimKind,
    SimSensor,
    appliance_like,
)
from simulators.ordonez import Activation, RecordedHome
from simulators.resident import ResidentProfile

__all__ = [
    "BLOCKS",
    "THRESHOLDS_MIN",
    "Figures",
    "activations_of",
    "calibrate_off_mat",
    "calibrate_sitting",
    "compare",
    "figures",
    "fit_profile",
    "format_table",
    "layout_like",
    "simulate_like",
]

DAY = 86400.0
# Time-of-day blocks (local hours) in which a silence starts.
BLOCKS: tuple[tuple[str, float, float], ...] = (
    ("night", 0.0, 6.0),
    ("morning", 6.0, 12.0),
    ("afternoon", 12.0, 18.0),
    ("evening", 18.0, 24.0),
)
THRESHOLDS_MIN: tuple[int, ...] = (30, 60, 120)
# An outing: a quiet spell of at least this long with the front door at both ends.
_OUTING_MIN_S = 10 * 60.0
_DOOR_SLACK_S = 5 * 60.0
# Gaps shorter than this are not compared by KS (they are the texture of moving about).
_KS_MIN_GAP_MIN = 5.0


def activations_of(events: Iterable[SensorEvent]) -> list[Activation]:
    """Pair each sensor's on/off edges into intervals (motion, doors, mats, appliances)."""
    kinds: dict[SensorKind, SimKind] = {
        SensorKind.MOTION: "motion",
        SensorKind.DOOR: "door",
        SensorKind.OCCUPANCY: "occupancy",
        SensorKind.APPLIANCE: "appliance",
    }
    opened: dict[str, tuple[float, SimKind, str]] = {}
    out: list[Activation] = []
    for ev in events:
        kind = kinds.get(ev.kind)
        if kind is None or ev.bounce:
            continue
        on = ev.value is True or ev.value == "open"
        if on:
            opened.setdefault(ev.sensor, (ev.t, kind, ev.room))
        elif ev.sensor in opened:
            out.append(Activation(opened.pop(ev.sensor)[0], ev.t, ev.sensor, kind, ev.room))
    # Still on when the events end: an instant at its start.
    out += [Activation(t, t, s, kind, room) for s, (t, kind, room) in opened.items()]
    out.sort(key=lambda a: a.start)
    return out


def _merge(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _gaps(covered: list[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    """Uncovered stretches of [lo, hi)."""
    out: list[tuple[float, float]] = []
    t = lo
    for a, b in covered:
        if b <= t:
            continue
        if a > t:
            out.append((t, min(a, hi)))
        t = max(t, b)
        if t >= hi:
            break
    if t < hi:
        out.append((t, hi))
    return [(a, b) for a, b in out if b > a]


def _outings(acts: Sequence[Activation], lo: float, hi: float) -> list[tuple[float, float]]:
    """Quiet spells of >= 10 min with a front-door event at both ends: she was out."""
    doors = [a for a in acts if a.kind == "door"]
    if not doors:
        return []
    ends = np.array(sorted(a.end for a in doors))
    starts = np.array(sorted(a.start for a in doors))
    life = _merge((a.start, a.end) for a in acts)
    out = []
    for a, b in _gaps(life, lo, hi):
        if b - a < _OUTING_MIN_S or a <= lo or b >= hi:
            continue
        i = np.searchsorted(ends, a, side="right")
        j = np.searchsorted(starts, b, side="left")
        door_before = i > 0 and a - ends[i - 1] <= _DOOR_SLACK_S
        door_after = j < len(starts) and starts[j] - b <= _DOOR_SLACK_S
        if door_before and door_after:
            out.append((a, b))
    return out


@dataclass
class Figures:
    """What compare prints for one home (per day unless named otherwise)."""

    days: int
    motion_silences: dict[tuple[str, int], float] = field(default_factory=dict)
    life_silences: dict[tuple[str, int], float] = field(default_factory=dict)
    longest_night_silence_h: float = 0.0
    events_per_hour: float = 0.0
    visits_per_hour: float = 0.0
    outings_per_day: float = 0.0
    # Gap lengths (minutes) by block, for the KS distances.
    motion_gaps: dict[str, list[float]] = field(default_factory=dict)
    life_gaps: dict[str, list[float]] = field(default_factory=dict)


def _block(t: float) -> str:
    hour = (t % DAY) / 3600.0
    return next(name for name, a, b in BLOCKS if a <= hour < b)


def figures(acts: Sequence[Activation], lo: float, hi: float) -> Figures:
    """The compare figures of activations over whole local days [lo, hi) (local-time seconds)."""
    days = round((hi - lo) / DAY)
    inside = [a for a in acts if a.end > lo and a.start < hi]
    outings = _outings(inside, lo, hi)
    result = Figures(days)
    for name, kinds in (("motion", {"motion"}), ("life", {"motion", "door", "occupancy",
                                                          "appliance"})):
        covered = _merge([(a.start, a.end) for a in inside if a.kind in kinds] + outings)
        gaps = _gaps(covered, lo, hi)
        counts = result.motion_silences if name == "motion" else result.life_silences
        lengths = result.motion_gaps if name == "motion" else result.life_gaps
        for block, _, _ in BLOCKS:
            in_block = [(b - a) / 60.0 for a, b in gaps if _block(a) == block]
            lengths[block] = [m for m in in_block if m >= _KS_MIN_GAP_MIN]
            for threshold in THRESHOLDS_MIN:
                counts[(block, threshold)] = sum(m >= threshold for m in in_block) / days
        if name == "motion":
            nightly = []
            for d in range(days):
                night_lo, night_hi = lo + d * DAY, lo + d * DAY + 6 * 3600.0
                over = [b - a for a, b in gaps if a < night_hi and b > night_lo]
                nightly.append(max(over, default=0.0) / 3600.0)
            result.longest_night_silence_h = statistics.median(nightly) if nightly else 0.0
    result.events_per_hour = sum(lo <= a.start < hi for a in inside) / (days * 24.0)
    result.visits_per_hour = _visits(inside, lo, hi) / (days * 24.0)
    result.outings_per_day = len(outings) / days
    return result


def _visits(acts: Sequence[Activation], lo: float, hi: float) -> int:
    """Activations with each sensor's re-triggers less than 5 min apart joined into one visit.

    PIRs differ in hold time (8 s for an HC-SR501, minutes for some kits), which changes the
    raw event count but not how the resident lives; visits compare the resident.
    """
    by_sensor: dict[str, list[tuple[float, float]]] = {}
    for a in acts:
        by_sensor.setdefault(a.sensor, []).append((a.start, a.end + 300.0))
    return sum(lo <= a < hi for spans in by_sensor.values() for a, _ in _merge(spans))


def whole_days(acts: Sequence[Activation]) -> tuple[float, float]:
    """The first and last local midnight inside a recording (only whole days are compared)."""
    first = min(a.start for a in acts)
    last = max(a.end for a in acts)
    lo = math.ceil(first / DAY) * DAY
    hi = math.floor(last / DAY) * DAY
    if hi <= lo:
        raise ValueError("the recording holds no whole day")
    return lo, hi


# Spot sensors of the real homes, by the object they watch: what a PIR aimed there sees.
_SPOT_SEES: dict[str, tuple[str, ...]] = {
    "shower": ("Shower",),
    "basin": ("Personal_Hygiene", "Toilet", "Bed_to_Toilet", "Shower"),
    "cooktop": ("Meal_Preparation",),
}
_CONTACT_USES: dict[str, tuple[tuple[str, ...], float, tuple[float, float]]] = {
    "fridge": (("Meal_Preparation", "Tea", "Eat"), 0.6, (5.0, 40.0)),
    "cupboard": (("Meal_Preparation", "Wash_Dishes"), 0.5, (5.0, 30.0)),
    "cabinet": (("Personal_Hygiene",), 0.5, (5.0, 15.0)),
    "microwave": (("Meal_Preparation",), 0.5, (60.0, 240.0)),
    "toaster": (("Meal_Preparation",), 0.4, (120.0, 240.0)),
}


def layout_like(home: RecordedHome, home_id: str = "sim-home") -> HomeLayout:
    """A simulated kit with the real home's sensors: spot and doorway PIRs, mats, appliances."""
    from simulators.home import _assign_places

    sensors: list[SimSensor] = []
    for sensor_id, (kind, room) in sorted(home.sensors().items()):
        thing = sensor_id.split("-")[0]
        # A house's main door is in its entrance; the simulator's front door is in the hall.
        sim = SimSensor(sensor_id, kind, "Hall" if room.lower() == "entrance" else room)
        if kind == "motion" and thing in _SPOT_SEES:
            sim = replace(sim, sees=_SPOT_SEES[thing])
        elif kind == "motion" and thing == "door":
            # Mounted at a doorway, it also catches the near part of the room now and then.
            sim = replace(sim, doorway=True, coverage=0.05)
        elif kind == "appliance" and thing in _CONTACT_USES:
            sees, use_p, use_s = _CONTACT_USES[thing]
            sim = replace(sim, sees=sees, use_p=use_p, use_s=use_s)
        elif kind == "appliance":
            sim = appliance_like(sim)
        sensors.append(sim)
    return HomeLayout(home_id, f"{home_id}-kit", _assign_places(sensors), "UTC")


def fit_profile(home: RecordedHome, seed: int = 0) -> ResidentProfile:
    """A resident with the real one's habits, from its sensors only: sleep (time and spread),
    night visits, sitting (median, spread, share), outings (how often, how many, how long, when).
    """
    acts = home.activations
    lo, hi = whole_days(acts)
    days = (hi - lo) / DAY
    base = ResidentProfile(seed=seed)
    beds = [a for a in acts if a.kind == "occupancy" and "bed" in a.sensor]
    # A night is the bed occupied for 3 h or more, counting a trip to the toilet (the bed left
    # for under 90 min) as part of it.
    joined = _merge((a.start, a.end + 90 * 60.0) for a in beds)
    nights = [
        Activation(a, b - 90 * 60.0, "bed", "occupancy", "")
        for a, b in joined
        if b - 90 * 60.0 - a >= 3 * 3600.0
    ]
    changes: dict[str, float] = {}
    if nights:
        # Hours after local noon, so 01:30 is 25.5 and a bed time never wraps.
        bed = [((a.start - 12 * 3600.0) % DAY) / 3600.0 + 12.0 for a in nights]
        wake = [(a.end % DAY) / 3600.0 for a in nights]
        changes["bed_h"] = statistics.median(bed)
        changes["wake_h"] = statistics.median(wake)
        changes["bed_sd_h"] = min(1.5, statistics.pstdev(bed))
        changes["wake_sd_h"] = min(1.5, statistics.pstdev(wake))
        # Night visits: the bed left and taken again within 90 minutes during the night.
        ordered = sorted(beds, key=lambda a: a.start)
        returns = sum(
            0 < b.start - a.end < 90 * 60.0 for a, b in itertools.pairwise(ordered)
        )
        changes["night_visits"] = returns / len(nights)
    seats = [a.end - a.start for a in acts if a.kind == "occupancy" and "bed" not in a.sensor]
    seats = [s / 60.0 for s in seats if s >= 60.0]
    if len(seats) >= 5:
        logs = np.log(seats)
        median = float(np.exp(np.median(logs)))
        spread = float(np.std(logs))
        changes["sit_median_min"] = median
        changes["sit_spread"] = spread
        # Share of free-time activities that are sitting: from the hours seated a day and the
        # hours awake at home left after meals, toilet and washing (about 3 h) and outings.
        out_h = sum(b - a for a, b in _outings(acts, lo, hi)) / 3600.0 / days
        free_h = max(2.0, 24.0 - _sleep_h(changes, base) - 3.0 - out_h)
        seated_share = min(0.95, sum(seats) / 60.0 / days / free_h)
        mean_sit = median * math.exp(spread**2 / 2)
        mean_trip = 9.5  # minutes: the filler's mix of kitchen, bedroom and pottering
        share = seated_share * mean_trip / (mean_sit * (1 - seated_share) + 1e-9)
        changes["sit_share"] = min(0.95, max(0.05, share))
    outings = _outings(acts, lo, hi)
    if outings:
        out_days = {int((a - lo) // DAY) for a, _ in outings}
        p = len(out_days) / days
        changes["outing_weekday_p"] = p
        changes["outing_weekend_p"] = p
        changes["outings_extra"] = max(0.0, len(outings) / len(out_days) - 1.0)
        changes["outing_mean_h"] = statistics.mean(b - a for a, b in outings) / 3600.0
        # Outings start around when hers did (the median start).
        first_h = statistics.median(sorted((a % DAY) / 3600.0 for a, _ in outings))
        window = (max(6.0, first_h - 2.0), min(20.0, first_h + 2.0))
        return replace(_with(base, changes), outing_start_h=window)
    return _with(base, changes)


def _seat_bouts(acts: Sequence[Activation]) -> tuple[list[float], float]:
    """Armchair bouts (minutes, >= 1) and the hours seated in all, from the seat mats."""
    bouts = [
        (a.end - a.start) / 60.0
        for a in acts
        if a.kind == "occupancy" and "bed" not in a.sensor and a.end - a.start >= 60.0
    ]
    return bouts, sum(bouts) / 60.0


def calibrate_sitting(
    home: RecordedHome, profile: ResidentProfile, rounds: int = 3, days: int = 30
) -> ResidentProfile:
    """Adjust the sitting habits until the simulated mat shows the recorded bouts and hours.

    The planner cuts bouts at meals and outings, so the habit's median is longer than the
    median bout a mat records; simulating and scaling removes that bias.
    """
    real_bouts, real_hours = _seat_bouts(home.activations)
    lo, hi = whole_days(home.activations)
    if len(real_bouts) < 5:
        return profile
    real_median = statistics.median(real_bouts)
    real_per_day = real_hours / ((hi - lo) / DAY)
    layout = layout_like(home)
    for _ in range(rounds):
        sim = HomeSimulator(layout, profile, SensorPhysics(), start=date(2026, 3, 2))
        bouts, hours = _seat_bouts(activations_of(sim.days(days)))
        if len(bouts) < 5 or hours <= 0:
            break
        median_ratio = real_median / statistics.median(bouts)
        hours_ratio = real_per_day / (hours / days)
        profile = replace(
            profile,
            sit_median_min=min(600.0, profile.sit_median_min * median_ratio),
            sit_share=min(0.95, max(0.05, profile.sit_share * hours_ratio / median_ratio)),
        )
    return calibrate_off_mat(home, profile, rounds, days)


_DAY_BLOCKS = ("morning", "afternoon", "evening")


def _quiet_daytime(fig: Figures) -> float:
    return sum(fig.life_silences[(b, 30)] for b in _DAY_BLOCKS)


def calibrate_off_mat(
    home: RecordedHome, profile: ResidentProfile, rounds: int = 3, days: int = 30
) -> ResidentProfile:
    """Set how often she sits where no mat feels her from the home's quiet daytime spells.

    A daytime spell of 30 min with no sign of life at all, at home, is someone sitting out of
    every sensor's sight (a sofa without a mat, a chair in the bedroom).
    """
    lo, hi = whole_days(home.activations)
    target = _quiet_daytime(figures(home.activations, lo, hi))
    if target <= 0:
        return profile
    layout = layout_like(home)
    share = max(profile.off_mat_share, 0.1)
    for _ in range(rounds):
        trial = replace(profile, off_mat_share=share)
        sim = HomeSimulator(layout, trial, SensorPhysics(), start=date(2026, 3, 2))
        acts = activations_of(sim.days(days + 1))
        got = _quiet_daytime(figures(acts, sim.day_start(1), sim.day_start(days + 1)))
        share = min(0.9, share * target / got) if got > 0 else min(0.9, share * 2.0)
    return replace(profile, off_mat_share=share)


def _with(base: ResidentProfile, changes: dict[str, float]) -> ResidentProfile:
    """The profile with fitted float habits set (names are ResidentProfile's fields)."""
    return replace(base, **changes)  # type: ignore[arg-type]  # every key is a float field


def _sleep_h(changes: dict[str, float], base: ResidentProfile) -> float:
    return (changes.get("wake_h", base.wake_h) - changes.get("bed_h", base.bed_h)) % 24


def simulate_like(
    home: RecordedHome, seed: int = 0, days: int | None = None, fit: bool = True
) -> tuple[list[Activation], float, float, ResidentProfile]:
    """Simulate a home like `home` for as many whole days (or `days`); return its activations."""
    lo, hi = whole_days(home.activations)
    count = days or round((hi - lo) / DAY)
    layout = layout_like(home)
    profile = calibrate_sitting(home, fit_profile(home, seed)) if fit else ResidentProfile(
        seed=seed
    )
    start = datetime.fromtimestamp(lo, UTC).date()
    # One warm-up day before the compared ones, so the first night starts as a night does.
    sim = HomeSimulator(layout, profile, SensorPhysics(), start=date.fromordinal(
        start.toordinal() - 1))
    events = list(sim.days(count + 1))
    sim_lo = lo
    return activations_of(events), sim_lo, sim_lo + count * DAY, profile


@dataclass(frozen=True)
class Row:
    """One line of the comparison."""

    figure: str
    real: float
    sim: float
    note: str = ""
    # For counts per day: how many the real home had, over how many days (for the noise test).
    real_count: int | None = None
    real_days: int = 0

    @property
    def ratio(self) -> float | None:
        """Simulated over real (None when the real figure is zero)."""
        return self.sim / self.real if self.real else None

    @property
    def within(self) -> bool:
        """True when the simulated figure is within ±30 % of the real one (or both are ~0)."""
        if self.real == 0:
            return abs(self.sim) < 0.05
        return abs(self.sim / self.real - 1.0) <= 0.30

    @property
    def within_noise(self) -> bool:
        """For a count: the simulated rate is inside the real count's 95 % Poisson interval.

        Two silences in 21 days cannot pin a rate to ±30 %: 0.03-0.26 a day are all as likely.
        """
        if self.real_count is None or not self.real_days:
            return False
        n = self.real_count
        low = 0.0 if n == 0 else float(chi2.ppf(0.025, 2 * n)) / 2.0
        high = float(chi2.ppf(0.975, 2 * n + 2)) / 2.0
        return low <= self.sim * self.real_days <= high


def compare(real: Figures, sim: Figures) -> list[Row]:
    """Rows of figures, real against simulated, with KS distances per block."""
    rows: list[Row] = []
    for label, r_counts, s_counts in (
        ("motion-only silences", real.motion_silences, sim.motion_silences),
        ("no-sign-of-life silences", real.life_silences, sim.life_silences),
    ):
        for block, _, _ in BLOCKS:
            for threshold in THRESHOLDS_MIN:
                key = (block, threshold)
                count = round(r_counts[key] * real.days)
                rows.append(Row(f"{label} >= {threshold} min, {block} /day", r_counts[key],
                                s_counts[key], real_count=count, real_days=real.days))
    rows.append(Row("longest night motion silence (median, h)", real.longest_night_silence_h,
                    sim.longest_night_silence_h))
    rows.append(Row("events per hour", real.events_per_hour, sim.events_per_hour))
    rows.append(Row("sensor visits per hour (re-triggers < 5 min joined)", real.visits_per_hour,
                    sim.visits_per_hour))
    rows.append(Row("outings per day", real.outings_per_day, sim.outings_per_day,
                    real_count=round(real.outings_per_day * real.days), real_days=real.days))
    for label, r_gaps, s_gaps in (
        ("motion", real.motion_gaps, sim.motion_gaps),
        ("life", real.life_gaps, sim.life_gaps),
    ):
        for block, _, _ in BLOCKS:
            a, b = r_gaps[block], s_gaps[block]
            if len(a) >= 3 and len(b) >= 3:
                test = ks_2samp(a, b)
                note = f"n={len(a)}/{len(b)} p={float(test.pvalue):.2f}"
                rows.append(Row(f"KS D {label} gaps >= 5 min, {block}", float(test.statistic),
                                float("nan"), note))
            else:
                rows.append(Row(f"KS D {label} gaps >= 5 min, {block}", float("nan"),
                                float("nan"), f"too few gaps (n={len(a)}/{len(b)})"))
    return rows


def format_table(rows: Sequence[Row], real_name: str, sim_name: str) -> str:
    """A Markdown table (what docs/simulators.md shows)."""
    lines = [
        f"| figure | {real_name} | {sim_name} | sim/real | within ±30 % |",
        "|---|---:|---:|---:|:--:|",
    ]
    # "noise": outside ±30 %, but the real home had too few for the rate to be known that well
    # (the simulated rate is inside the real count's 95 % Poisson interval).
    for row in rows:
        if row.figure.startswith("KS D"):
            lines.append(f"| {row.figure} | D = {row.real:.2f} |  |  | {row.note} |")
            continue
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "–"
        mark = "yes" if row.within else ("noise" if row.within_noise else "**no**")
        count = f" ({row.real_count})" if row.real_count is not None else ""
        lines.append(
            f"| {row.figure} | {row.real:.2f}{count} | {row.sim:.2f} | {ratio} | {mark} |"
        )
    return "\n".join(lines)
