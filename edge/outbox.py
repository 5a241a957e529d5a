"""The kit's durable outbox: every event is on disk before it is sent, and leaves only after PUBACK.

One SQLite file (WAL, synchronous=FULL) holds the queued events, the kit's epoch and its next
sequence number, so a sequence number is never reused after a power cut. The outbox is bounded by
age and size; when it must shed, the oldest routine events go first and are counted. Help-button,
fall and accelerometer events are never dropped.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mehr.contract import URGENT_EVENT_KINDS, SensorKind, TopicKind

__all__ = ["CRITICAL_KINDS", "Outbox", "OutboxRow"]

_LOGGER = logging.getLogger(__name__)

# Events a person's safety hangs on: never dropped, sent before routine ones.
# The critical events are exactly the urgent topic's kinds (edge/link.py sends them there).
CRITICAL_KINDS = URGENT_EVENT_KINDS | {SensorKind.ACCEL_WINDOW}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    critical INTEGER NOT NULL,
    created_at REAL NOT NULL,
    size INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_critical ON outbox(critical, seq);
CREATE TABLE IF NOT EXISTS sensor_last (sensor TEXT PRIMARY KEY, at REAL NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One queued message."""

    seq: int
    topic: TopicKind
    critical: bool
    payload: bytes


class Outbox:
    """A thread-safe durable queue of this kit's sequenced messages."""

    def __init__(
        self,
        path: Path,
        max_age: timedelta = timedelta(days=7),
        max_bytes: int = 50 * 1024 * 1024,
        synchronous: str = "FULL",
    ) -> None:
        self.path = path
        self.max_age = max_age
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection shared under a lock: GPIO callback threads append, the link thread
        # reads and deletes. isolation_level=None so each BEGIN/COMMIT is ours.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed event survives a power cut, not only a crash of the process.
        mode = "FULL" if synchronous == "FULL" else "NORMAL"
        self._db.execute(f"PRAGMA synchronous={mode}")
        self._db.executescript(_SCHEMA)
        with self._tx():
            # The epoch is made once, with the database; a new SD card means a new epoch, so
            # the hub never mistakes a restarted sequence for duplicates.
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('epoch', ?)",
                (secrets.randbelow(2**62) + 1,),
            )
            self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('next_seq', 1)")
            self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('dropped', 0)")
        self.epoch = self._meta("epoch")
        row = self._db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM outbox").fetchone()
        self._bytes, self._depth = int(row[0]), int(row[1])

    # -- internals ------------------------------------------------------------------------------

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    def _meta(self, key: str) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()[0])

    # -- writing --------------------------------------------------------------------------------

    def append(
        self,
        build: Callable[[int], tuple[TopicKind, bytes]],
        *,
        critical: bool,
        now: datetime,
        sensor: str | None = None,
    ) -> int:
        """Allocate the next seq, build the payload with it and store both durably; return seq."""
        with self._lock, self._tx():
            seq = self._meta("next_seq")
            topic, payload = build(seq)
            self._db.execute(
                "INSERT INTO outbox(seq, topic, critical, created_at, size, payload) "
                "VALUES (?,?,?,?,?,?)",
                (seq, topic.value, int(critical), now.timestamp(), len(payload), payload),
            )
            self._db.execute("UPDATE meta SET value=? WHERE key='next_seq'", (seq + 1,))
            if sensor is not None:
                self._db.execute(
                    "INSERT INTO sensor_last(sensor, at) VALUES (?, ?) "
                    "ON CONFLICT(sensor) DO UPDATE SET at=excluded.at",
                    (sensor, now.timestamp()),
                )
            self._bytes += len(payload)
            self._depth += 1
            if self._bytes > self.max_bytes:
                self._shed_locked(now)
        return seq

    def delete(self, seqs: Iterable[int]) -> int:
        """Remove acknowledged messages in one transaction; return how many were present."""
        batch = [(s,) for s in seqs]
        if not batch:
            return 0
        removed = 0
        freed = 0
        with self._lock, self._tx():
            for params in batch:
                rows = self._db.execute(
                    "DELETE FROM outbox WHERE seq=? RETURNING size", params
                ).fetchall()
                if rows:
                    removed += 1
                    freed += int(rows[0][0])
            self._bytes -= freed
            self._depth -= removed
        return removed

    def enforce_bounds(self, now: datetime) -> int:
        """Drop routine events that are too old or over the size limit; return how many."""
        with self._lock, self._tx():
            return self._shed_locked(now)

    def _shed_locked(self, now: datetime) -> int:
        cutoff = (now - self.max_age).timestamp()
        dropped = self._db.execute(
            "DELETE FROM outbox WHERE critical=0 AND created_at < ?", (cutoff,)
        ).rowcount
        row = self._db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM outbox").fetchone()
        self._bytes, self._depth = int(row[0]), int(row[1])
        while self._bytes > self.max_bytes:
            # Oldest routine events first, in chunks, until under the limit (or none left).
            victims = self._db.execute(
                "SELECT seq, size FROM outbox WHERE critical=0 ORDER BY seq LIMIT 256"
            ).fetchall()
            if not victims:
                _LOGGER.warning(
                    "outbox over its limit (%d bytes) with only critical events; keeping them",
                    self._bytes,
                )
                break
            freed = 0
            cut: list[tuple[int]] = []
            for seq, size in victims:
                cut.append((seq,))
                freed += size
                if self._bytes - freed <= self.max_bytes:
                    break
            self._db.executemany("DELETE FROM outbox WHERE seq=?", cut)
            self._bytes -= freed
            self._depth -= len(cut)
            dropped += len(cut)
        if dropped:
            self._db.execute("UPDATE meta SET value=value+? WHERE key='dropped'", (dropped,))
            _LOGGER.warning("outbox full or stale: dropped %d routine events", dropped)
        return dropped

    # -- reading --------------------------------------------------------------------------------

    def pending(self, *, critical: bool, after_seq: int, limit: int) -> list[OutboxRow]:
        """Return up to `limit` queued messages of one class with seq > after_seq, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload FROM outbox WHERE critical=? AND seq>? "
                "ORDER BY seq LIMIT ?",
                (int(critical), after_seq, limit),
            ).fetchall()
        return [OutboxRow(s, TopicKind(t), critical, bytes(p)) for s, t, p in rows]

    def get(self, seqs: Sequence[int]) -> list[OutboxRow]:
        """Return the queued messages with these seqs (those still present)."""
        out: list[OutboxRow] = []
        with self._lock:
            for seq in seqs:
                row = self._db.execute(
                    "SELECT seq, topic, critical, payload FROM outbox WHERE seq=?", (seq,)
                ).fetchone()
                if row is not None:
                    out.append(OutboxRow(row[0], TopicKind(row[1]), bool(row[2]), bytes(row[3])))
        return out

    @property
    def depth(self) -> int:
        """How many messages wait to be acknowledged."""
        with self._lock:
            return self._depth

    @property
    def size_bytes(self) -> int:
        """Sum of the queued payloads' sizes (what the size bound counts)."""
        with self._lock:
            return self._bytes

    @property
    def dropped(self) -> int:
        """Routine events dropped since the database was made."""
        with self._lock:
            return self._meta("dropped")

    @property
    def next_seq(self) -> int:
        """The sequence number the next event will get."""
        with self._lock:
            return self._meta("next_seq")

    def sensor_last(self) -> dict[str, datetime]:
        """Each sensor's last signal time, as recorded with its events."""
        with self._lock:
            rows = self._db.execute("SELECT sensor, at FROM sensor_last").fetchall()
        return {sensor: datetime.fromtimestamp(at, UTC) for sensor, at in rows}

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
