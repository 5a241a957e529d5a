"""A simulated home: rooms and sensors from a kit YAML, and sensor physics between resident and kit.

The resident model says where the person is; this module says what the kit would record:
PIR motion with its hold (re-trigger) and blind time and missed detections, door contacts that
bounce, batteries that run down, sensors that drop out, and a kit clock that is off and drifts.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from mehr.configfile import DEFAULT_TIME_ZONE
from mehr.contract import SensorKind
from simulators.resident import Place, ResidentProfile, Segment, local_midnight_utc, plan_day

if TYPE_CHECKING:
    from edge.config import KitConfig
    from simulators.incidents import Incident

__all__ = [
    "HomeLayout",
    "HomeSimulator",
    "SensorEvent",
    "SensorPhysics",
    "SimSensor",
    "debounce",
    "place_for_room",
    "window_start",
]

SimKind = Literal[
    "motion", "door", "help_button", "fall", "occupancy", "appliance", "accelerometer"
]

_PLACE_WORDS: tuple[tuple[Place, tuple[str, ...]], ...] = (
    (Place.BATHROOM, ("bath", "toilet", "wc", "shower", "hammom", "vann", "hojat")),
    (Place.KITCHEN, ("kitchen", "oshxona", "kuhn", "cook")),
    (Place.BEDROOM, ("bed", "yotoq", "sleep", "spal")),
    (
        Place.LIVING,
        ("living", "lounge", "sitting", "mehmon", "gostin", "dining", "chair", "sofa", "divan"),
    ),
    (Place.HALL, ("hall", "entr", "door", "corridor", "dahliz", "porch", "stair")),
)


def place_for_room(room: str) -> Place | None:
    """Guess which resident place a room name covers (None: a room the resident model lacks)."""
    name = room.lower()
    for place, words in _PLACE_WORDS:
        if any(w in name for w in words):
            return place
    return None


@dataclass(frozen=True)
class SimSensor:
    """One sensor of the simulated kit."""

    id: str
    kind: SimKind
    room: str
    # Places this sensor sees (a one-room flat's "room" PIR sees bed, kitchen and sitting area).
    places: tuple[Place, ...] = ()
    bounce_s: float = 0.05
    battery_days: float | None = None  # battery-powered: days from full to empty
    # Motion: the share of the resident's movements in its places that it sees (a PIR aimed at
    # the basin sees less of the bathroom than one on the ceiling), and, if given, the only
    # activities it sees (a cooktop PIR sees cooking). A doorway PIR sees only comings and goings.
    coverage: float = 1.0
    sees: tuple[str, ...] = ()
    doorway: bool = False
    # Appliance: the activities that use it, the chance per activity, how long it runs (s).
    use_p: float = 1.0
    use_s: tuple[float, float] = (20.0, 60.0)

    @property
    def contract_kind(self) -> SensorKind:
        """The kind this sensor's events carry on the wire."""
        return {
            "motion": SensorKind.MOTION,
            "door": SensorKind.DOOR,
            "help_button": SensorKind.HELP_BUTTON,
            "fall": SensorKind.FALL,
            "occupancy": SensorKind.OCCUPANCY,
            "appliance": SensorKind.APPLIANCE,
            "accelerometer": SensorKind.ACCEL_WINDOW,
        }[self.kind]


