"""Installers' test mode: a kit (or a whole home) under a walk test for a bounded time.

While a period is on, the alert engine ends every alert it covers in the state `test`: the
installer sees it, nobody is paged, and the response report leaves it out. A period ends by
itself at its end time on the injected clock (the engine records that as `expired`), or earlier
when the installer ends it. Which alerts a period covers is `covering()`; the rule and why is in
docs/alerts.md ("Test mode").
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final
from zoneinfo import ZoneInfo

from hub.alerts.lifecycle import AlertError
from hub.persistence.database import open_sqlite
from hub.persistence.schema_alerts import migrate_alerts
from hub.persistence.timestamps import from_epoch as _dt
from hub.persistence.timestamps import to_epoch as _ts
from mehr.clock import Clock

__all__ = [
    "DEFAULT_DURATION_S",
    "MAX_DURATION_S",
    "SYSTEM",
    "TestModeError",
    "TestModePeriod",
    "TestModes",
    "kit_in_test_mode",
    "kit_test_mode_off",
    "kit_test_mode_on",
    "walk_test_duration_s",
]

# Long enough for a walk test of a few rooms; short enough that a forgotten test mode does not
# leave a home unwatched for a night.
DEFAULT_DURATION_S: Final = 30 * 60.0
MAX_DURATION_S: Final = 4 * 3600.0
SYSTEM: Final = "system"


class TestModeError(AlertError, ValueError):
    """A test mode that cannot be set: unknown kit or home, or a duration out of bounds."""

    __test__: ClassVar[bool] = False  # not a pytest test class


@dataclass(frozen=True, slots=True)
class TestModePeriod:
    """One test-mode period of a kit (kit_id set) or of a whole home (kit_id None)."""

    __test__: ClassVar[bool] = False

    id: int
    home_id: str
    kit_id: str | None
    starts_at: datetime
    ends_at: datetime
    set_by: str
    ended_at: datetime | None
    ended_by: str | None

    def active_at(self, moment: datetime) -> bool:
        """True if the period covers `moment`."""
        end = self.ends_at if self.ended_at is None else min(self.ends_at, self.ended_at)
        return self.starts_at <= moment < end

    @property
    def scope(self) -> str:
        """What is under test, for messages: 'kit kit-1' or 'home home-1'."""
        return f"kit {self.kit_id}" if self.kit_id else f"home {self.home_id}"

    def describe(self, zone: str) -> str:
        """One line for the installer, with the end time in the home's time zone."""
        end = self.ends_at.astimezone(ZoneInfo(zone)).strftime("%H:%M")
        return (
            f"test mode on for {self.scope} until {end} ({zone}): its alerts page nobody and "
            "show as tests; it ends by itself then"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times ISO 8601 UTC; pages convert them to the home's zone)."""
        return {
            "id": self.id,
            "home_id": self.home_id,
            "kit_id": self.kit_id,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "set_by": self.set_by,
            "ended_at": None if self.ended_at is None else self.ended_at.isoformat(),
            "ended_by": self.ended_by,
        }


def _period(row: sqlite3.Row) -> TestModePeriod:
    return TestModePeriod(
        id=int(row["id"]),
        home_id=row["home_id"],
        kit_id=row["kit_id"],
        starts_at=_dt(row["starts_at"]),
        ends_at=_dt(row["ends_at"]),
        set_by=row["set_by"],
        ended_at=None if row["ended_at"] is None else _dt(row["ended_at"]),
        ended_by=row["ended_by"],
    )


class TestModes:
    """Test-mode periods over the hub's database (the alerts schema); one per connection."""

    __test__: ClassVar[bool] = False

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        if conn.isolation_level is not None:
            raise ValueError("TestModes needs an autocommit connection (isolation_level=None)")
        conn.row_factory = sqlite3.Row
        self.conn = conn
        self.clock = clock

    @contextmanager
    def _tx(self) -> Iterator[None]:
        # Join the caller's transaction (the engine adopting an alert) or open one.
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def _audit(
        self, period_id: int, actor: str, action: str, at: datetime, **detail: Any
    ) -> None:
        self.conn.execute(
            "INSERT INTO test_mode_audit(test_mode_id, at, actor, action, detail) "
            "VALUES (?,?,?,?,?)",
            (period_id, _ts(at), actor, action, json.dumps(detail, separators=(",", ":"))),
        )

    def _check_scope(self, home_id: str, kit_id: str | None) -> None:
        if kit_id is not None:
            row = self.conn.execute("SELECT home_id FROM kits WHERE id=?", (kit_id,)).fetchone()
            if row is None:
                raise TestModeError(f"kit {kit_id!r} is not registered at the hub")
            if row["home_id"] != home_id:
                raise TestModeError(f"kit {kit_id!r} belongs to home {row['home_id']!r}")
        elif self.conn.execute("SELECT 1 FROM homes WHERE id=?", (home_id,)).fetchone() is None:
            raise TestModeError(f"home {home_id!r} is not registered at the hub")

    def start(
        self,
        home_id: str,
        actor: str,
        *,
        kit_id: str | None = None,
        duration_s: float = DEFAULT_DURATION_S,
    ) -> TestModePeriod:
        """Put a kit (or the whole home) in test mode from now for `duration_s` seconds.

        A period already on for the same kit or home is ended and replaced (audited), so
        running a second walk test extends the time rather than stacking periods.
        """
        if not 0 < duration_s <= MAX_DURATION_S:
            raise TestModeError(
                f"test mode lasts more than 0 s and at most {MAX_DURATION_S / 3600:g} h; "
                f"got {duration_s:g} s"
            )
        now = self.clock.now()
        until = now + timedelta(seconds=duration_s)
        with self._tx():
            self._check_scope(home_id, kit_id)
            for old in self._open_of_scope(home_id, kit_id, now):
                self._end_row(old.id, actor, now, "replaced")
            cur = self.conn.execute(
                "INSERT INTO test_modes(home_id, kit_id, starts_at, ends_at, set_by, set_at) "
                "VALUES (?,?,?,?,?,?)",
                (home_id, kit_id, _ts(now), _ts(until), actor, _ts(now)),
            )
            period_id = int(cur.lastrowid or 0)
            self._audit(
                period_id, actor, "start", now, home=home_id, kit=kit_id,
                ends_at=until.isoformat(),
            )
        return TestModePeriod(period_id, home_id, kit_id, now, until, actor, None, None)

    def end(self, home_id: str, actor: str, *, kit_id: str | None = None) -> int:
        """End the test mode of this kit (or of the whole home) now; return how many ended."""
        now = self.clock.now()
        with self._tx():
            periods = self._open_of_scope(home_id, kit_id, now)
            for period in periods:
                self._end_row(period.id, actor, now, "end")
        return len(periods)

    def _end_row(self, period_id: int, actor: str, at: datetime, action: str) -> None:
        self.conn.execute(
            "UPDATE test_modes SET ended_at=?, ended_by=? WHERE id=? AND ended_at IS NULL",
            (_ts(at), actor, period_id),
        )
        self._audit(period_id, actor, action, at)

    def _open_of_scope(
        self, home_id: str, kit_id: str | None, now: datetime
    ) -> list[TestModePeriod]:
        rows = self.conn.execute(
            "SELECT * FROM test_modes WHERE home_id=? AND kit_id IS ? AND ended_at IS NULL "
            "AND ends_at>? ORDER BY id",
            (home_id, kit_id, _ts(now)),
        ).fetchall()
        return [_period(r) for r in rows]

    def current(
        self, home_id: str, kit_id: str | None = None, at: datetime | None = None
    ) -> TestModePeriod | None:
        """The period on now (or at `at`) for exactly this kit, or the whole home if None."""
        moment = _ts(at or self.clock.now())
        row = self.conn.execute(
            "SELECT * FROM test_modes WHERE home_id=? AND kit_id IS ? AND starts_at<=? "
            "AND ends_at>? AND (ended_at IS NULL OR ended_at>?) ORDER BY ends_at DESC LIMIT 1",
            (home_id, kit_id, moment, moment, moment),
        ).fetchone()
        return None if row is None else _period(row)

    def covering(
        self, home_id: str, source_kit: str | None, at: datetime
    ) -> TestModePeriod | None:
        """The period that makes an alert of this home, raised at `at`, a test; or None.

        A whole-home period covers every alert of the home. A kit's period covers the alerts
        from that kit's own events, and the home's alerts that come from no kit (the routine
        scan: a walk test is unusual activity); an alert from another kit of the home is real.
        """
        moment = _ts(at)
        row = self.conn.execute(
            "SELECT * FROM test_modes WHERE home_id=? AND starts_at<=? AND ends_at>? "
            "AND (ended_at IS NULL OR ended_at>?) AND (kit_id IS NULL OR ? IS NULL OR kit_id=?) "
            "ORDER BY ends_at DESC LIMIT 1",
            (home_id, moment, moment, moment, source_kit, source_kit),
        ).fetchone()
        return None if row is None else _period(row)

    def expire_due(self, now: datetime) -> list[TestModePeriod]:
        """End, as the system and at their end time, the periods whose time is up; audited."""
        with self._tx():
            rows = self.conn.execute(
                "SELECT * FROM test_modes WHERE ended_at IS NULL AND ends_at<=? ORDER BY id",
                (_ts(now),),
            ).fetchall()
            for row in rows:
                period = _period(row)
                self._end_row(period.id, SYSTEM, period.ends_at, "expired")
        return [
            TestModePeriod(
                p.id, p.home_id, p.kit_id, p.starts_at, p.ends_at, p.set_by, p.ends_at, SYSTEM
            )
            for p in map(_period, rows)
        ]

    def next_end(self) -> datetime | None:
        """When the next open period runs out (the engine wakes then to record it)."""
        row = self.conn.execute(
            "SELECT MIN(ends_at) FROM test_modes WHERE ended_at IS NULL"
        ).fetchone()
        return None if row[0] is None else _dt(row[0])

    def get(self, period_id: int) -> TestModePeriod | None:
        """One period by id."""
        row = self.conn.execute("SELECT * FROM test_modes WHERE id=?", (period_id,)).fetchone()
        return None if row is None else _period(row)

    def audit_trail(self, period_id: int) -> list[dict[str, Any]]:
        """Who started, replaced, ended or let expire this period, and when (oldest first)."""
        rows = self.conn.execute(
            "SELECT at, actor, action, detail FROM test_mode_audit WHERE test_mode_id=? "
            "ORDER BY id",
            (period_id,),
        ).fetchall()
        return [
            {"at": _dt(r["at"]).isoformat(), "actor": r["actor"], "action": r["action"],
             **json.loads(r["detail"])}
            for r in rows
        ]

    def test_alerts(self, period_id: int) -> list[dict[str, Any]]:
        """The alerts this period turned into tests, oldest first (the installer's screen)."""
        rows = self.conn.execute(
            "SELECT id, kind, raised_at, count, detail FROM alerts WHERE test_mode_id=? "
            "ORDER BY id",
            (period_id,),
        ).fetchall()
        return [
            {
                "id": int(r["id"]),
                "kind": r["kind"],
                "raised_at": _dt(r["raised_at"]).isoformat(),
                "count": int(r["count"]),
                "sensor": json.loads(r["detail"]).get("sensor"),
                "room": json.loads(r["detail"]).get("room"),
            }
            for r in rows
        ]


def _open(db_path: Path) -> sqlite3.Connection:
    if not db_path.exists():
        # A mistyped path must not create an empty database the hub never reads.
        raise TestModeError(f"no hub database at {db_path}")
    conn = open_sqlite(db_path)
    migrate_alerts(conn, str(db_path))
    return conn


def _home_of(conn: sqlite3.Connection, kit_id: str) -> str:
    row = conn.execute("SELECT home_id FROM kits WHERE id=?", (kit_id,)).fetchone()
    if row is None:
        raise TestModeError(f"kit {kit_id!r} is not registered at the hub")
    return str(row["home_id"])


def kit_test_mode_on(
    db_path: Path,
    kit_id: str,
    actor: str,
    clock: Clock,
    duration_s: float = DEFAULT_DURATION_S,
) -> TestModePeriod:
    """Put one kit in test mode in the hub's database (what `mehr kit check` calls first)."""
    conn = _open(db_path)
    try:
        return TestModes(conn, clock).start(
            _home_of(conn, kit_id), actor, kit_id=kit_id, duration_s=duration_s
        )
    finally:
        conn.close()


def kit_test_mode_off(db_path: Path, kit_id: str, actor: str, clock: Clock) -> int:
    """End one kit's test mode now (what `mehr kit check` calls last); return how many ended."""
    conn = _open(db_path)
    try:
        return TestModes(conn, clock).end(_home_of(conn, kit_id), actor, kit_id=kit_id)
    finally:
        conn.close()


@contextmanager
def kit_in_test_mode(
    db_path: Path, kit_id: str, actor: str, clock: Clock, duration_s: float
) -> Iterator[tuple[TestModePeriod, str]]:
    """A kit in test mode for a walk test: on at the start, off at the end (also on error);
    yields the period and the home's time zone. A killed process leaves a period that still
    ends by itself at its end time."""
    period = kit_test_mode_on(db_path, kit_id, actor, clock, duration_s)
    conn = _open(db_path)
    try:
        row = conn.execute("SELECT timezone FROM homes WHERE id=?", (period.home_id,)).fetchone()
    finally:
        conn.close()
    try:
        yield period, (row["timezone"] if row is not None else "UTC")
    finally:
        kit_test_mode_off(db_path, kit_id, actor, clock)


def walk_test_duration_s(timeout_s: float) -> float:
    """How long `mehr kit check` asks for: its own timeout and a margin, within the bounds."""
    return min(MAX_DURATION_S, max(DEFAULT_DURATION_S, timeout_s + 300.0))
