"""Several hubs on one database: which hub does each home's work (scans, alert engine).

Ingest is replicated (every hub stores every event; the events' unique key keeps one copy),
but work is partitioned: homes fall into `partitions` buckets by a stable hash of their id,
and each bucket is leased to one hub in `hub_leases` (hub/persistence/leases.py). A hub
renews its leases every `renew_s`; a lease not renewed for `ttl_s` expires and a live hub
claims it, so a dead hub's homes are taken over within `ttl_s + renew_s`. Live hubs share the
buckets evenly (each takes ceil(partitions / live hubs)). A hub acts on a home only while its
own clock is more than `margin_s` inside the lease it committed: hubs' clocks must agree to
well within that margin (NTP). See docs/scale.md, "Several hubs".
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import sqlalchemy

from hub.persistence import leases as leases_repo
from hub.persistence.connection import Connection, CoreConnection
from hub.persistence.database import open_connection, write_transaction
from hub.persistence.leases import Lease
from mehr.clock import Clock

__all__ = [
    "EVERY_HOME",
    "CoreTransactions",
    "DatabaseTransactions",
    "HeldLeases",
    "LeaseCoordinator",
    "LeaseSettings",
    "Ownership",
    "OwnershipOfOnePass",
    "SettledOwnership",
    "Transactions",
    "area_key",
    "partition_of",
]

_LOGGER = logging.getLogger(__name__)

Transactions = Callable[[], AbstractContextManager[Connection]]


def partition_of(key: str, partitions: int) -> int:
    """The partition of a home (or area) id: stable across processes, machines and versions
    (BLAKE2b of the UTF-8 id; Python's own hash() is salted per process).

    Not CRC-32: it is linear, so ids that differ in a pattern land in partitions that follow
    the pattern — measured, every 5th of h000…h099 fell in the upper half of 64 partitions, all
    on one hub (bench/hubs_cluster.py's help presses). A mixing hash spreads any subset.
    """
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def area_key(mahalla: str, home_id: str) -> str:
    """The key of work done for a whole mahalla (area outages, cold areas): the id its area
    alerts carry, so the hub that raises an area alert is the one that escalates it. A home with
    no mahalla is its own area."""
    return f"area:{mahalla}" if mahalla else home_id


class Ownership(Protocol):
    """Whether this hub does the work of a home (or an `area_key`) right now."""

    def owns(self, key: str) -> bool: ...

    def held(self) -> dict[int, int]:
        """Partition -> fencing epoch of what is held (a new pair: a partition taken over)."""
        ...

    def partition(self, key: str) -> int | None:
        """The partition of a key (None: not partitioned, one hub does everything)."""
        ...


class _EveryHome:
    """One hub alone: it does every home's work (the default, and the demo)."""

    def owns(self, key: str) -> bool:
        return True

    def held(self) -> dict[int, int]:
        return {}

    def partition(self, key: str) -> int | None:
        return None


EVERY_HOME: Ownership = _EveryHome()


class SettledOwnership:
    """What the alert engine's critical lane may act on: the homes held now whose partitions the
    full engine has settled, i.e. marked the sends their last holder was killed in "unknown"
    (at the engine's start, and after each takeover). Until the first settling, nothing.

    Acting on a partition before that would send an alert's next step ahead of the record that
    its earlier send's outcome is unknown, as OwnershipOfOnePass explains for one engine.
    """

    def __init__(self, live: Ownership) -> None:
        self.live = live
        self._settled: dict[int, int] | None = None

    def settle(self, held: dict[int, int]) -> None:
        """The full engine has settled these partitions (at these epochs)."""
        self._settled = dict(held)

    def owns(self, key: str) -> bool:
        settled = self._settled
        if settled is None or not self.live.owns(key):
            return False
        partition = self.live.partition(key)
        if partition is None:
            return True
        epoch = settled.get(partition)
        return epoch is not None and self.live.held().get(partition) == epoch

    def held(self) -> dict[int, int]:
        settled = self._settled or {}
        live = self.live.held()
        return {p: e for p, e in settled.items() if live.get(p) == e}

    def partition(self, key: str) -> int | None:
        return self.live.partition(key)


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    """How homes are split and how fast a dead hub's share is taken over."""

    partitions: int = 64
    ttl_s: float = 15.0
    renew_s: float = 5.0
    margin_s: float = 1.0

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError("partitions must be at least 1")
        if not 0 < self.renew_s < self.ttl_s:
            raise ValueError("renew_s must be above 0 and below ttl_s (a lease must outlive a "
                             "renewal)")
        if not 0 <= self.margin_s < self.ttl_s - self.renew_s:
            raise ValueError("margin_s must be below ttl_s - renew_s")

    @property
    def takeover_bound_s(self) -> float:
        """The longest a dead hub's homes go without a hub: its lease runs out, then a live hub
        claims it at its next renewal."""
        return self.ttl_s + self.renew_s


class OwnershipOfOnePass:
    """What one pass of the alert engine acts on: the partitions held when the pass began.

    The leases are renewed in another thread, so a partition can be taken over in the middle of
    a pass. Acting on it at once would send its next step before the pass that settles the
    sends its dead holder was killed in (marked "unknown", then escalated on): a partition
    taken over mid-pass is left to the next pass, which settles those sends first.
    """

    def __init__(self, live: Ownership) -> None:
        self.live = live
        self._at_start: dict[int, int] = live.held()

    def begin_pass(self) -> dict[int, int]:
        """Take what is held now as this pass's view; return it (partition -> epoch)."""
        self._at_start = self.live.held()
        return self._at_start

    def owns(self, key: str) -> bool:
        if not self.live.owns(key):
            return False  # lost, or about to expire: never act on it, not even this pass
        partition = self.live.partition(key)
        if partition is None:
            return True
        # Same epoch too: lost and taken back within one long pass, it is a new takeover
        # whose dead holder's sends the next pass settles first.
        epoch = self._at_start.get(partition)
        return epoch is not None and self.live.held().get(partition) == epoch

    def held(self) -> dict[int, int]:
        return self._at_start

    def partition(self, key: str) -> int | None:
        return self.live.partition(key)


class HeldLeases:
    """This hub's leases as the database has them, for a process that does not renew them
    (the scan process): `refresh()` reads them, `owns` checks them against the clock."""

    def __init__(
        self, conn: Connection, hub_id: str, clock: Clock, settings: LeaseSettings
    ) -> None:
        self.conn = conn
        self.hub_id = hub_id
        self.clock = clock
        self.settings = settings
        self._held: dict[int, Lease] = {}

    def refresh(self) -> None:
        """Read which leases this hub holds now (call at the start of each pass)."""
        self._held = {
            lease.partition: lease
            for lease in leases_repo.leases(self.conn)
            if lease.holder == self.hub_id
        }

    def owns(self, key: str) -> bool:
        """As LeaseCoordinator.owns."""
        lease = self._held.get(partition_of(key, self.settings.partitions))
        margin = timedelta(seconds=self.settings.margin_s)
        return lease is not None and self.clock.now() + margin < lease.expires_at

    def held(self) -> dict[int, int]:
        """Partition -> epoch, as last read."""
        return {p: lease.epoch for p, lease in self._held.items()}

    def partition(self, key: str) -> int | None:
        return partition_of(key, self.settings.partitions)


class DatabaseTransactions:
    """Write transactions on one connection of the coordinator's own to the hub's database
    (a SQLite file or a PostgreSQL URL; opened on first use, used by one thread at a time:
    start() and then the renewal thread)."""

    def __init__(self, database: Path | str) -> None:
        self.database = database
        self._conn: Connection | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Connection]:
        if self._conn is None:
            self._conn = open_connection(self.database, shared_between_threads=True)
        with write_transaction(self._conn) as conn:
            yield conn

    def close(self) -> None:
        """Close the connection, if open."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class LeaseCoordinator:
    """Holds this hub's share of the partitions: claims, renews, balances and releases them."""

    def __init__(
        self,
        transaction: Transactions,
        hub_id: str,
        clock: Clock,
        settings: LeaseSettings | None = None,
    ) -> None:
        self.transaction = transaction
        self.hub_id = hub_id
        self.clock = clock
        self.settings = settings or LeaseSettings()
        self._held: dict[int, Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._random = random.Random(hub_id)  # claim order: spread, and reproducible per hub
        self.rounds = 0
        self.round_errors = 0

    # -- what the scans and the alert engine ask ------------------------------------------------

    def owns(self, key: str) -> bool:
        """True while this hub holds the lease of the key's partition, with `margin_s` to spare."""
        lease = self._held.get(partition_of(key, self.settings.partitions))
        if lease is None:
            return False
        margin = timedelta(seconds=self.settings.margin_s)
        return self.clock.now() + margin < lease.expires_at

    def held(self) -> dict[int, int]:
        """Partition -> epoch of every lease held now (the engine compares epochs to see which
        partitions it newly took over)."""
        with self._lock:
            return {p: lease.epoch for p, lease in self._held.items()}

    def partition(self, key: str) -> int | None:
        return partition_of(key, self.settings.partitions)

    # -- one round ------------------------------------------------------------------------------

    def run_round(self) -> None:
        """Say we are alive, renew what we hold, then give up or claim partitions so that the
        live hubs hold equal shares. One transaction."""
        settings = self.settings
        with self.transaction() as conn:
            # Read the clock once the transaction holds the database (SQLite's BEGIN IMMEDIATE
            # may have waited for the write lock): a lease runs a full TTL from its commit.
            now = self.clock.now()
            until = now + timedelta(seconds=settings.ttl_s)
            leases_repo.heartbeat(conn, self.hub_id, now, until)
            mine = {lease.partition: lease for lease in leases_repo.renew(conn, self.hub_id, until)}
            live = set(leases_repo.live_members(conn, now)) | {self.hub_id}
            share = math.ceil(settings.partitions / len(live))
            if len(mine) > share:
                # Another hub joined: hand over the surplus (highest partitions first).
                for partition in sorted(mine, reverse=True)[: len(mine) - share]:
                    leases_repo.release(conn, partition, self.hub_id, now)
                    del mine[partition]
            elif len(mine) < share:
                mine.update(self._claim_free(conn, share - len(mine), now, until, mine))
        lost = set(self._held) - set(mine)
        gained = set(mine) - set(self._held)
        with self._lock:
            self._held = mine
        self.rounds += 1
        if lost or gained:
            _LOGGER.info(
                "hub %s: %d partitions held (+%d, -%d) of %d, %d live hubs",
                self.hub_id, len(mine), len(gained), len(lost), settings.partitions, len(live),
            )

    def _claim_free(
        self, conn: Connection, wanted: int, now: datetime, until: datetime, mine: dict[int, Lease]
    ) -> dict[int, Lease]:
        """Claim up to `wanted` partitions nobody live holds (of two hubs claiming one, the
        statement lets exactly one have it)."""
        taken = {
            lease.partition
            for lease in leases_repo.leases(conn)
            if lease.expires_at >= now and lease.holder != self.hub_id
        }
        free = [p for p in range(self.settings.partitions) if p not in taken and p not in mine]
        self._random.shuffle(free)
        got: dict[int, Lease] = {}
        for partition in free:
            if len(got) >= wanted:
                break
            lease = leases_repo.claim(conn, partition, self.hub_id, now, until)
            if lease is not None:
                got[partition] = lease
        return got

    # -- the renewal thread ---------------------------------------------------------------------

    def start(self) -> None:
        """Claim a first share now (a hub alone holds everything before it starts working),
        then renew in a thread every `renew_s`."""
        self.run_round()
        self._thread = threading.Thread(target=self._run, name="hub-leases", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.renew_s):
            try:
                self.run_round()
            except Exception:
                # The leases held stay valid until they expire (owns() checks the time); the
                # next round retries. A database down for ttl_s stops this hub's work, which
                # is right: another hub may reach it.
                self.round_errors += 1
                _LOGGER.exception("lease round of hub %s failed; retrying", self.hub_id)

    def stop(self, release: bool = True) -> None:
        """Stop renewing; by default hand every partition over at once (a planned stop need
        not make the others wait for the leases to expire)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if release:
            try:
                now = self.clock.now()
                with self.transaction() as conn:
                    for partition in list(self._held):
                        leases_repo.release(conn, partition, self.hub_id, now)
                    leases_repo.leave(conn, self.hub_id)
            except Exception:
                _LOGGER.exception("releasing the leases of hub %s failed", self.hub_id)
        with self._lock:
            self._held = {}


class CoreTransactions:
    """Write transactions through a SQLAlchemy engine (PostgreSQL), one connection each."""

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self.engine = engine

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield CoreConnection(conn)
