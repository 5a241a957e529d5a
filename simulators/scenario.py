"""Scenario files: homes, days, incidents and the alerts expected (kind, home, deadline).

A scenario is YAML validated strictly (a typo is an error naming the field). `build()` turns it
into simulated homes and incidents with UTC times; `judge()` compares the alerts a hub raised
with the expectations. Running one end to end (broker + hub) is mehr_app.scenario_runner's job.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from mehr.configfile import StrictModel, load_model
from mehr.contract import ID_PATTERN
from simulators.accel import FALL_KINDS
from simulators.home import HomeLayout, HomeSimulator, SensorPhysics
from simulators.incidents import EXPECTED_ALERT, Incident, IncidentKind
from simulators.resident import Place, ResidentProfile

__all__ = [
    "CAPABILITIES",
    "AlertSeen",
    "BuiltScenario",
    "Expectation",
    "Outcome",
    "Scenario",
    "Verdict",
    "build",
    "judge",
    "load_scenario",
]

# What a hub must be able to do for a scenario to be meaningful. "event_rules": help button and
# digital fall sensor alerts; "accel_classification": falls from accelerometer windows;
# "inactivity_scan": unusual_inactivity, not_up, long_bathroom, night_wandering, not_back;
# "kit_offline" and "area_outage": the alert engine's availability rules.
Capability = Literal[
    "event_rules", "accel_classification", "inactivity_scan", "kit_offline", "area_outage"
]
CAPABILITIES: tuple[str, ...] = (
    "event_rules",
    "accel_classification",
    "inactivity_scan",
    "kit_offline",
    "area_outage",
)


class ProfileOverrides(StrictModel):
    """Resident habits that differ from the defaults (see simulators.resident)."""

    wake_h: float | None = Field(default=None, ge=3, le=12)
    bed_h: float | None = Field(default=None, ge=19, le=24)
    night_visits: float | None = Field(default=None, ge=0, le=10)
    outing_weekday_p: float | None = Field(default=None, ge=0, le=1)
    outing_weekend_p: float | None = Field(default=None, ge=0, le=1)
    visitor_p: float | None = Field(default=None, ge=0, le=1)
    sit_median_min: float | None = Field(default=None, gt=0, le=600)
    sit_share: float | None = Field(default=None, ge=0, le=1)
    nap_p: float | None = Field(default=None, ge=0, le=1)
    drift_wake_min_per_week: float | None = None
    drift_night_visits_per_week: float | None = None


class PhysicsOverrides(StrictModel):
    """Sensor physics that differ from the defaults (see simulators.home.SensorPhysics)."""

    pir_miss_p: float | None = Field(default=None, ge=0, le=1)
    door_bounce_p: float | None = Field(default=None, ge=0, le=1)
    dropouts_per_sensor_30d: float | None = Field(default=None, ge=0)
    clock_offset_s: float | None = None
    clock_drift_ppm: float | None = None
    adl_windows_per_day: float | None = Field(default=None, ge=0, le=20)
    adl_kinds: (
        tuple[Literal["sit_down_hard", "stumble", "small_jump", "lie_down_quickly"], ...] | None
    ) = None


class HomeEntry(StrictModel):
    """One home (or `count` alike homes, ids suffixed -01, -02, ...)."""

    id: str = Field(pattern=ID_PATTERN.pattern, description="Home id.")
    kit: str = Field(pattern=ID_PATTERN.pattern, description="Kit id.")
    kit_config: Path | None = Field(
        default=None, description="A kit YAML (relative to the scenario) for rooms and sensors."
    )
    accelerometer: bool = Field(default=True, description="Standard layout: a worn sensor.")
    occupancy: bool = Field(
        default=False,
        description="Standard layout: pressure mats under the armchair and the bed, and a "
        "toilet flush.",
    )
    mahalla: str = Field(default="", max_length=200)
    count: int = Field(default=1, ge=1, le=1000, description="Alike homes (an area).")
    profile: ProfileOverrides = Field(default_factory=ProfileOverrides)
    physics: PhysicsOverrides = Field(default_factory=PhysicsOverrides)


class IncidentEntry(StrictModel):
    """One incident at a home (or at every home of a mahalla, for an area outage)."""

    kind: IncidentKind
    home: str | None = Field(default=None, description="Home id (one of `homes`).")
    mahalla: str | None = Field(default=None, description="Every home of this mahalla.")
    day: int = Field(ge=0, description="Day index from the scenario start (0 = first day).")
    time: str = Field(pattern=r"^\d{1,2}:\d{2}$", description="Local time, HH:MM.")
    duration_minutes: float = Field(default=180, gt=0, le=7 * 24 * 60)
    place: Place | None = None
    fall_kind: str = "fall_forward"
    via: Literal["accelerometer", "fall_sensor", "both"] = "accelerometer"

    @field_validator("fall_kind")
    @classmethod
    def _known_fall(cls, value: str) -> str:
        if value not in FALL_KINDS:
            raise ValueError(f"expected one of {', '.join(FALL_KINDS)}")
        return value

    @model_validator(mode="after")
    def _target(self) -> IncidentEntry:
        if (self.home is None) == (self.mahalla is None):
            raise ValueError("give exactly one of home or mahalla")
        return self


class ExpectEntry(StrictModel):
    """An alert that must be raised: kind, home, and by when after its incident began."""

    kind: str = Field(description="Alert kind, e.g. fall, help_button, not_up.")
    home: str | None = Field(default=None, description="Home id; omitted: any home.")
    incident: int | None = Field(
        default=None, ge=0, description="Index in `incidents` (default: the first that fits)."
    )
    within_minutes: float = Field(gt=0, description="Deadline after the incident began.")


class Scenario(StrictModel):
    """A whole scenario file."""

    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    start: date = Field(default=date(2026, 3, 2), description="Local date of day 0.")
    days: int = Field(ge=1, le=120)
    seed: int = 0
    step_minutes: float = Field(
        default=5,
        gt=0,
        le=60,
        description="Virtual clock step around incidents: the resolution of alert delays.",
    )
    quiet_step_minutes: float = Field(
        default=60,
        gt=0,
        le=360,
        description="Virtual clock step far from any incident (the hub still scans each step).",
    )
    heartbeat_s: float = Field(default=60, ge=5, le=3600, description="Kit heartbeat period.")
    requires: list[Capability] = Field(default_factory=list)
    homes: list[HomeEntry] = Field(min_length=1)
    incidents: list[IncidentEntry] = Field(default_factory=list)
    expect: list[ExpectEntry] = Field(default_factory=list)
    tolerate: list[str] = Field(
        default_factory=list,
        description="Alert kinds that may also appear while an incident lasts (not on other days).",
    )

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        ids = {h.id for h in self.homes}
        mahallas = {h.mahalla for h in self.homes}
        for i, inc in enumerate(self.incidents):
            if inc.home is not None and inc.home not in ids:
                raise ValueError(f"incidents.{i}.home: {inc.home!r} is not one of the homes")
            if inc.mahalla is not None and inc.mahalla not in mahallas:
                raise ValueError(f"incidents.{i}.mahalla: no home is in {inc.mahalla!r}")
            if inc.day >= self.days:
                raise ValueError(f"incidents.{i}.day: {inc.day} is past the last day")
        for i, exp in enumerate(self.expect):
            if exp.incident is not None and exp.incident >= len(self.incidents):
                raise ValueError(f"expect.{i}.incident: there is no incident {exp.incident}")
        return self


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file (ConfigError naming file and field on a mistake)."""
    return load_model(path, Scenario)


