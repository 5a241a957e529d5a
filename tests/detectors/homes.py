"""A simulated resident's days, as activity events, for routine tests (made by the tests)."""

from __future__ import annotations

import numpy as np

from detectors.routine import ActivityEvents, Kind, Place

OFFSET = 5 * 3600.0  # Asia/Tashkent
MONDAY = 1_704_067_200.0  # 2024-01-01 00:00 UTC, a Monday
ROOMS = {
    Place.KITCHEN: "Kitchen",
    Place.LIVING: "Living room",
    Place.BATHROOM: "Bathroom",
    Place.BEDROOM: "Bedroom",
    Place.ENTRANCE: "Hall",
}


def local(day: int, hours: float) -> float:
    """UTC seconds of a local time on day `day` (0 = Monday 2024-01-01)."""
    return MONDAY + day * 86_400.0 + hours * 3600.0 - OFFSET


class Diary:
    """Accumulates events; `events()` builds the ActivityEvents."""

    def __init__(self) -> None:
        self.t: list[float] = []
        self.p: list[int] = []
        self.k: list[int] = []

    def add(self, t: float, place: Place, kind: Kind = Kind.MOTION) -> None:
        """Add one event."""
        self.t.append(t)
        self.p.append(int(place))
        self.k.append(int(kind))

    def events(self) -> ActivityEvents:
        """The diary as validated events."""
        rooms = [ROOMS.get(Place(p), "Other") for p in self.p]
        return ActivityEvents.build(self.t, self.p, self.k, rooms, OFFSET)


def live(days: int, seed: int = 0, diary: Diary | None = None, start_day: int = 0) -> Diary:
    """Simulate `days` ordinary days: up ~07:00, busy all day, out 10:00-11:30 on weekdays."""
    rng = np.random.default_rng(seed)
    d = diary or Diary()
    places = [Place.KITCHEN, Place.LIVING, Place.BATHROOM, Place.BEDROOM, Place.LIVING]
    for day in range(start_day, start_day + days):
        weekday = day % 7 < 5
        t = local(day, 7.0 + rng.normal(0, 0.3))
        bed = local(day, 22.5 + rng.normal(0, 0.3))
        d.add(t, Place.BEDROOM)
        d.add(t + 120, Place.BATHROOM)
        d.add(t + 600, Place.KITCHEN)
        t += 600
        went_out = False
        while t < bed:
            if weekday and not went_out and t > local(day, 10.0):
                d.add(t + 30, Place.ENTRANCE, Kind.DOOR)
                d.add(t + 60, Place.ENTRANCE)
                t += 1.5 * 3600
                d.add(t, Place.ENTRANCE, Kind.DOOR)
                d.add(t + 60, Place.KITCHEN)
                went_out = True
            t += min(rng.exponential(8 * 60), 50 * 60)
            if t < bed:
                d.add(t, places[int(rng.integers(len(places)))])
        d.add(bed, Place.BEDROOM)
    return d