@dataclass(frozen=True)
class HomeLayout:
    """A home's kit: ids, time zone and sensors, as the kit YAML would have them."""

    home_id: str
    kit_id: str
    sensors: tuple[SimSensor, ...]
    timezone: str = DEFAULT_TIME_ZONE
    name: str = ""
    mahalla: str = ""

    @classmethod
    def from_kit_config(cls, config: KitConfig, name: str = "", mahalla: str = "") -> HomeLayout:
        """The layout of a real kit YAML (edge.config.KitConfig)."""
        sensors = []
        for s in config.sensors:
            if s.kind == "temperature":
                continue  # the simulated resident moves; room temperature is not simulated here
            bounce = float(getattr(s, "bounce_s", 0.0))
            sensor = SimSensor(s.id, s.kind, s.room, bounce_s=bounce)
            if s.kind == "appliance":
                sensor = appliance_like(sensor)
            sensors.append(sensor)
        return cls(
            config.home_id, config.kit_id, _assign_places(sensors), config.timezone, name, mahalla
        )

    @classmethod
    def standard(
        cls,
        home_id: str,
        kit_id: str,
        *,
        accelerometer: bool = True,
        occupancy: bool = False,
        timezone: str = DEFAULT_TIME_ZONE,
        name: str = "",
        mahalla: str = "",
    ) -> HomeLayout:
        """A typical flat: PIR in each room, the front door, a help button, a worn sensor.

        With `occupancy`: pressure mats under the armchair and the mattress, a toilet flush.
        """
        sensors = [
            SimSensor("pir-bed", "motion", "Bedroom"),
            SimSensor("pir-bath", "motion", "Bathroom"),
            SimSensor("pir-kitchen", "motion", "Kitchen"),
            SimSensor("pir-living", "motion", "Living room"),
            SimSensor("pir-hall", "motion", "Hallway"),
            SimSensor("door-front", "door", "Hallway"),
            SimSensor("help", "help_button", "Bedroom", battery_days=400.0),
            SimSensor("fall-bath", "fall", "Bathroom"),
        ]
        if occupancy:
            sensors += [
                SimSensor("mat-chair", "occupancy", "Living room"),
                SimSensor("mat-bed", "occupancy", "Bedroom"),
                appliance_like(SimSensor("flush", "appliance", "Bathroom")),
            ]
        if accelerometer:
            sensors.append(SimSensor("accel", "accelerometer", "Worn", battery_days=60.0))
        return cls(home_id, kit_id, _assign_places(sensors), timezone, name, mahalla)

    @property
    def tz(self) -> ZoneInfo:
        """The home's time zone."""
        return ZoneInfo(self.timezone)

    def of_kind(self, kind: SimKind) -> list[SimSensor]:
        """Sensors of one kind, in config order."""
        return [s for s in self.sensors if s.kind == kind]

    def first(self, kind: SimKind) -> SimSensor | None:
        """The first sensor of a kind, or None."""
        found = self.of_kind(kind)
        return found[0] if found else None

    @property
    def front_door(self) -> SimSensor | None:
        """The door the resident uses to go out (a hall door, else the first door)."""
        doors = self.of_kind("door")
        for d in doors:
            if "front" in d.id or place_for_room(d.room) is Place.HALL:
                return d
        return doors[0] if doors else None

    def motion_for(self, place: Place) -> SimSensor | None:
        """The motion sensor that sees `place`, if any."""
        for s in self.sensors:
            if s.kind == "motion" and place in s.places:
                return s
        return None

    def motions_for(self, place: Place) -> list[SimSensor]:
        """Every motion sensor that sees `place` (a house may have a basin and a shower PIR)."""
        return [s for s in self.sensors if s.kind == "motion" and place in s.places]

    def sensor(self, sensor_id: str) -> SimSensor:
        """A sensor by id (KeyError if the kit has none)."""
        for s in self.sensors:
            if s.id == sensor_id:
                return s
        raise KeyError(f"{self.kit_id} has no sensor {sensor_id!r}")


def _assign_places(sensors: list[SimSensor]) -> tuple[SimSensor, ...]:
    """Give each motion sensor the places it sees; a generic room sees what nothing else does."""
    motion = [s for s in sensors if s.kind == "motion"]
    named = {s.id: place_for_room(s.room) for s in motion}
    covered = {p for p in named.values() if p is not None}
    uncovered = tuple(p for p in Place if p not in covered and p is not Place.OUT)
    out = []
    for s in sensors:
        if s.kind == "motion":
            place = named[s.id]
            out.append(replace(s, places=(place,) if place is not None else uncovered))
        else:
            place = place_for_room(s.room) or place_for_room(s.id)
            out.append(replace(s, places=(place,) if place else ()))
    return tuple(out)


# What an appliance signal is used for, by where it is: a flush after a toilet visit; a kettle,
# microwave or fridge while cooking or making tea.
_BATHROOM_USES = ("Toilet", "Bed_to_Toilet")
_KITCHEN_USES = ("Meal_Preparation", "Tea", "Wash_Dishes")


