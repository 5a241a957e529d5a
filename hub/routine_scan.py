"""The routine scan: on the hub's clock, check every home against its own learned routine.

Each scan reads a home's recent signs of life, learns (or reuses) its routine from up to four
weeks of history, applies the detectors' rules and raises the alerts they find, each carrying
its explanation in three languages. Pure decisions live in `detectors/`; this module only
feeds them from the store and turns findings into alerts.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from detectors import (
    ActivityEvents,
    CheckPlan,
    DetectorError,
    Finding,
    Kind,
    Place,
    Routine,
    RoutineConfig,
    check_home,
    learn_routine,
    new_event_lead_s,
    plan_next_check,
)
from detectors.routine import Sensitivity, answer_rate_estimate
from hub.coordination import EVERY_HOME, Ownership
from hub.explain import explain_finding
from hub.persistence.activity_tail import (
    activity_after,
    event_identity,
    first_event_after,
    last_event_id,
)
from hub.persistence.scan_registry import home_registrations, home_sensors
from hub.persistence.sqlite_store import SqlStore
from hub.routine_cache import RoutineCache
from hub.scan_gate import HomeLook, ScanGate
from hub.scan_memory import code_fingerprint, load_scan_memory, save_scan_memory
from hub.stats import HubStats
from hub.store.base import AlertRecord, HomeRecord, NewAlert
from mehr.catalogue import LANGUAGES, room_name, text
from mehr.clock import Clock
from mehr.vocabulary import AlertKind
from mehr.vocabulary import Place as RoomPlace

__all__ = ["RULE_ALERTS", "RoutineScanner"]

_LOGGER = logging.getLogger(__name__)

# Detector rule -> (alert kind, severity). Kinds are the vocabulary shared with the alert engine.
_RULE_KINDS: Final[dict[str, AlertKind]] = {
    "unusual_inactivity": AlertKind.UNUSUAL_INACTIVITY,
    "not_up": AlertKind.NOT_UP,
    "long_bathroom": AlertKind.LONG_BATHROOM,
    "not_back": AlertKind.NOT_BACK,
    "night_door": AlertKind.NIGHT_WANDERING,
    "no_kitchen": AlertKind.NO_KITCHEN,
}
RULE_ALERTS: Final[dict[str, tuple[str, str]]] = {
    rule: (kind.value, kind.severity.value) for rule, kind in _RULE_KINDS.items()
}
# Rules that mean "no sign of life": meaningless while the kit itself is offline, because then
# the silence is the kit's, not the resident's (the outage is alerted on its own).
_SILENCE_RULES: Final = frozenset({"unusual_inactivity", "not_up", "long_bathroom", "no_kitchen"})

# The vocabulary's places as the detectors' array channels (detectors import nothing of ours).
_PLACES: Final[dict[str, Place]] = {
    RoomPlace.KITCHEN: Place.KITCHEN,
    RoomPlace.BATHROOM: Place.BATHROOM,
    RoomPlace.BEDROOM: Place.BEDROOM,
    RoomPlace.LIVING: Place.LIVING,
    RoomPlace.ENTRANCE: Place.ENTRANCE,
    RoomPlace.OTHER: Place.OTHER,
}
# Care-plan risk -> how tight the routine thresholds are (detectors' sensitivity margins).
_SENSITIVITY: Final[dict[str, Sensitivity]] = {"low": "low", "medium": "normal", "high": "high"}
_KINDS: Final = {
    "motion": Kind.MOTION,
    "door": Kind.DOOR,
    "help_button": Kind.BUTTON,
    "ok_button": Kind.BUTTON,
    "occupancy": Kind.OCCUPIED,  # the store reports a mat left as "vacated"
    "vacated": Kind.VACATED,
    "appliance": Kind.APPLIANCE,
}
# Events read from the tail of the events table per query (a pass repeats until caught up).
_TAIL_CHUNK: Final = 50_000
_RULES: Final = RoutineConfig()  # the rules' own defaults, as check_home uses them


def _asking_first(digest: bytes) -> bytes:
    return hashlib.blake2b(digest + b"asks first", digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """How much history to learn from, how often to re-learn, how far back rules look."""

    history: timedelta = timedelta(days=28)
    relearn_every: timedelta = timedelta(hours=6)
    # Each home's routine may go stale up to this much before `relearn_every`, by a fixed
    # share per home. Off: `max_relearns_per_pass` already spreads routines learned in one
    # pass (once spread, each is re-learned 6 h after its own learning), and with 1 h the
    # night-door scenario missed its alert (a re-learn moved near the outing; not yet
    # understood, see docs/benchmarks.md).
    relearn_jitter: timedelta = timedelta(0)
    # Stale routines re-learned in one pass at most; the rest keep their routine (a few hours
    # old is still the resident's routine) until a later pass. Homes without any routine are
    # always learned. Bounds a pass's CPU so the scan keeps its minute.
    max_relearns_per_pass: int = 500
    recent: timedelta = timedelta(hours=36)
    sensor_silent_after: timedelta = timedelta(days=3)
    # Decide from memory which homes need reading (hub/scan_gate.py) instead of reading every
    # home every pass; off: the per-home scan (kept to prove the gate finds the same).
    gated: bool = True
    # Every home is read at least this often, gated or not (see hub/scan_gate.py).
    full_check_every: timedelta = timedelta(hours=1)
    # Learned routines held in memory, the most recently used (hub/routine_cache.py); the
    # others are read back from the store when their home is read. None: every home's (~8 KB a
    # home: 800 MB at 100,000 homes).
    routine_cache_size: int | None = 2_000
    # The scan's memory is saved at most this often (hub/scan_memory.py; ~21 MB at 100,000
    # homes): a restart goes on from a memory up to this old, the tail brings the rest.
    memory_every: timedelta = timedelta(minutes=5)


class RoutineScanner:
    """Scans all homes; owns one store connection, so use it from one thread."""

    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        stats: HubStats,
        on_alert: Callable[[AlertRecord], None] | None = None,
        settings: ScanSettings | None = None,
        ask_first: Callable[[str], bool] | None = None,
        answers: Callable[[str, datetime], tuple[int, int]] | None = None,
        ownership: Ownership = EVERY_HOME,
        memory_file: Path | None = None,
    ) -> None:
        # Several hubs: only the homes whose partition this hub holds (hub/coordination.py).
        self.ownership = ownership
        self.store = store
        self.clock = clock
        self.stats = stats
        self.on_alert = on_alert
        self.settings = settings or ScanSettings()
        # Homes whose kit asks "Are you OK?" are judged at the lower asking limit: the alert
        # engine holds such an alert as 'asking' and pages a worker only if nobody answers.
        self.ask_first = ask_first or (lambda _home_id: False)
        # (answered, unanswered) check-in prompts of a home since a time: the home's own
        # answers set how low its asking limit may go. None: the prior answer rate only.
        self.answers = answers
        self.routines = RoutineCache(store, self.settings.routine_cache_size)
        self._relearns_left = self.settings.max_relearns_per_pass
        self.gate = ScanGate(self.settings.full_check_every) if self.settings.gated else None
        # The gate saved after each pass and read back at the first (hub/scan_memory.py).
        fingerprint = (
            code_fingerprint(repr(self.settings))
            if memory_file is not None and self.gate is not None
            else None
        )
        self.memory_file = memory_file if fingerprint is not None else None
        self._fingerprint = fingerprint or ""
        self._memory_read = False
        self._memory_saved_s = -float("inf")
        self._partitions = np.zeros(0, dtype=np.int64)  # per gate row; -1: not partitioned
        self._look: HomeLook | None = None
        self._last_any_s = float("nan")  # the newest sensor state of the home being read

    def scan(self) -> list[AlertRecord]:
        """Check every home once at the clock's now; return the alerts newly raised.

        Each home's writes (its routine, its alerts) are committed on their own before the next
        home is read: the pass never holds the database's write lock for longer than one home,
        so ingest and help presses never wait behind a pass, and an alert found early in a
        long pass reaches the engine at once instead of at the pass's end.
        """
        now = self.clock.now()
        raised: list[AlertRecord] = []
        self._relearns_left = self.settings.max_relearns_per_pass
        if not self._memory_read:
            self._memory_read = True
            self._read_memory(now)
        offline_homes = self._sync_registrations()
        # Only the homes this hub holds (all of them without leases); a home taken over from
        # another hub is new to the gate, so it is read at once.
        homes = [h for h in self.store.homes() if self.ownership.owns(h.id)]
        if self.gate is not None:
            homes = self._gated(homes, now)
        for home in homes:
            self._look = None
            try:
                found = self._scan_home(home, now, home.id in offline_homes)
                self.store.commit()
            except DetectorError as exc:
                # One home's odd data must not stop the scan of the others.
                self.store.rollback()
                self.stats.incr("scan_errors")
                _LOGGER.warning("routine scan of %s failed: %s", home.id, exc)
                if self.gate is not None:
                    self.gate.looked(home.id, now.timestamp(), None)
                continue
            if self.gate is not None:
                self.gate.looked(home.id, now.timestamp(), self._look)
            raised.extend(found)
            for alert in found:
                self.stats.incr("alerts_raised")
                _LOGGER.warning(
                    "ALERT %s (%s) in home %s", alert.kind, alert.severity, alert.home_id
                )
                if self.on_alert is not None:
                    self.on_alert(alert)
        self.stats.incr("scans")
        if self.gate is not None and self.memory_file is not None:
            self._save_memory(now)
        return raised

    def _read_memory(self, now: datetime) -> None:
        if self.memory_file is None:
            return
        conn = self.store.connection
        gate = load_scan_memory(
            self.memory_file,
            now_s=now.timestamp(),
            fingerprint=self._fingerprint,
            last_event_id=last_event_id(conn),
            identity_of=lambda event_id: event_identity(conn, event_id),
            full_check_every=self.settings.full_check_every,
        )
        if gate is not None:
            # Routines stored after the save (a pass cut short by the stop, another hub).
            gate.refresh_routine_ages(self.store.routine_ages())
            self.gate = gate
            self.stats.incr("scan_memory_loaded")

    def _save_memory(self, now: datetime) -> None:
        assert self.gate is not None and self.memory_file is not None
        now_s = now.timestamp()
        if now_s - self._memory_saved_s < self.settings.memory_every.total_seconds():
            return
        tail = self.gate.tail_id or 0
        try:
            save_scan_memory(
                self.memory_file, self.gate, saved_at_s=now_s, fingerprint=self._fingerprint,
                tail_identity=event_identity(self.store.connection, tail),
            )  # fmt: skip
            self._memory_saved_s = now_s
        except OSError as exc:
            # Costs the next start a full pass, nothing more: the scan goes on.
            self.stats.incr("scan_memory_save_errors")
            _LOGGER.warning("scan memory %s not saved: %s", self.memory_file, exc)

    def _sync_registrations(self) -> set[str]:
        """Read every held home's registration, a chunk of homes at a time (no KitRecord of
        every kit held for the pass): its digest to the gate; return the homes whose kits are
        all offline."""
        offline_homes: set[str] = set()

        def registrations() -> Iterator[tuple[str, bytes]]:
            for reg in home_registrations(self.store.connection):
                if not self.ownership.owns(reg.home_id):
                    continue
                if reg.offline:
                    offline_homes.add(reg.home_id)
                # Asking first changes the home's limits: a change (a new alerts file read at
                # a restart) must make the gate read the home, as a registration change does.
                asks = self.ask_first(reg.home_id)
                yield reg.home_id, _asking_first(reg.digest) if asks else reg.digest

        if self.gate is not None:
            self.gate.sync_digests(registrations())
        else:
            for _ in registrations():
                pass
        return offline_homes

    def _gated(self, homes: list[HomeRecord], now: datetime) -> list[HomeRecord]:
        """The homes the gate says need reading this pass, in id order (a home registered
        since the registrations were read waits for the next pass)."""
        assert self.gate is not None
        gate = self.gate
        now_s = now.timestamp()
        conn = self.store.connection
        if gate.tail_id is None:
            # Rebuilt (a start or restart): every home is read this pass, from here on the
            # tail; an event stored meanwhile is both read and in the tail, which costs nothing.
            gate.tail_id = last_event_id(conn)
        else:
            while True:
                rows = activity_after(conn, gate.tail_id, _TAIL_CHUNK)
                gate.feed(rows, now_s)
                if len(rows) < _TAIL_CHUNK:
                    break
        gate.hold(*self._holdings())
        wanted = set(
            gate.due(
                now_s,
                recent_s=self.settings.recent.total_seconds(),
                relearn_budget=self.settings.max_relearns_per_pass,
            )
        )
        self.stats.incr("scan_homes_read", len(wanted))
        return [h for h in homes if h.id in wanted]

    def _holdings(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Per gate row, the lease partition of the home (-1: not partitioned) and the fencing
        epoch under which this hub holds it (0 for a hub alone; -1: not held)."""
        assert self.gate is not None
        ids = self.gate.ids
        if len(self._partitions) < len(ids):  # a home's partition never changes: once each
            extra = [self.ownership.partition(h) for h in ids[len(self._partitions) :]]
            self._partitions = np.concatenate(
                [self._partitions, np.array([-1 if p is None else p for p in extra], np.int64)]
            )
        held = self.ownership.held()
        by_partition = np.full(max(held, default=0) + 1, -1, dtype=np.int64)
        for partition, epoch in held.items():
            by_partition[partition] = epoch
        parts = self._partitions[: len(ids)]
        known = (parts >= 0) & (parts < len(by_partition))
        epochs = np.where(parts < 0, 0, -1).astype(np.int64)
        epochs[known] = by_partition[parts[known]]
        return parts, epochs

    def _lifetime(self, home_id: str) -> timedelta:
        share = zlib.crc32(home_id.encode()) / 0xFFFFFFFF
        return self.settings.relearn_every - share * self.settings.relearn_jitter

    def _stale(self, home_id: str, learned_at: datetime, now: datetime) -> bool:
        """Whether a routine learned at `learned_at` is due for re-learning (per-home jitter)."""
        return now - learned_at >= self._lifetime(home_id)

    def _events(
        self, home: HomeRecord, since: datetime, offset_s: float, now: datetime
    ) -> ActivityEvents:
        # An event stamped after now (a kit's clock ahead) is not history yet: it must not
        # hide the silence that is happening now.
        rows = [
            r
            for r in self.store.activity_events(home.id, since, until=now)
            if r[0] <= now.timestamp() and r[3] in _KINDS
        ]
        places = self.store.sensor_places(home.id)
        return ActivityEvents.build(
            times_s=np.array([r[0] for r in rows], dtype=np.float64),
            places=np.array([_PLACES[places.get((r[1], r[2]), "other")] for r in rows]),
            kinds=np.array([_KINDS[r[3]] for r in rows]),
            rooms=[r[4] or r[2] for r in rows],
            utc_offset_s=offset_s,
        )

    def _routine(
        self, home: HomeRecord, now: datetime, offset_s: float
    ) -> tuple[datetime, Routine]:
        """The home's routine and when it was learned, learning it if it is missing or stale."""
        # From memory or read back from the store (an unreadable one is learned again below).
        cached = self.routines.get(home.id)
        if cached is not None and cached[1].sensitivity == _SENSITIVITY.get(
            home.risk_level, "normal"
        ):
            if not self._stale(home.id, cached[0], now):
                return cached
            if self._relearns_left <= 0:
                self.stats.incr("relearns_deferred")
                return cached
            self._relearns_left -= 1
        history = self._events(home, now - self.settings.history, offset_s, now)
        answer_rate = None
        if self.answers is not None:
            answered, unanswered = self.answers(home.id, now - self.settings.history)
            answer_rate = answer_rate_estimate(answered, unanswered)
        routine = learn_routine(
            history,
            now.timestamp(),
            sensitivity=_SENSITIVITY.get(home.risk_level, "normal"),
            answer_rate=answer_rate,
        )
        self.store.save_routine(home.id, now, routine.to_dict())
        # Committed at once: the rest of this home's check must not run holding the lock.
        self.store.commit()
        self.routines.put(home.id, now, routine)
        self.stats.incr("routines_learned")
        return now, routine

    def _scan_home(self, home: HomeRecord, now: datetime, offline: bool) -> list[AlertRecord]:
        offset = ZoneInfo(home.timezone).utcoffset(now)
        offset_s = offset.total_seconds() if offset is not None else 0.0
        # Read before the home's events: every event up to this id is in what is read below.
        seen_id = last_event_id(self.store.connection) if self.gate is not None else 0
        recent = self._events(home, now - self.settings.recent, offset_s, now)
        if len(recent) == 0:
            self._note_look(home, now, None, recent, seen_id, offset_s, False, float("inf"))
            return []  # a home that has never spoken has no routine to break (kit alerts do)
        learned_at, routine = self._routine(home, now, offset_s)
        # A silence while the kit was dark (power cut, no network) is not the resident's.
        back = self.store.watched_since(home.id)
        ask_first = self.ask_first(home.id)
        findings = check_home(
            routine,
            recent,
            now.timestamp(),
            ask_first=ask_first,
            watched_since_s=back.timestamp() if back is not None else None,
        )
        # Read before the first raise: the write lock is held from it to the commit below.
        silent, silent_due = self._silent_sensors(home, now, routine)
        raised = []
        for finding in findings:
            if offline and finding.rule in _SILENCE_RULES:
                self.stats.incr("held_back_kit_offline")
                continue
            alert = self._raise(home, finding, now, routine)
            if alert is not None:
                raised.append(alert)
        silent_kind = AlertKind.SENSOR_SILENT
        if silent and self.store.open_alert(home.id, silent_kind) is None:
            record, _ = self.store.raise_alert(
                NewAlert(
                    home.id, silent_kind.value, silent_kind.severity.value, now, None, silent
                )
            )
            raised.append(record)
        # Committed at once, not after the look is noted: the scan process runs at a lower CPU
        # priority (scan_nice), and ingest must not wait for it while it holds the lock.
        self.store.commit()
        if self.gate is not None:
            try:
                self._note_look(
                    home,
                    now,
                    routine,
                    recent,
                    seen_id,
                    offset_s,
                    bool(findings) or silent is not None,
                    silent_due,
                    ask_first=ask_first,
                    watched_since_s=back.timestamp() if back is not None else None,
                    learned_at=learned_at,
                )
            except DetectorError as exc:
                # The alerts are committed: they are still announced; with no plan the home is
                # read again at the next pass.
                self._look = None
                self.stats.incr("scan_errors")
                _LOGGER.warning("planning the next look at %s failed: %s", home.id, exc)
        return raised

    def _note_look(
        self,
        home: HomeRecord,
        now: datetime,
        routine: Routine | None,
        recent: ActivityEvents,
        seen_id: int,
        offset_s: float,
        rule_speaks: bool,
        silent_due_s: float,
        *,
        ask_first: bool = False,
        watched_since_s: float | None = None,
        learned_at: datetime | None = None,
    ) -> None:
        """Leave what this look found for the gate: when the home needs reading again."""
        if self.gate is None:
            return
        now_s = now.timestamp()
        ahead = first_event_after(
            self.store.connection, home.id, now_s, self.gate.tail_id or 0
        )
        kitchen = recent.times_s[recent.places == Place.KITCHEN]
        nan = float("nan")
        if routine is None:
            look_plan = CheckPlan(nan, float("inf"), float("inf"))
            lead = lead_vacated = 0.0  # no routine yet: any new event is read at once
            watch = False
        else:
            look_plan = plan_next_check(
                routine, recent, now_s, ask_first=ask_first, watched_since_s=watched_since_s
            )
            lead = new_event_lead_s(routine, ask_first=ask_first)
            lead_vacated = new_event_lead_s(routine, ask_first=ask_first, vacated=True)
            watch = routine.learned and routine.kitchen_day_rate >= 0.9
            assert learned_at is not None  # a routine comes with when it was learned
            self.gate.set_routine_age(home.id, learned_at, self._lifetime(home.id))
        self._look = HomeLook(
            plan=look_plan,
            lead_s=lead,
            lead_vacated_s=lead_vacated,
            newest_seen_s=float(recent.times_s.max()) if len(recent) else nan,
            last_any_s=self._last_any_s if routine is not None else nan,
            last_kitchen_s=float(kitchen.max()) if kitchen.size else nan,
            kitchen_watch=watch,
            kitchen_after_s=_RULES.kitchen_check_after_s,
            utc_offset_s=offset_s,
            seen_id=seen_id,
            rule_speaks=rule_speaks,
            soonest_s=min(silent_due_s, ahead if ahead is not None else float("inf")),
        )

    def _silent_sensors(
        self, home: HomeRecord, now: datetime, routine: Routine
    ) -> tuple[dict[str, object] | None, float]:
        """Motion sensors quiet for days while the rest of the home is not (battery, moved,
        broken) — including sensors that never reported once the home has days of history.

        Also returns when, with no new event, a sensor would next count as quiet (inf: none).
        """
        limit = self.settings.sensor_silent_after
        last_seen = {
            (s.kit_id, s.sensor_id): s.occurred_at for s in self.store.sensor_states(home.id)
        }
        self._last_any_s = max(last_seen.values()).timestamp() if last_seen else float("nan")
        if not last_seen or now - max(last_seen.values()) > timedelta(hours=24):
            # The whole home is quiet: that is the silence rules' business (a new event makes
            # the gate read the home again at once).
            return None, float("inf")
        motion = [
            (kit_id, sensor_id, room)
            for kit_id, sensor_id, kind, room in home_sensors(self.store.connection, home.id)
            if kind == "motion"
        ]
        due = min(
            (
                (seen + limit).timestamp()
                for kit_id, sensor_id, _room in motion
                if (seen := last_seen.get((kit_id, sensor_id))) is not None
            ),
            default=float("inf"),
        )
        quiet = []
        for kit_id, sensor_id, room in motion:
            seen = last_seen.get((kit_id, sensor_id))
            if seen is None and routine.history_days * 86_400 < limit.total_seconds():
                continue  # a new kit: the walk test, not this rule, proves its sensors
            if seen is None or now - seen > limit:
                quiet.append(
                    {
                        "sensor": sensor_id,
                        "room": room,
                        "last_seen": seen.isoformat() if seen else None,
                    }
                )
        if not quiet:
            return None, due
        days = int(limit.total_seconds() // 86_400)
        return {
            "rule": AlertKind.SENSOR_SILENT.value,
            "sensors": quiet,
            "explanation": {
                lang: text(
                    "explain_sensor_silent",
                    lang,
                    days=days,
                    rooms=", ".join(room_name(str(q["room"]), lang) for q in quiet),
                )
                for lang in LANGUAGES
            },
        }, due

    def _raise(
        self, home: HomeRecord, finding: Finding, now: datetime, routine: Routine
    ) -> AlertRecord | None:
        kind, severity = RULE_ALERTS[finding.rule]
        if self.store.open_alert(home.id, kind) is not None:
            return None  # already open: the scan runs every minute, the alert is raised once
        detail = {
            "rule": finding.rule,
            "since": datetime.fromtimestamp(finding.since_s, now.tzinfo).isoformat(),
            "duration_s": round(finding.duration_s),
            "limit_s": round(finding.limit_s),
            "usual_s": round(finding.usual_s, 3),
            "room": finding.last_room,
            "routine_learned": routine.learned,
            "seated": finding.seated,
            "asking": finding.asking,
            "explanation": explain_finding(
                finding.rule,
                finding.duration_s,
                finding.usual_s,
                finding.last_room,
                finding.local_time_of_day_s,
                seated=finding.seated,
            ),
        }
        record, _ = self.store.raise_alert(
            NewAlert(home.id, kind, severity, now, source_event_id=None, detail=detail)
        )
        return record
