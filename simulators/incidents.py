"""Incidents with ground truth: what happens to the resident or the kit, and the alert it raises.

An incident rewrites part of the resident's plan (lying still on the floor, staying in bed, a long
stay in the bathroom, going out at night, not coming back) or adds signals (a help press, an
accelerometer window, a radar fall alarm), or takes the kit down (power loss; a power cut across
a mahalla is the same incident at many homes at once).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

import numpy as np

from mehr.contract import SensorKind
from simulators.accel import AFTER_S, RATE_HZ, fall_window
from simulators.home import HomeLayout, SensorEvent
from simulators.resident import Place, Segment

__all__ = ["EXPECTED_ALERT", "Incident", "IncidentKind", "splice"]


class IncidentKind(StrEnum):
    """Every incident the simulators can play."""

    FALL = "fall"  # falls and lies on the floor
    SILENCE = "silence"  # stops moving at home (unwell in a chair, unconscious)
    NOT_UP = "not_up"  # still in bed long after the usual time
    LONG_BATHROOM = "long_bathroom"  # goes into the bathroom and does not come out
    NIGHT_DOOR = "night_door"  # goes out of the front door at night
    NOT_BACK = "not_back"  # leaves and does not come back
    HELP_BUTTON = "help_button"
    KIT_OFFLINE = "kit_offline"  # the kit loses power
    AREA_OUTAGE = "area_outage"  # a power cut across a mahalla: many kits at once
    NAP = "nap"  # dozes in the armchair (or on the bed): still, but on a mat; no alert is due


# The alert kind the hub should raise for each incident (its ground truth).
EXPECTED_ALERT: dict[IncidentKind, str] = {
    IncidentKind.FALL: "fall",
    IncidentKind.SILENCE: "unusual_inactivity",
    IncidentKind.NOT_UP: "not_up",
    IncidentKind.LONG_BATHROOM: "long_bathroom",
    IncidentKind.NIGHT_DOOR: "night_wandering",
    IncidentKind.NOT_BACK: "not_back",
    IncidentKind.HELP_BUTTON: "help_button",
    IncidentKind.KIT_OFFLINE: "kit_offline",
    IncidentKind.AREA_OUTAGE: "area_outage",
    IncidentKind.NAP: "",  # ordinary life: any alert it raises is a false one
}


def splice(segs: list[Segment], start: float, end: float, new: list[Segment]) -> list[Segment]:
    """Replace what the plan says between `start` and `end` with `new` (contiguous in between)."""
    out: list[Segment] = []
    for s in segs:
        if s.end <= start or s.start >= end:
            out.append(s)
            continue
        if s.start < start:
            out.append(replace(s, end=start))
        if s.end > end:
            out.append(replace(s, start=end))
    out += [n for n in new if n.end > n.start]
    out.sort(key=lambda s: s.start)
    return out


def _place_at(segs: list[Segment], t: float) -> Place:
    for s in segs:
        if s.start <= t < s.end:
            return s.place if s.place is not Place.OUT else Place.LIVING
    return Place.LIVING


@dataclass(frozen=True)
class Incident:
    """One incident at one home: when (UTC seconds), how long its consequence lasts, details."""

    kind: IncidentKind
    home_id: str
    at: float
    duration_s: float = 3 * 3600.0
    place: Place | None = None  # where it happens (default: where the resident is then)
    fall_kind: str = "fall_forward"  # the accelerometer model's movement
    via: Literal["accelerometer", "fall_sensor", "both"] = "accelerometer"
    seed: int = 0

    @property
    def end(self) -> float:
        """When the incident's consequence ends."""
        return self.at + self.duration_s

    def touches(self, lo: float, hi: float) -> bool:
        """Whether the incident changes anything between `lo` and `hi`."""
        return self.at < hi and self.end >= lo

    def kit_down(self) -> tuple[float, float] | None:
        """When the kit is without power (None: the kit keeps running)."""
        if self.kind in (IncidentKind.KIT_OFFLINE, IncidentKind.AREA_OUTAGE):
            return (self.at, self.end)
        return None

    def apply(self, segs: list[Segment], lo: float, hi: float) -> list[Segment]:
        """Rewrite one day's plan (segments between `lo` and `hi`)."""
        a, b = max(self.at, lo), min(self.end, hi)
        kind = self.kind
        # One still segment: on the floor where she was, in bed, or dozing in the armchair (a
        # nap is on a mat, so the kit still feels her there).
        still: dict[IncidentKind, tuple[str, Place | None]] = {
            IncidentKind.FALL: ("Still", None),
            IncidentKind.SILENCE: ("Still", None),
            IncidentKind.NOT_UP: ("Still", Place.BEDROOM),
            IncidentKind.NAP: ("Nap", Place.LIVING),
        }
        if kind in still:
            label, usual = still[kind]
            place = self.place or usual or _place_at(segs, self.at)
            if kind is IncidentKind.NOT_UP:
                place = Place.BEDROOM
            return splice(segs, a, b, [Segment(a, b, place, label)])
        if kind is IncidentKind.LONG_BATHROOM:
            new = [Segment(a, b, Place.BATHROOM, "Still")]
            if self.at >= lo:  # the walk in and the first minutes are ordinary
                new = [
                    Segment(a, a + 30, Place.HALL, "Toilet"),
                    Segment(a + 30, a + 150, Place.BATHROOM, "Toilet"),
                    Segment(a + 150, b, Place.BATHROOM, "Still"),
                ]
            return splice(segs, a, b, new)
        if kind in (IncidentKind.NIGHT_DOOR, IncidentKind.NOT_BACK):
            new = [Segment(a, b, Place.OUT, "Out")]
            if self.at >= lo:
                new = [
                    Segment(a, a + 60, Place.HALL, "Wander"),
                    Segment(a + 60, b, Place.OUT, "Out"),
                ]
            if kind is IncidentKind.NIGHT_DOOR and self.end <= hi:
                back = [
                    Segment(b, b + 60, Place.HALL, "Wander"),
                    Segment(b + 60, b + 120, Place.BEDROOM, "Wake"),
                ]
                return splice(segs, a, b + 120, new + back)
            return splice(segs, a, b, new)
        return segs

    def events(self, layout: HomeLayout, lo: float, hi: float) -> list[SensorEvent]:
        """Signals the incident adds between `lo` and `hi` (help press, fall windows, alarms)."""
        if not lo <= self.at < hi:
            return []
        out: list[SensorEvent] = []
        if self.kind is IncidentKind.HELP_BUTTON:
            button = layout.first("help_button")
            if button is None:
                raise ValueError(f"{layout.home_id} has no help button for a help_button incident")
            out.append(
                SensorEvent(
                    self.at,
                    self.at,
                    button.id,
                    SensorKind.HELP_BUTTON,
                    "pressed",
                    button.room,
                    "Help",
                )
            )
        if self.kind is IncidentKind.FALL:
            if self.via in ("accelerometer", "both"):
                worn = layout.first("accelerometer")
                if worn is None:
                    raise ValueError(f"{layout.home_id} has no accelerometer for this fall")
                win = fall_window(self.fall_kind, np.random.default_rng(self.seed))
                # The kit ships the window once it has recorded 8 s after the impact.
                done = self.at + AFTER_S
                out.append(
                    SensorEvent(
                        done,
                        done,
                        worn.id,
                        SensorKind.ACCEL_WINDOW,
                        self.fall_kind,
                        worn.room,
                        self.fall_kind,
                        window=win.samples,
                        rate_hz=RATE_HZ,
                        trigger_index=win.trigger_index,
                    )
                )
            if self.via in ("fall_sensor", "both"):
                radar = layout.first("fall")
                if radar is None:
                    raise ValueError(f"{layout.home_id} has no fall sensor for this fall")
                alarm = self.at + 10.0  # a radar confirms a person on the floor in seconds
                out.append(
                    SensorEvent(
                        alarm, alarm, radar.id, SensorKind.FALL, "detected", radar.room, "Fall"
                    )
                )
                if self.end < hi:
                    out.append(
                        SensorEvent(
                            self.end,
                            self.end,
                            radar.id,
                            SensorKind.FALL,
                            "cleared",
                            radar.room,
                            "Fall",
                        )
                    )
        return out