def appliance_like(sensor: SimSensor) -> SimSensor:
    """An appliance sensor with the uses its room suggests (a flush, or a kitchen appliance)."""
    place = place_for_room(sensor.room) or place_for_room(sensor.id)
    if place is Place.BATHROOM or "flush" in sensor.id or "toilet" in sensor.id:
        return replace(sensor, sees=_BATHROOM_USES, use_p=0.9, use_s=(20.0, 60.0))
    return replace(sensor, sees=_KITCHEN_USES, use_p=0.5, use_s=(60.0, 300.0))


@dataclass(frozen=True)
class SensorPhysics:
    """How real sensors fall short of the truth; defaults follow HC-SR501 PIRs and reed contacts."""

    pir_hold_s: float = 8.0  # re-trigger mode: output high until this long after the last motion
    pir_blind_s: float = 2.5  # after going low, the PIR cannot fire for this long
    pir_miss_p: float = 0.03  # a movement it should see but does not
    pir_latency_s: tuple[float, float] = (0.2, 1.5)  # from entering a room to the first detection
    door_open_s: tuple[float, float] = (3.0, 10.0)
    door_bounce_p: float = 0.3  # chance that an edge bounces
    door_bounce_edges: tuple[int, int] = (1, 2)  # pairs of extra edges within 30 ms
    dropouts_per_sensor_30d: float = 0.0  # a sensor goes silent (loose wire, interference)
    dropout_hours: tuple[float, float] = (1.0, 8.0)
    clock_offset_s: float = 0.0  # kit clock minus true time at the start
    clock_drift_ppm: float = 0.0  # an RTC-less Pi without NTP drifts tens of ppm
    adl_windows_per_day: float = 0.0  # hard daily movements that trip the worn sensor's trigger
    adl_kinds: tuple[str, ...] = ("sit_down_hard", "stumble", "small_jump", "lie_down_quickly")


def window_start(event: SensorEvent) -> float:
    """UTC seconds of the first sample of an accelerometer event's window."""
    if event.window is None:
        raise ValueError("not an accelerometer window")
    return event.t - len(event.window) / event.rate_hz


@dataclass(frozen=True, slots=True)
class SensorEvent:
    """What one sensor reported: true time and the kit's clock, UTC seconds; activity label."""

    t: float
    ts: float
    sensor: str
    kind: SensorKind
    value: bool | str | float
    room: str
    label: str = ""
    bounce: bool = False
    # For accelerometer windows: samples (N, 3) in g, their rate and the trigger sample.
    window: npt.NDArray[np.float64] | None = field(default=None, compare=False)
    rate_hz: float = 0.0
    trigger_index: int = 0


class _Pir:
    """One PIR's output state across days (re-trigger mode, then blind)."""

    def __init__(self, physics: SensorPhysics) -> None:
        self.p = physics
        self.high = False
        self.last = -1e18
        self.blind_until = -1e18

    def run(self, detections: Iterable[float], until: float) -> list[tuple[float, bool]]:
        out: list[tuple[float, bool]] = []
        hold, blind = self.p.pir_hold_s, self.p.pir_blind_s
        for d in detections:
            if self.high:
                if d <= self.last + hold:
                    self.last = d
                    continue
                off = self.last + hold
                out.append((off, False))
                self.high = False
                self.blind_until = off + blind
            if d < self.blind_until:
                continue
            out.append((d, True))
            self.high = True
            self.last = d
        if self.high and self.last + hold <= until:
            off = self.last + hold
            out.append((off, False))
            self.high = False
            self.blind_until = off + blind
        return out


def debounce(events: Iterable[SensorEvent], bounce_s: dict[str, float]) -> Iterator[SensorEvent]:
    """Drop edges closer than a sensor's bounce time to its last accepted one (as gpiozero does)."""
    last: dict[str, float] = {}
    for ev in events:
        window = bounce_s.get(ev.sensor, 0.0)
        if window > 0 and ev.kind in (SensorKind.DOOR, SensorKind.HELP_BUTTON, SensorKind.FALL):
            if ev.t - last.get(ev.sensor, -1e18) < window:
                continue
            last[ev.sensor] = ev.t
        yield ev


