"""The registered kits as ingest checks messages against them: every kit in memory, read at
start, and each one read again when the registry says it changed (hub/persistence/
kit_changes.py) or when a message contradicts it. Also which homes are being walk-tested,
read with the registry's changes. One per writer; use from one thread.
"""

from __future__ import annotations

import sys
from datetime import datetime

from hub.persistence.kit_changes import KEPT as KEPT_CHANGES
from hub.store.base import KitRecord, Store
from mehr.clock import Clock

__all__ = ["KitCache"]

# A kit that is not in the registry is looked up again at most this often, so a flood from an
# unknown client cannot turn into a flood of database reads.
_UNKNOWN_KIT_RELOAD_S = 5.0
# How often the registry's changes are read (hub/persistence/kit_changes.py): a kit
# re-provisioned with a room renamed is stored under its new name within this. A message that
# contradicts the cache (a sensor it does not list, another home) has its kit read at once.
# Reading every cached kit again every 15 minutes instead cost, at 100,000 kits, 110 reads a
# second of the single writer's time, for changes that come a few a day.
_KIT_CHANGES_EVERY_S = 5.0
# Changes are kept a day (hub/persistence/kit_changes.py); a writer that has not looked for half
# of that forgets every kit instead of trusting what is left of them.
_FORGET_ALL_AFTER_S = KEPT_CHANGES.total_seconds() / 2


def _slim(kit: KitRecord) -> KitRecord:
    """What ingest needs of a kit (its home and sensors), for a cache that holds every kit of a
    district: the heartbeat body and availability stay in the database, and sensor ids, kinds
    and rooms are shared strings (installers give every home the same few names: about 1.5 KB a
    home less at 100,000 homes)."""
    return KitRecord(
        id=kit.id,
        home_id=kit.home_id,
        sensors={
            sys.intern(sensor): (sys.intern(kind), sys.intern(room))
            for sensor, (kind, room) in kit.sensors.items()
        },
    )


class KitCache:
    """Every registered kit ingest has met or read at start, kept up with the registry."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._kits: dict[str, KitRecord] = {}
        self._missing_checked: dict[str, datetime] = {}
        # When a kit was last read because a message contradicted the cache.
        self._forced_reads: dict[str, datetime] = {}
        # The last registry change read, and when: None until the first look or `warm`.
        self._changes_seen: int | None = None
        self._changes_read_at: datetime | None = None
        self._warmed = False
        # Homes being walk-tested (read with the registry's changes): every heartbeat written.
        self._homes_in_test_mode: frozenset[str] = frozenset()

    def warm(self) -> int:
        """Read every registered kit at once (two queries a page), before the first message;
        return how many.

        Otherwise each kit's first message after a start costs reads of its own: at a district's
        size, tens of thousands in the first seconds, while every kit is sending.
        """
        # Before the kits: a kit re-provisioned while they are read is read again after.
        self._changes_seen = self.store.last_kit_change()
        self._changes_read_at = self.clock.now()
        self._warmed = True
        count = 0
        for kit in self.store.kit_registrations():
            self._kits[kit.id] = _slim(kit)
            count += 1
        return count

    def follow_registry(self) -> None:
        """Forget the cached kits re-provisioned since the last look (every few seconds)."""
        now = self.clock.now()
        since = None
        if self._changes_read_at is not None:
            since = (now - self._changes_read_at).total_seconds()
            if 0 <= since < _KIT_CHANGES_EVERY_S:  # a clock set back: look now
                return
        self._changes_read_at = now
        self._homes_in_test_mode = self.store.homes_in_test_mode(now)
        if self._changes_seen is None or since is None or since > _FORGET_ALL_AFTER_S:
            # The first batch without warm_kits (nothing cached yet), or the first after a long
            # quiet (the urgent writer between presses; a broker outage): changes not read may
            # be gone from the table by now, so every kit is read again. A writer that read
            # every kit at start does so again now, not one kit at a time as the district
            # reconnects.
            self._kits.clear()
            self._missing_checked.clear()
            self._forced_reads.clear()
            if self._warmed:
                self.warm()
            else:
                self._changes_seen = self.store.last_kit_change()
            return
        for seq, kit_id in self.store.kit_changes_after(self._changes_seen):
            self.forget(kit_id)
            self._changes_seen = seq

    def kit(self, kit_id: str, fresh: bool = False) -> KitRecord | None:
        """The kit's home and sensors, or None if it is not registered. `fresh`: a message
        contradicted the cache (a sensor it does not list, another home), so read it again."""
        cached = self._kits.get(kit_id)
        if cached is not None and not fresh:
            return cached
        now = self.clock.now()
        if cached is not None:
            # The cache was contradicted: read again, at most once per _UNKNOWN_KIT_RELOAD_S,
            # so a kit that keeps naming a stray sensor costs no reads.
            forced = self._forced_reads.get(kit_id)
            if forced is not None and (now - forced).total_seconds() < _UNKNOWN_KIT_RELOAD_S:
                return cached
            self._forced_reads[kit_id] = now
        checked = self._missing_checked.get(kit_id)
        if checked is not None and (now - checked).total_seconds() < _UNKNOWN_KIT_RELOAD_S:
            return None
        kit = self.store.kit(kit_id)
        if kit is None:
            self._kits.pop(kit_id, None)
            if len(self._missing_checked) > 10_000:
                self._missing_checked.clear()
            self._missing_checked[kit_id] = now
            return None
        kit = _slim(kit)
        self._kits[kit_id] = kit
        return kit

    def forget(self, kit_id: str) -> None:
        """Drop a cached kit so its registration is read again (after provisioning)."""
        self._kits.pop(kit_id, None)
        self._missing_checked.pop(kit_id, None)
        self._forced_reads.pop(kit_id, None)

    def walk_tested(self, home_id: str) -> bool:
        """Whether the home had a kit in test mode at the last look at the registry."""
        return home_id in self._homes_in_test_mode
