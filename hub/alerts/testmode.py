"""Installers' test mode: a kit (or a whole home) under a walk test for a bounded time.

While a period is on, the alert engine ends every alert it covers in the state `test`: the
installer sees it, nobody is paged, and the response report leaves it out. A period ends by
itself at its end time on the injected clock (the engine records that as `expired`), or earlier
when the installer ends it. Which alerts a period covers is `covering()`; the rule and why is in
docs/alerts.md ("Test mode").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final

from hub.alerts.lifecycle import SYSTEM, AlertError
from hub.persistence import alerts as alerts_repo
from hub.persistence import kits as kits_repo
from hub.persistence import test_modes as repo
from hub.persistence.connection import Connection
from hub.persistence.database import (
    in_transaction,
    open_connection,
    parse_database_url,
    write_transaction,
)
from hub.persistence.schema_alerts import migrate_alerts
from hub.persistence.test_modes import TestModePeriod
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


class TestModeError(AlertError, ValueError):
    """A test mode that cannot be set: unknown kit or home, or a duration out of bounds."""

    __test__: ClassVar[bool] = False  # not a pytest test class


class TestModes:
    """Test-mode periods over the hub's database (the alerts schema); one per connection."""

    __test__: ClassVar[bool] = False

    def __init__(self, conn: Connection, clock: Clock) -> None:
        if isinstance(conn, sqlite3.Connection):
            if conn.isolation_level is not None:
                raise ValueError(
                    "TestModes needs an autocommit connection (isolation_level=None)"
                )
            conn.row_factory = sqlite3.Row
        self.conn = conn
        self.clock = clock

    @contextmanager
    def _tx(self) -> Iterator[None]:
        # Join the caller's transaction (the engine adopting an alert) or open one.
        if in_transaction(self.conn):
            yield
            return
        with write_transaction(self.conn):
            yield

    def _audit(
        self, period_id: int, actor: str, action: str, at: datetime, **detail: Any
    ) -> None:
        repo.audit(self.conn, period_id, actor, action, at, detail)

    def _check_scope(self, home_id: str, kit_id: str | None) -> None:
        if kit_id is not None:
            home_of_kit = kits_repo.home_of_kit(self.conn, kit_id)
            if home_of_kit is None:
                raise TestModeError(f"kit {kit_id!r} is not registered at the hub")
            if home_of_kit != home_id:
                raise TestModeError(f"kit {kit_id!r} belongs to home {home_of_kit!r}")
        elif not kits_repo.home_exists(self.conn, home_id):
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
            period_id = repo.add(
                self.conn, home_id=home_id, kit_id=kit_id, starts_at=now, ends_at=until,
                set_by=actor, set_at=now,
            )
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

    def _end_row(self, period_id: int, actor: str, at: datetime, action: str) -> bool:
        if not repo.end(self.conn, period_id, actor, at):
            return False  # ended meanwhile (another hub's engine, or a person): audited there
        self._audit(period_id, actor, action, at)
        return True

    def _open_of_scope(
        self, home_id: str, kit_id: str | None, now: datetime
    ) -> list[TestModePeriod]:
        return repo.open_of_scope(self.conn, home_id, kit_id, now)

    def current(
        self, home_id: str, kit_id: str | None = None, at: datetime | None = None
    ) -> TestModePeriod | None:
        """The period on now (or at `at`) for exactly this kit, or the whole home if None."""
        return repo.current(self.conn, home_id, kit_id, at or self.clock.now())

    def covering(
        self, home_id: str, source_kit: str | None, at: datetime
    ) -> TestModePeriod | None:
        """The period that makes an alert of this home, raised at `at`, a test; or None.

        A whole-home period covers every alert of the home. A kit's period covers the alerts
        from that kit's own events, and the home's alerts that come from no kit (the routine
        scan: a walk test is unusual activity); an alert from another kit of the home is real.
        """
        return repo.covering(self.conn, home_id, source_kit, at)

    def expire_due(self, now: datetime) -> list[TestModePeriod]:
        """End, as the system and at their end time, the periods whose time is up; audited."""
        with self._tx():
            periods = [
                period
                for period in repo.due_to_expire(self.conn, now)
                if self._end_row(period.id, SYSTEM, period.ends_at, "expired")
            ]
        return [replace(p, ended_at=p.ends_at, ended_by=SYSTEM) for p in periods]

    def next_end(self) -> datetime | None:
        """When the next open period runs out (the engine wakes then to record it)."""
        return repo.next_end(self.conn)

    def get(self, period_id: int) -> TestModePeriod | None:
        """One period by id."""
        return repo.by_id(self.conn, period_id)

    def audit_trail(self, period_id: int) -> list[dict[str, Any]]:
        """Who started, replaced, ended or let expire this period, and when (oldest first)."""
        return [
            {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, **e.detail}
            for e in repo.audit_trail(self.conn, period_id)
        ]

    def test_alerts(self, period_id: int) -> list[dict[str, Any]]:
        """The alerts this period turned into tests, oldest first (the installer's screen)."""
        return [
            {
                "id": alert.id,
                "kind": alert.kind,
                "raised_at": alert.raised_at.isoformat(),
                "count": alert.count,
                "sensor": alert.detail.get("sensor"),
                "room": alert.detail.get("room"),
            }
            for alert in alerts_repo.of_test_mode(self.conn, period_id)
        ]


def _open(db_path: Path | str) -> Connection:
    """The hub's database: a SQLite file (which must exist) or a PostgreSQL URL."""
    parsed = parse_database_url(db_path)
    if parsed.sqlite_path is not None and not parsed.sqlite_path.exists():
        # A mistyped path must not create an empty database the hub never reads.
        raise TestModeError(f"no hub database at {db_path}")
    conn = open_connection(parsed)
    try:
        migrate_alerts(conn, parsed.describe())
    except BaseException:
        conn.close()
        raise
    return conn


def _home_of(conn: Connection, kit_id: str) -> str:
    home_id = kits_repo.home_of_kit(conn, kit_id)
    if home_id is None:
        raise TestModeError(f"kit {kit_id!r} is not registered at the hub")
    return home_id


def kit_test_mode_on(
    db_path: Path | str,
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


def kit_test_mode_off(db_path: Path | str, kit_id: str, actor: str, clock: Clock) -> int:
    """End one kit's test mode now (what `mehr kit check` calls last); return how many ended."""
    conn = _open(db_path)
    try:
        return TestModes(conn, clock).end(_home_of(conn, kit_id), actor, kit_id=kit_id)
    finally:
        conn.close()


@contextmanager
def kit_in_test_mode(
    db_path: Path | str, kit_id: str, actor: str, clock: Clock, duration_s: float
) -> Iterator[tuple[TestModePeriod, str]]:
    """A kit in test mode for a walk test: on at the start, off at the end (also on error);
    yields the period and the home's time zone. A killed process leaves a period that still
    ends by itself at its end time."""
    period = kit_test_mode_on(db_path, kit_id, actor, clock, duration_s)
    conn = _open(db_path)
    try:
        home = kits_repo.home_label(conn, period.home_id)
    finally:
        conn.close()
    try:
        yield period, (home.timezone if home is not None else "UTC")
    finally:
        kit_test_mode_off(db_path, kit_id, actor, clock)


def walk_test_duration_s(timeout_s: float) -> float:
    """How long `mehr kit check` asks for: its own timeout and a margin, within the bounds."""
    return min(MAX_DURATION_S, max(DEFAULT_DURATION_S, timeout_s + 300.0))