@dataclass
class Expectation:
    """An expected alert with its absolute deadline (UTC seconds)."""

    kind: str
    home: str | None
    incident_at: float
    deadline: float
    within_minutes: float


@dataclass
class BuiltScenario:
    """A scenario made concrete: simulators per home, incidents, expectations."""

    scenario: Scenario
    homes: dict[str, HomeSimulator]
    incidents: list[Incident]
    expectations: list[Expectation]
    start_utc: float
    end_utc: float

    @property
    def layouts(self) -> list[HomeLayout]:
        """Every home's layout."""
        return [sim.layout for sim in self.homes.values()]


def _kit_layout(entry: HomeEntry, base: Path, home_id: str, kit_id: str) -> HomeLayout:
    if entry.kit_config is None:
        return HomeLayout.standard(
            home_id,
            kit_id,
            accelerometer=entry.accelerometer,
            occupancy=entry.occupancy,
            mahalla=entry.mahalla,
        )
    from edge.config import load_kit_config

    config = load_kit_config(
        entry.kit_config if entry.kit_config.is_absolute() else base / entry.kit_config
    )
    layout = HomeLayout.from_kit_config(config, mahalla=entry.mahalla)
    return HomeLayout(home_id, kit_id, layout.sensors, layout.timezone, "", entry.mahalla)


