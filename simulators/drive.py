"""Drive simulated homes through MQTT on a virtual clock shared with the hub.

Time moves in steps as fast as the CPU allows: within a step each kit publishes its events and
heartbeats with the clock set to their moment; at the end of a step `settle` lets the hub catch
up and `tick` runs its periodic work (routine scan, alert engine) before time moves on.

When to tick: a hub scans every minute, which over weeks of simulated days costs more than the
CI budget allows, so the driver ticks where a scan can find something. Steps are fine
(`step_minutes`) from 12 h before each incident until after its deadline, where the alert's
delay is measured, and coarse (`quiet_step_minutes`) elsewhere. On top, the driver ticks just
before a sign of life that ends a quiet spell or a stay in one room of 20 min or more (the
smallest limit any routine rule uses): every "no sign of life for too long" finding is at its
longest right then, so a false alarm on a quiet day is seen, not skipped between two steps.
Power cuts drop a kit's connection without a DISCONNECT, so the broker publishes its last will,
as a real power loss would.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mehr.clock import ManualClock
from mehr.contract import SensorKind
from simulators.home import HomeLayout, SensorEvent, window_start
from simulators.incidents import IncidentKind
from simulators.scenario import BuiltScenario
from simulators.simple_kit import SimpleKit

__all__ = ["DriveStats", "ScenarioDriver", "utc"]

_LOGGER = logging.getLogger(__name__)

# Events a worker must hear about at once: the hub stamps them when they arrive, so the driver
# lets the hub take them before the clock moves on.
_URGENT = {SensorKind.HELP_BUTTON, SensorKind.FALL, SensorKind.ACCEL_WINDOW}
# Signs of life for the routine rules: motion starting, a door, a button, sitting down or getting
# up (a mat), an appliance or a flush.
_LIFE = {
    SensorKind.DOOR,
    SensorKind.HELP_BUTTON,
    SensorKind.OK_BUTTON,
    SensorKind.OCCUPANCY,
    SensorKind.APPLIANCE,
}
# A quiet spell or a stay in one room this long ends with a tick (long_bathroom's lower clip is
# 20 min; unusual_inactivity's is 45 min): see the module docstring.
_SPELL_S = 20 * 60.0
_ROUTINE_INCIDENTS = {
    IncidentKind.SILENCE,
    IncidentKind.NOT_UP,
    IncidentKind.LONG_BATHROOM,
    IncidentKind.NIGHT_DOOR,
    IncidentKind.NOT_BACK,
}


# (time, insertion order, what, home, payload): one entry of the driver's queue.
_Queued = tuple[float, int, str, str, Any]


def utc(t: float) -> datetime:
    """UTC datetime of UTC seconds."""
    return datetime.fromtimestamp(t, UTC)


@dataclass
class DriveStats:
    """What the driver sent."""

    messages: int = 0  # everything the hub will receive: events, beats, births, wills
    events: int = 0
    heartbeats: int = 0
    power_cuts: int = 0
    by_home: dict[str, int] = field(default_factory=dict)


class ScenarioDriver:
    """Plays a built scenario's homes through one SimpleKit per home."""

    def __init__(
        self,
        built: BuiltScenario,
        clock: ManualClock,
        make_kit: Callable[[HomeLayout, int | None, int], SimpleKit],
        settle: Callable[[int], None],
        progress: Callable[[int], Any] | None = None,
        tick: Callable[[], None] | None = None,
    ) -> None:
        self.built = built
        self.clock = clock
        self.make_kit = make_kit
        self.settle = settle
        self.tick = tick
        self.progress = progress
        self.stats = DriveStats()
        # Ties in the queue break by insertion order, so a run is the same every time.
        self._order = itertools.count()
        self.kits: dict[str, SimpleKit] = {}
        self.down: set[str] = set()
        # Per home: the last sign of life, and the room (and since when) it has been in.
        self._last_life: dict[str, float] = {}
        self._room: dict[str, tuple[str, float]] = {}

    def _connect(self, layout: HomeLayout, epoch: int | None = None, seq: int = 0) -> None:
        kit = self.make_kit(layout, epoch, seq)
        kit.connect()
        self.kits[layout.home_id] = kit
        self.stats.messages += 1  # birth

    def focus(self) -> list[tuple[float, float]]:
        """Spans (UTC seconds) played in fine steps: around each incident and up to its deadline."""

        # Routine incidents: from the evening before (the night and morning matter to the rules).
        # Kit, button and fall incidents: half an hour before is enough.
        def lead(kind: IncidentKind) -> float:
            return 12 * 3600.0 if kind in _ROUTINE_INCIDENTS else 1800.0

        spans = [(i.at - lead(i.kind), i.end + 3600.0) for i in self.built.incidents]
        for e in self.built.expectations:
            kinds = [i.kind for i in self.built.incidents if i.at == e.incident_at]
            spans.append(
                (e.incident_at - max(map(lead, kinds), default=1800.0), e.deadline + 3600.0)
            )
        return sorted(spans)

    def _tick(self) -> None:
        self.settle(self.stats.messages)
        if self.tick is not None:
            self.tick()

    def _next_step(self, t: float, spans: list[tuple[float, float]]) -> float:
        """The end of the step that starts at `t`."""
        fine = self.built.scenario.step_minutes * 60.0
        coarse = max(fine, self.built.scenario.quiet_step_minutes * 60.0)
        if any(lo <= t < hi for lo, hi in spans):
            return min(t + fine, self.built.end_utc)
        upcoming = [lo for lo, _ in spans if lo > t]
        return min([t + coarse, self.built.end_utc, *upcoming])

    def run(self) -> DriveStats:
        """Play every day of the scenario; returns what was sent."""
        built = self.built
        spans = self.focus()
        self.clock.set(utc(built.start_utc))
        for sim in built.homes.values():
            self._connect(sim.layout, epoch=None)
        queue = self._first_queue()
        days_made = 0
        t = built.start_utc
        while t < built.end_utc:
            t_next = self._next_step(t, spans)
            days_made = self._make_days(queue, days_made, t_next)
            while queue and queue[0][0] <= t_next:
                self._play(queue, *heapq.heappop(queue))
            self.clock.set(utc(t_next))
            self._tick()
            if self.progress is not None:
                self.progress(round(t_next - t))
            t = t_next
        for kit in self.kits.values():
            if kit.home_id not in self.down:
                kit.close()
                self.stats.messages += 1
        self.settle(self.stats.messages)
        return self.stats

    def _first_queue(self) -> list[_Queued]:
        """One queue of everything that happens, by time: the first heartbeats and the power
        cuts and restores of the incidents (events join it a day at a time)."""
        built = self.built
        queue: list[_Queued] = [
            (built.start_utc + built.scenario.heartbeat_s, next(self._order), "beat", home, None)
            for home in built.homes
        ]
        for inc in built.incidents:
            if (down := inc.kit_down()) is not None:
                queue.append((down[0], next(self._order), "cut", inc.home_id, None))
                queue.append((down[1], next(self._order), "restore", inc.home_id, None))
        heapq.heapify(queue)
        return queue

    def _make_days(self, queue: list[_Queued], days_made: int, t_next: float) -> int:
        """Queue the homes' events a day ahead of `t_next`; return how many days are made."""
        built = self.built
        # Keep a day of events ahead so PIR offs that spill past midnight sort correctly.
        while days_made < built.scenario.days and built.start_utc + days_made * 86_400.0 <= (
            t_next + 3600.0
        ):
            for home, sim in built.homes.items():
                for ev in sim.day(days_made):
                    heapq.heappush(queue, (ev.t, next(self._order), "event", home, ev))
            days_made += 1
        return days_made

    def _play(
        self, queue: list[_Queued], at: float, _order: int, what: str, home: str, payload: Any
    ) -> None:
        """Move the clock to `at` and make one queued thing happen."""
        if what == "event" and home not in self.down and self._spell_ends(home, payload):
            # The scan sees the spell at its longest just before the event ending it.
            if at - 1.0 > self.clock.now().timestamp():
                self.clock.set(utc(at - 1.0))
            self._tick()
        if at > self.clock.now().timestamp():
            self.clock.set(utc(at))
        if what == "beat":
            if home not in self.down:
                self.kits[home].heartbeat()
                self.stats.messages += 1
                self.stats.heartbeats += 1
            beat = self.built.scenario.heartbeat_s
            heapq.heappush(queue, (at + beat, next(self._order), "beat", home, None))
        elif what == "cut":
            self.kits[home].power_loss()
            self.down.add(home)
            self.stats.messages += 1  # the broker's will
            self.stats.power_cuts += 1
            # The hub stamps availability when it arrives: let it take the will now.
            self.settle(self.stats.messages)
        elif what == "restore":
            old = self.kits[home]
            self.down.discard(home)
            self._connect(self.built.homes[home].layout, old.epoch, old.seq)
            self.settle(self.stats.messages)
        else:
            self._publish(home, payload)

    def _spell_ends(self, home: str, ev: SensorEvent) -> bool:
        """True if `ev` ends a quiet spell or a long stay in one room (tick before it)."""
        if not (ev.kind in _LIFE or (ev.kind is SensorKind.MOTION and ev.value is True)):
            return False
        last = self._last_life.get(home)
        room, since = self._room.get(home, (ev.room, ev.t))
        self._last_life[home] = ev.t
        if room != ev.room:
            self._room[home] = (ev.room, ev.t)
        return last is not None and (
            ev.t - last >= _SPELL_S or (room != ev.room and ev.t - since >= _SPELL_S)
        )

    def _publish(self, home: str, ev: SensorEvent) -> None:
        if home in self.down:
            return
        kit = self.kits[home]
        if ev.window is not None:
            kit.accel_window(
                ev.sensor,
                [(float(x), float(y), float(z)) for x, y, z in ev.window.round(4)],
                ev.rate_hz,
                utc(window_start(ev) + (ev.ts - ev.t)),
                ev.trigger_index,
                ts=utc(ev.ts),
            )
        else:
            kit.event(ev.sensor, ev.kind, ev.value, ts=utc(ev.ts))
        self.stats.messages += 1
        self.stats.events += 1
        self.stats.by_home[home] = self.stats.by_home.get(home, 0) + 1
        if ev.kind in _URGENT:
            self.settle(self.stats.messages)
