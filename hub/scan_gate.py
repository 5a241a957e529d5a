"""The routine scan's memory: which homes need a close look this pass, decided for all at once.

Per home, in arrays: the silence being timed and its limit (from the home's last close look),
the earliest moment another rule could speak, and what arrived since (fed from the tail of the
events table, one range query a pass). Each pass decides "overdue" for every home in one
`scan_silences` call; only the homes it flags (and those with something new that could matter
at once, or a routine to re-learn) are read from the database and checked by `check_home`.

Why this finds what checking every home finds: with the same events `check_home` cannot speak
before the times `plan_next_check` gave; a new event later than every event seen can make a
rule speak no sooner than `new_event_lead_s` after it; door and entrance events, events older
than what was seen, a kit going on- or offline, a new sensor or home, a changed risk level or
time zone, and homes where a rule speaks (an alert open or held back) are looked at at once.
The one thing the plan does not follow is events leaving the 36-hour window, which can move
the presence state machine's start: every home gets a close look at least every
`full_check_every` (spread per home), as a net under that.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from detectors import CheckPlan
from detectors.inactivity import scan_silences
from hub.persistence.activity_tail import TailRow
from mehr.vocabulary import Place as RoomPlace

__all__ = ["HomeLook", "ScanGate", "StaleMemory"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_DAY_S: Final = 86_400.0
# A home quiet this long before a new event: the silent-sensor rule may speak at once.
_QUIET_HOME_S: Final = 24 * 3600.0
_NAN: Final = float("nan")
_INF: Final = float("inf")


@dataclass(frozen=True, slots=True)
class HomeLook:
    """What one close look at a home leaves behind for the gate."""

    plan: CheckPlan
    lead_s: float  # new_event_lead_s of the home's routine
    lead_vacated_s: float  # the same for a new getting-up
    newest_seen_s: float  # the newest event the look saw (NaN: none)
    last_any_s: float  # the newest sensor state of the home (NaN: none)
    last_kitchen_s: float  # the newest kitchen activity the look saw (NaN: none)
    kitchen_watch: bool  # the "no kitchen all day" rule applies to this home
    kitchen_after_s: float  # local time of day from which that rule judges
    utc_offset_s: float
    seen_id: int  # every event with an id up to this was visible to the look
    rule_speaks: bool  # a finding now (raised, open or held back): look again next pass
    soonest_s: float = _INF  # look again by then anyway (a sensor due to count as silent...)


# Per-home columns: initial value and dtype. A new home starts unread (`immediate`).
_COLUMNS: Final[dict[str, tuple[object, type]]] = {
    "checked_at": (_NAN, np.float64),  # the last close look
    "since": (_NAN, np.float64),  # the silence that look timed (NaN: none)
    "limit": (_INF, np.float64),  # and its limit
    "other_due": (_INF, np.float64),  # when another rule could speak
    "new_since": (_NAN, np.float64),  # the first sign of life since the look
    "new_deadline": (_INF, np.float64),  # the soonest a rule could speak because of new events
    "lead": (0.0, np.float64),  # new_event_lead_s of the home's routine
    "lead_vacated": (0.0, np.float64),
    "newest_seen": (_NAN, np.float64),  # the newest event the look saw
    "last_activity": (_NAN, np.float64),  # the newest sign of life (up to now)
    "last_any": (_NAN, np.float64),  # the newest event of any kind
    "last_kitchen": (_NAN, np.float64),
    "kitchen_watch": (False, np.bool_),
    "kitchen_after": (0.0, np.float64),
    "offset": (0.0, np.float64),  # UTC offset at the look
    "seen_id": (0, np.int64),  # events up to this id were visible to the look
    "learned_at": (_NAN, np.float64),  # the routine's age, for re-learn picks
    "lifetime": (_INF, np.float64),
    "immediate": (True, np.bool_),  # read at the next pass whatever the plan says
    # The lease partition and fencing epoch under which this hub held the home at the last
    # pass (-1: not held; the partition is kept too: the number of partitions may change).
    "held_partition": (-1, np.int64),
    "held_epoch": (-1, np.int64),
}
# Kept with the columns when the gate is saved (`memory`), for a restart to go on from.
_MEMORY_FORMAT: Final = 2


class StaleMemory(ValueError):
    """A saved gate that does not fit this code or this database; the scan rebuilds instead."""


def _digest(signature: tuple[object, ...]) -> bytes:
    """128 bits of a registration's repr: a change goes unseen only if the digests collide
    (odds 2**-128), and then only until the hourly look every home gets anyway."""
    return hashlib.blake2b(repr(signature).encode(), digest_size=16).digest()


class ScanGate:
    """Arrays over homes; one instance per scanner, used from one thread."""

    checked_at: npt.NDArray[Any]
    since: npt.NDArray[Any]
    limit: npt.NDArray[Any]
    other_due: npt.NDArray[Any]
    new_since: npt.NDArray[Any]
    new_deadline: npt.NDArray[Any]
    lead: npt.NDArray[Any]
    lead_vacated: npt.NDArray[Any]
    newest_seen: npt.NDArray[Any]
    last_activity: npt.NDArray[Any]
    last_any: npt.NDArray[Any]
    last_kitchen: npt.NDArray[Any]
    kitchen_watch: npt.NDArray[Any]
    kitchen_after: npt.NDArray[Any]
    offset: npt.NDArray[Any]
    seen_id: npt.NDArray[Any]
    learned_at: npt.NDArray[Any]
    lifetime: npt.NDArray[Any]
    immediate: npt.NDArray[Any]
    held_partition: npt.NDArray[Any]
    held_epoch: npt.NDArray[Any]

    def __init__(self, full_check_every: timedelta) -> None:
        self.full_check_every_s = full_check_every.total_seconds()
        self._index: dict[str, int] = {}
        self._ids: list[str] = []
        self._order = np.zeros(0, dtype=np.intp)  # home rows in id order
        # Per home, a 128-bit digest of its registration (not the tuple itself: ~2.4 KB a home
        # of small tuples and strings, kept alive for nothing but this comparison).
        self._signature = np.zeros((0, 2), dtype=np.uint64)
        for name, (fill, dtype) in _COLUMNS.items():
            setattr(self, name, np.full(0, fill, dtype=dtype))
        self.tail_id: int | None = None  # None: nothing fed yet, every home needs a look
        self._last_now = -_INF

    # -- homes ---------------------------------------------------------------------------------

    def sync_homes(self, signatures: Mapping[str, tuple[object, ...]]) -> None:
        """Add new homes and flag those whose registration changed (kits, sensors, availability,
        risk level, time zone): each needs a look before the gate trusts its plan again."""
        self.sync_digests((h, _digest(sig)) for h, sig in signatures.items())

    def sync_digests(self, digests: Iterable[tuple[str, bytes]]) -> None:
        """`sync_homes` with each registration already reduced to a 16-byte digest (e.g.
        `hub.persistence.scan_registry.home_registrations`), taken one home at a time."""
        ids: list[str] = []
        blob = bytearray()
        for home_id, digest in digests:
            ids.append(home_id)
            blob += digest
        added = list(dict.fromkeys(h for h in ids if h not in self._index))
        if added:
            self._grow(len(added))
            self._signature = np.concatenate(
                [self._signature, np.zeros((len(added), 2), dtype=np.uint64)]
            )
            for home_id in added:
                self._index[home_id] = len(self._ids)
                self._ids.append(home_id)
            self._order = np.argsort(np.array(self._ids, dtype=object), kind="stable").astype(
                np.intp
            )
        if not ids:
            return
        rows = np.fromiter((self._index[h] for h in ids), dtype=np.intp, count=len(ids))
        new = np.frombuffer(bytes(blob), dtype=np.uint64).reshape(-1, 2)
        changed = (self._signature[rows] != new).any(axis=1)
        self._signature[rows] = new
        # A new home's zero digest differs too; it is `immediate` from its column's fill anyway.
        self.immediate[rows[changed]] = True

    def hold(self, partitions: npt.NDArray[np.int64], epochs: npt.NDArray[np.int64]) -> None:
        """Per home (in the order homes were added, see `ids`), the lease partition and fencing
        epoch under which this hub holds it now; epoch -1 where it does not. A home held under
        a partition and epoch it was not held under at the last pass (taken over, or taken
        back) may have been judged by another hub meanwhile (alerts raised, its routine
        re-learned): it is read at once."""
        gained = (epochs >= 0) & ((epochs != self.held_epoch) | (partitions != self.held_partition))
        self.immediate[gained] = True
        self.held_partition[:] = partitions
        self.held_epoch[:] = epochs

    def refresh_routine_ages(self, ages: Mapping[str, float]) -> None:
        """The stored routines' ages (home -> learned, epoch seconds). A routine newer than the
        one the gate knows (re-learned in a pass a stop cut short, or by another hub) makes the
        home's plan stale: take its age and read the home at once."""
        for home_id, learned_s in ages.items():
            row = self._index.get(home_id)
            if row is not None and not learned_s <= self.learned_at[row]:  # NaN: unknown
                self.learned_at[row] = learned_s
                self.immediate[row] = True

    @property
    def ids(self) -> Sequence[str]:
        """Home ids in row order (the order they were added)."""
        return self._ids

    def _grow(self, extra: int) -> None:
        for name, (fill, dtype) in _COLUMNS.items():
            old = getattr(self, name)
            setattr(self, name, np.concatenate([old, np.full(extra, fill, dtype=dtype)]))

    def set_routine_age(self, home_id: str, learned_at: datetime, lifetime: timedelta) -> None:
        """When the home's routine was learned and how long it lives (for re-learn picks)."""
        row = self._index[home_id]
        self.learned_at[row] = learned_at.timestamp()
        self.lifetime[row] = lifetime.total_seconds()

    # -- what arrived --------------------------------------------------------------------------

    def feed(self, rows: Sequence[TailRow], now_s: float) -> None:
        """Take in events stored since the last feed (ids ascending)."""
        if not rows:
            return
        self.tail_id = rows[-1].id
        known = [r for r in rows if r.home_id in self._index]
        if not known:
            return
        row = np.fromiter((self._index[r.home_id] for r in known), dtype=np.intp, count=len(known))
        ids = np.fromiter((r.id for r in known), dtype=np.int64, count=len(known))
        t = np.fromiter((r.occurred_s for r in known), dtype=np.float64, count=len(known))
        act = np.fromiter((r.activity is not None for r in known), dtype=bool, count=len(known))
        vacated = np.fromiter(
            (r.activity == "vacated" for r in known), dtype=bool, count=len(known)
        )
        kitchen = np.fromiter(
            (r.place == RoomPlace.KITCHEN for r in known), dtype=bool, count=len(known)
        )
        at_door = np.fromiter(
            (r.activity == "door" or r.place == RoomPlace.ENTRANCE for r in known),
            dtype=bool,
            count=len(known),
        )
        # Events a home's last look saw are in its plan: those stored before it (id up to
        # seen_id) and stamped up to the pass's now it was judged at (a long pass looks at a
        # home after events stamped later were stored; those are new to the plan).
        new = (ids > self.seen_id[row]) | (t > self.checked_at[row])
        future = new & (t > now_s)
        # A kit clock ahead: the event becomes history at its own time; look then.
        np.minimum.at(self.other_due, row[future], t[future])
        cur = new & ~future
        quiet_before = t - self.last_any[row] > _QUIET_HOME_S
        np.fmax.at(self.last_any, row[cur], t[cur])
        cur &= act
        r, tc = row[cur], t[cur]
        late = tc < self.newest_seen[r]  # inserted among what the plan saw: state unknown
        local_day_start = tc - (tc + self.offset[r]) % _DAY_S
        evening = (tc - local_day_start) >= self.kitchen_after[r]
        no_kitchen_today = ~(self.last_kitchen[r] >= local_day_start) & ~kitchen[cur]
        at_once = (
            late
            | at_door[cur]
            | quiet_before[cur]
            | (self.kitchen_watch[r] & evening & no_kitchen_today)
            | np.isnan(self.checked_at[r])
        )
        self.immediate[r[at_once]] = True
        lead = np.where(vacated[cur], self.lead_vacated[r], self.lead[r])
        np.fmin.at(self.new_since, r, tc)
        np.minimum.at(self.new_deadline, r, tc + lead)
        np.fmax.at(self.last_activity, r, tc)
        np.fmax.at(self.last_kitchen, r[kitchen[cur]], tc[kitchen[cur]])

    # -- the decision --------------------------------------------------------------------------

    def due(
        self,
        now_s: float,
        *,
        recent_s: float,
        relearn_budget: int,
        may_scan: npt.ArrayLike | None = None,
    ) -> list[str]:
        """The homes to look at closely at `now_s`, in id order.

        `may_scan` (homes,) restricts the pass to some homes (e.g. those this hub holds).
        """
        if now_s < self._last_now or self.tail_id is None:
            self.immediate[:] = True  # the clock went back, or a first pass: look at all
        self._last_now = now_s
        new_limit = self.new_deadline - self.new_since
        # The overdue decision of every home in one vectorised call: the silence of its last
        # look against its limit, and the silence since its first new event against the lead.
        verdict = scan_silences(
            np.stack([self.limit, new_limit]), np.stack([self.since, self.new_since]), now_s
        )
        flagged = verdict.overdue.any(axis=0) | (self.other_due <= now_s) | self.immediate
        # Stale routines of homes with recent activity, in id order, as many as a pass
        # re-learns: the per-home scan would re-learn exactly these this pass.
        stale = (now_s - self.learned_at >= self.lifetime) & (
            self.last_activity >= now_s - recent_s
        )
        if may_scan is not None:
            mine = np.asarray(may_scan, dtype=bool)
            flagged &= mine
            stale &= mine
        ordered_stale = self._order[stale[self._order]]
        flagged[ordered_stale[:relearn_budget]] = True
        return [self._ids[i] for i in self._order[flagged[self._order]]]

    def looked(self, home_id: str, now_s: float, look: HomeLook | None) -> None:
        """Record a close look at a home (None: it failed; look again next pass)."""
        row = self._index[home_id]
        self.checked_at[row] = now_s
        self.immediate[row] = False
        self.new_since[row] = _NAN
        self.new_deadline[row] = _INF
        if look is None:
            self.since[row], self.limit[row], self.other_due[row] = _NAN, _INF, now_s
            return
        share = zlib.crc32(home_id.encode()) / 0xFFFFFFFF
        net = now_s + self.full_check_every_s * (0.5 + 0.5 * share)
        self.since[row] = look.plan.silence_since_s
        self.limit[row] = look.plan.silence_limit_s
        self.other_due[row] = (
            now_s if look.rule_speaks else min(look.plan.other_due_s, net, look.soonest_s)
        )
        self.lead[row] = look.lead_s
        self.lead_vacated[row] = look.lead_vacated_s
        self.newest_seen[row] = look.newest_seen_s
        self.last_activity[row] = look.newest_seen_s
        self.last_any[row] = look.last_any_s
        self.last_kitchen[row] = look.last_kitchen_s
        self.kitchen_watch[row] = look.kitchen_watch
        self.kitchen_after[row] = look.kitchen_after_s
        self.offset[row] = look.utc_offset_s
        self.seen_id[row] = look.seen_id

    # -- across restarts -----------------------------------------------------------------------

    def memory(self) -> dict[str, npt.NDArray[Any]]:
        """Everything the gate knows, as arrays (no Python objects: saved and loaded without
        pickle). A gate rebuilt from it decides exactly as this one would."""
        arrays: dict[str, npt.NDArray[Any]] = {name: getattr(self, name) for name in _COLUMNS}
        arrays["ids"] = np.array(self._ids, dtype=np.str_)
        arrays["signature"] = self._signature
        arrays["tail_id"] = np.array([-1 if self.tail_id is None else self.tail_id], np.int64)
        arrays["last_now"] = np.array([self._last_now], np.float64)
        arrays["format"] = np.array([_MEMORY_FORMAT], np.int64)
        return arrays

    @classmethod
    def from_memory(
        cls, arrays: Mapping[str, npt.NDArray[Any]], full_check_every: timedelta
    ) -> ScanGate:
        """The gate `memory` described; StaleMemory if the arrays are not a whole gate of this
        format."""
        try:
            if int(arrays["format"][0]) != _MEMORY_FORMAT:
                raise StaleMemory(f"format {int(arrays['format'][0])}, expected {_MEMORY_FORMAT}")
            ids = [str(home_id) for home_id in arrays["ids"]]
            signature = np.asarray(arrays["signature"], dtype=np.uint64)
            tail_id = int(arrays["tail_id"][0])
            last_now = float(arrays["last_now"][0])
            columns = {name: np.asarray(arrays[name]) for name in _COLUMNS}
        except KeyError as exc:
            raise StaleMemory(f"{exc.args[0]} missing") from None
        n = len(ids)
        if len(set(ids)) != n or signature.shape != (n, 2) or tail_id < 0:
            raise StaleMemory("homes, digests and the tail do not agree")
        gate = cls(full_check_every)
        for name, (_, dtype) in _COLUMNS.items():
            if columns[name].shape != (n,):
                raise StaleMemory(f"column {name} has {columns[name].shape}, expected ({n},)")
            setattr(gate, name, columns[name].astype(dtype, copy=True))
        gate._ids = ids
        gate._index = {home_id: row for row, home_id in enumerate(ids)}
        gate._order = np.argsort(np.array(ids, dtype=object), kind="stable").astype(np.intp)
        gate._signature = signature.copy()
        gate.tail_id = tail_id
        gate._last_now = last_now
        return gate