def build(scenario: Scenario, base: Path = Path()) -> BuiltScenario:
    """Make a scenario concrete; `base` is the directory relative paths are taken from."""
    layouts: list[tuple[HomeEntry, HomeLayout]] = []
    for entry in scenario.homes:
        for i in range(entry.count):
            suffix = f"-{i + 1:02d}" if entry.count > 1 else ""
            layouts.append((entry, _kit_layout(entry, base, entry.id + suffix, entry.kit + suffix)))
    tz = ZoneInfo(layouts[0][1].timezone)

    def at(day: int, hhmm: str) -> float:
        h, m = (int(x) for x in hhmm.split(":"))
        moment = datetime.combine(scenario.start + timedelta(days=day), time(h, m), tzinfo=tz)
        return moment.timestamp()

    incidents: list[Incident] = []
    by_entry: list[list[Incident]] = []
    for n, inc in enumerate(scenario.incidents):
        targets = [
            lay.home_id
            for entry, lay in layouts
            if (inc.home is not None and entry.id == inc.home)
            or (inc.mahalla is not None and entry.mahalla == inc.mahalla)
        ]
        made = [
            Incident(
                inc.kind,
                home,
                at(inc.day, inc.time),
                inc.duration_minutes * 60.0,
                inc.place,
                inc.fall_kind,
                inc.via,
                seed=scenario.seed * 1000 + n,
            )
            for home in targets
        ]
        by_entry.append(made)
        incidents += made

    homes: dict[str, HomeSimulator] = {}
    for entry, lay in layouts:
        profile = ResidentProfile(
            seed=zlib.crc32(f"{scenario.seed}:{lay.home_id}".encode()),
            **entry.profile.model_dump(exclude_none=True),
        )
        physics = SensorPhysics(**entry.physics.model_dump(exclude_none=True))
        mine = [i for i in incidents if i.home_id == lay.home_id]
        homes[lay.home_id] = HomeSimulator(lay, profile, physics, scenario.start, mine)

    expectations = []
    for n, exp in enumerate(scenario.expect):
        group = (
            by_entry[exp.incident]
            if exp.incident is not None
            else next(
                (
                    g
                    for g, inc in zip(by_entry, scenario.incidents, strict=True)
                    if EXPECTED_ALERT[inc.kind] == exp.kind
                    and (
                        exp.home is None
                        or any(i.home_id == exp.home for i in g)
                        or inc.home == exp.home
                    )
                ),
                None,
            )
        )
        if not group:
            raise ValueError(f"expect.{n}: no incident raises {exp.kind!r} at {exp.home!r}")
        began = min(i.at for i in group)
        expectations.append(
            Expectation(
                exp.kind, exp.home, began, began + exp.within_minutes * 60.0, exp.within_minutes
            )
        )
    start = at(0, "00:00")
    return BuiltScenario(
        scenario, homes, incidents, expectations, start, start + scenario.days * 86_400.0
    )


@dataclass(frozen=True)
class AlertSeen:
    """An alert the hub raised (as read from its store or callback)."""

    kind: str
    home: str
    raised_at: float  # UTC seconds by the hub's clock


@dataclass
class Outcome:
    """One expectation and what was observed for it."""

    expectation: Expectation
    alert: AlertSeen | None

    @property
    def met(self) -> bool:
        """Raised in time."""
        return self.alert is not None and self.alert.raised_at <= self.expectation.deadline

    @property
    def delay_s(self) -> float | None:
        """Seconds from the incident to the alert."""
        return None if self.alert is None else self.alert.raised_at - self.expectation.incident_at


@dataclass
class Verdict:
    """Expected against observed for a whole scenario."""

    outcomes: list[Outcome]
    unexpected: list[AlertSeen] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every expectation met and nothing unexpected."""
        return all(o.met for o in self.outcomes) and not self.unexpected

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "passed": self.passed,
            "expected": [
                {
                    "kind": o.expectation.kind,
                    "home": o.expectation.home,
                    "within_minutes": o.expectation.within_minutes,
                    "observed": o.alert is not None,
                    "delay_minutes": None if o.delay_s is None else round(o.delay_s / 60, 2),
                    "met": o.met,
                }
                for o in self.outcomes
            ],
            "unexpected": [{"kind": a.kind, "home": a.home} for a in self.unexpected],
        }


def judge(built: BuiltScenario, alerts: list[AlertSeen]) -> Verdict:
    """Match alerts to expectations (first fitting alert at or after the incident)."""
    pool = sorted(alerts, key=lambda a: a.raised_at)
    used: set[int] = set()
    outcomes = []
    for exp in built.expectations:
        match = next(
            (
                i
                for i, a in enumerate(pool)
                if i not in used
                and a.kind == exp.kind
                and (exp.home is None or a.home == exp.home)
                and a.raised_at >= exp.incident_at
            ),
            None,
        )
        if match is not None:
            used.add(match)
        outcomes.append(Outcome(exp, pool[match] if match is not None else None))
    tolerated = set(built.scenario.tolerate)

    def tolerable(a: AlertSeen) -> bool:
        # Only while an incident at that home lasts (or until its deadline): a tolerated kind on
        # an ordinary day is still a false alarm.
        return a.kind in tolerated and any(
            inc.at <= a.raised_at <= max(inc.end, *deadlines.get(id(inc), [inc.end]))
            and (inc.home_id == a.home or a.home.startswith("area:"))
            for inc in built.incidents
        )

    deadlines: dict[int, list[float]] = {}
    for exp in built.expectations:
        for inc in built.incidents:
            if inc.at == exp.incident_at:
                deadlines.setdefault(id(inc), []).append(exp.deadline)
    unexpected = [a for i, a in enumerate(pool) if i not in used and not tolerable(a)]
    return Verdict(outcomes, unexpected)