class HomeSimulator:
    """Days of one home: resident plan, incidents, then what each sensor reports."""

    def __init__(
        self,
        layout: HomeLayout,
        profile: ResidentProfile | None = None,
        physics: SensorPhysics | None = None,
        start: date = date(2026, 3, 2),
        incidents: Sequence[Incident] = (),
    ) -> None:
        self.layout = layout
        self.profile = profile or ResidentProfile()
        self.physics = physics or SensorPhysics()
        self.start = start
        self.incidents = list(incidents)
        self.tz = layout.tz
        self.t0 = local_midnight_utc(start, self.tz)
        self._pirs = {s.id: _Pir(self.physics) for s in layout.of_kind("motion")}
        self._mats: dict[str, bool] = {}  # each mat's state at the end of the last day
        self._next_day = 0

    def day_start(self, day_index: int) -> float:
        """UTC seconds of local midnight of day `day_index`."""
        return local_midnight_utc(self.start + timedelta(days=day_index), self.tz)

    def kit_time(self, t: float) -> float:
        """The kit's clock reading at true time `t` (offset plus drift)."""
        p = self.physics
        return t + p.clock_offset_s + p.clock_drift_ppm * 1e-6 * (t - self.t0)

    def segments(self, day_index: int) -> list[Segment]:
        """The resident's plan for one day with the incidents that touch it applied."""
        segs = plan_day(self.profile, self.start + timedelta(days=day_index), self.tz, day_index)
        lo, hi = self.day_start(day_index), self.day_start(day_index + 1)
        for inc in self.incidents:
            if inc.touches(lo, hi):
                segs = inc.apply(segs, lo, hi)
        return segs

    def day(self, day_index: int) -> list[SensorEvent]:
        """Every sensor event of one day, sorted by true time. Call days in order."""
        if day_index != self._next_day:
            raise ValueError(f"days must be simulated in order: expected {self._next_day}")
        self._next_day += 1
        lo, hi = self.day_start(day_index), self.day_start(day_index + 1)
        rng = random.Random(f"{self.profile.seed}:{self.layout.home_id}:physics:{day_index}")
        segs = self.segments(day_index)
        events = self._motion(segs, rng, hi)
        events += self._doors(segs, rng)
        events += self._occupancy(segs, rng)
        events += self._appliances(segs, rng)
        events += self._batteries(day_index, lo)
        for inc in self.incidents:
            if inc.touches(lo, hi):
                events += inc.events(self.layout, lo, hi)
        if self.physics.adl_windows_per_day > 0:
            events += self._adl_windows(segs, rng)
        events = self._dropouts(events, rng, lo, hi, day_index)
        down = [w for inc in self.incidents if (w := inc.kit_down()) is not None]
        if down:
            # Without power the kit records nothing; the resident's life goes on unseen.
            events = [e for e in events if not any(a <= e.t < b for a, b in down)]
        events.sort(key=lambda e: e.t)
        return [replace(e, ts=self.kit_time(e.t)) for e in debounce(events, self._bounce())]

    def days(self, count: int) -> Iterator[SensorEvent]:
        """Events of days 0..count-1 in time order."""
        for i in range(count):
            yield from self.day(i)

    def _bounce(self) -> dict[str, float]:
        return {s.id: s.bounce_s for s in self.layout.sensors}

    def _motion(self, segs: list[Segment], rng: random.Random, hi: float) -> list[SensorEvent]:
        phys = self.physics
        detections: dict[str, list[tuple[float, str]]] = {s: [] for s in self._pirs}
        # The day starts where the last one ended (asleep), so midnight is no "entering".
        prev: Place | None = segs[0].place if segs else None
        for i, seg in enumerate(segs):
            after = segs[i + 1].place if i + 1 < len(segs) else seg.place
            for sensor in self.layout.motions_for(seg.place):
                times: list[float] = []
                if sensor.doorway:
                    times = self._doorway_times(seg, prev, after, sensor, rng)
                elif not sensor.sees or seg.label in sensor.sees:
                    entering = seg.place is not prev or bool(
                        sensor.sees and i > 0 and segs[i - 1].label not in sensor.sees
                    )
                    times = self._room_times(seg, entering, sensor, rng)
                detections[sensor.id] += [
                    (x, seg.label) for x in times if x < seg.end and rng.random() >= phys.pir_miss_p
                ]
            prev = seg.place
        out: list[SensorEvent] = []
        for sid, dets in detections.items():
            dets.sort()
            labels = dict(dets)
            sensor = self.layout.sensor(sid)
            label = ""
            for t, value in self._pirs[sid].run((d for d, _ in dets), hi):
                # An OFF carries the label of the ON it ends.
                label = labels.get(t, "") if value else label
                out.append(SensorEvent(t, t, sid, SensorKind.MOTION, value, sensor.room, label))
        return out

    def _doorway_times(
        self,
        seg: Segment,
        prev: Place | None,
        after: Place,
        sensor: SimSensor,
        rng: random.Random,
    ) -> list[float]:
        """A doorway sensor: passing it on the way in and on the way out; of the room beyond
        it sees only `coverage` of the movements."""
        times: list[float] = []
        if seg.place is not prev:
            times.append(seg.start + rng.uniform(*self.physics.pir_latency_s))
        if after is not seg.place:
            times.append(max(seg.start, seg.end - rng.uniform(0.5, 3.0)))
        # The bed and the armchair are out of a doorway sensor's sight.
        rate = 0.0 if seg.on_mat else seg.rate * sensor.coverage / 60.0
        return times + _movements(seg, rate, rng)

    def _room_times(
        self, seg: Segment, entering: bool, sensor: SimSensor, rng: random.Random
    ) -> list[float]:
        """A sensor covering the room: the arrival, then movements at the activity's rate."""
        rate = seg.rate * (2.0 if seg.visitor else 1.0) * sensor.coverage / 60.0
        times: list[float] = []
        if entering and seg.rate > 0 and rng.random() < sensor.coverage:
            # Walking in is several movements in a few seconds, each of which the
            # PIR may miss: missing all of them (and so a whole arrival) is rare.
            first = seg.start + rng.uniform(*self.physics.pir_latency_s)
            times += [first + k * rng.uniform(0.8, 2.0) for k in range(3)]
        return times + _movements(seg, rate, rng)

    def _occupancy(self, segs: list[Segment], rng: random.Random) -> list[SensorEvent]:
        """Mats: true when she sits or lies down where the mat is, false when she gets up."""
        out: list[SensorEvent] = []
        for mat in self.layout.of_kind("occupancy"):
            state = self._mats.get(mat.id)
            last_edge = -1e18
            label = ""
            for seg in segs:
                on = seg.on_mat and seg.place in mat.places
                if state is None:
                    state = on  # the kit starts with the mat as it is: no edge to report
                if on == state:
                    continue
                if on:
                    # She walks in, then sits down a few seconds later.
                    t = min(seg.start + rng.uniform(2.0, 8.0), (seg.start + seg.end) / 2)
                    label = seg.label
                else:
                    t = max(seg.start - rng.uniform(1.0, 4.0), last_edge + 0.5)
                out.append(SensorEvent(t, t, mat.id, SensorKind.OCCUPANCY, on, mat.room, label))
                last_edge, state = t, on
            self._mats[mat.id] = state if state is not None else False
        return out

    def _appliances(self, segs: list[Segment], rng: random.Random) -> list[SensorEvent]:
        """Appliances and flushes: used during the activities they serve (a flush at the end)."""
        out: list[SensorEvent] = []
        for dev in self.layout.of_kind("appliance"):
            flush = Place.BATHROOM in dev.places
            for seg in segs:
                if seg.label not in dev.sees or (dev.places and seg.place not in dev.places):
                    continue
                if rng.random() >= dev.use_p:
                    continue
                runs = rng.uniform(*dev.use_s)
                if flush:
                    t = max(seg.start, seg.end - rng.uniform(10.0, 40.0))
                else:
                    t = rng.uniform(seg.start, max(seg.start, seg.end - runs))
                kind, room = SensorKind.APPLIANCE, dev.room
                for at, value in ((t, True), (t + runs, False)):
                    out.append(SensorEvent(at, at, dev.id, kind, value, room, seg.label))
        return out

    def _doors(self, segs: list[Segment], rng: random.Random) -> list[SensorEvent]:
        door = self.layout.front_door
        if door is None:
            return []
        phys = self.physics
        out: list[SensorEvent] = []
        for t, value, label in self._door_edges(segs, rng):
            out.append(SensorEvent(t, t, door.id, SensorKind.DOOR, value, door.room, label))
            if rng.random() < phys.door_bounce_p:
                other = "closed" if value == "open" else "open"
                bt = t
                for _ in range(rng.randint(*phys.door_bounce_edges)):
                    for v in (other, value):
                        bt += rng.uniform(0.002, 0.015)
                        out.append(
                            SensorEvent(
                                bt, bt, door.id, SensorKind.DOOR, v, door.room, label, bounce=True
                            )
                        )
        return out

    def _door_edges(self, segs: list[Segment], rng: random.Random) -> list[tuple[float, str, str]]:
        """The front door's open/closed edges: leaving, coming back, and visitors."""
        phys = self.physics
        edges: list[tuple[float, str, str]] = []
        for i, seg in enumerate(segs):
            before = segs[i - 1] if i > 0 else None
            if seg.place is Place.OUT and (before is None or before.place is not Place.OUT):
                opened = seg.start - rng.uniform(*phys.door_open_s)
                edges += [(opened, "open", "Leave_Home"), (seg.start, "closed", "Leave_Home")]
            if seg.place is Place.OUT and seg.end < segs[-1].end:
                closed = seg.end + rng.uniform(*phys.door_open_s)
                edges += [(seg.end, "open", "Enter_Home"), (closed, "closed", "Enter_Home")]
            if seg.visitor:
                for at in (seg.start, seg.end - 20.0):
                    edges += [
                        (at, "open", "Visitor"),
                        (at + rng.uniform(*phys.door_open_s), "closed", "Visitor"),
                    ]
        return edges

    def _batteries(self, day_index: int, lo: float) -> list[SensorEvent]:
        out = []
        for s in self.layout.sensors:
            if s.battery_days is None:
                continue
            pct = self.battery_pct(s, day_index)
            t = lo + 12 * 3600.0
            out.append(SensorEvent(t, t, s.id, SensorKind.BATTERY, pct, s.room, "Battery"))
        return out

    def battery_pct(self, sensor: SimSensor, day_index: int) -> float:
        """Charge left on a battery sensor on a day (percent, linear decay from full)."""
        if sensor.battery_days is None:
            return 100.0
        return round(max(0.0, 100.0 * (1.0 - day_index / sensor.battery_days)), 1)

    def _dropouts(
        self, events: list[SensorEvent], rng: random.Random, lo: float, hi: float, day: int
    ) -> list[SensorEvent]:
        phys = self.physics
        gaps: list[tuple[str, float, float]] = []
        dead = {
            s.id
            for s in self.layout.sensors
            if s.battery_days is not None and self.battery_pct(s, day) <= 0.0
        }
        if phys.dropouts_per_sensor_30d > 0:
            for s in self.layout.sensors:
                if rng.random() < phys.dropouts_per_sensor_30d / 30.0:
                    start = rng.uniform(lo, hi)
                    gaps.append((s.id, start, start + 3600.0 * rng.uniform(*phys.dropout_hours)))
        if not gaps and not dead:
            return events
        return [
            e
            for e in events
            if (e.sensor not in dead or e.kind is SensorKind.BATTERY)
            and not any(e.sensor == g and a <= e.t < b for g, a, b in gaps)
        ]

    def _adl_windows(self, segs: list[Segment], rng: random.Random) -> list[SensorEvent]:
        from simulators.accel import RATE_HZ, adl_window

        worn = self.layout.first("accelerometer")
        if worn is None:
            return []
        still = ("Sleep", "Nap", "Still")
        awake = [s for s in segs if s.place is not Place.OUT and s.label not in still]
        n = int(rng.random() < self.physics.adl_windows_per_day % 1.0) + int(
            self.physics.adl_windows_per_day
        )
        out = []
        for _ in range(n):
            if not awake:
                break
            seg = rng.choice(awake)
            t = rng.uniform(seg.start, seg.end)
            kind = rng.choice(self.physics.adl_kinds)
            win = adl_window(kind, np.random.default_rng(rng.getrandbits(32)))
            out.append(
                SensorEvent(
                    t,
                    t,
                    worn.id,
                    SensorKind.ACCEL_WINDOW,
                    kind,
                    worn.room,
                    kind,
                    window=win.samples,
                    rate_hz=RATE_HZ,
                    trigger_index=win.trigger_index,
                )
            )
        return out


def _movements(seg: Segment, rate_per_s: float, rng: random.Random) -> list[float]:
    """Movements during `seg` as a Poisson process at `rate_per_s` (none at rate 0)."""
    times: list[float] = []
    t = seg.start
    while rate_per_s > 0:
        t += rng.expovariate(rate_per_s)
        if t >= seg.end:
            break
        times.append(t)
    return times
