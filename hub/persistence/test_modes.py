"""The test-mode repository: installers' test-mode periods (`test_modes`) and their audit.

A period covers one kit (kit_id set) or a whole home (kit_id NULL). NULL-or-equal comparisons
are written out per case (`kit_id IS NULL` / `kit_id = :kit`) rather than SQLite's `IS ?`, so
the same SQL runs on PostgreSQL. The caller holds the transaction for writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from hub.persistence.connection import Connection
from hub.persistence.timestamps import from_epoch, from_epoch_or_none, to_epoch

__all__ = [
    "TestModeAuditEntry",
    "TestModePeriod",
    "add",
    "audit",
    "audit_trail",
    "by_id",
    "covering",
    "current",
    "due_to_expire",
    "end",
    "next_end",
    "open_of_scope",
]


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


@dataclass(frozen=True, slots=True)
class TestModeAuditEntry:
    """One start, replacement, end or expiry of a period."""

    __test__: ClassVar[bool] = False

    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


def _period(row: Any) -> TestModePeriod:
    return TestModePeriod(
        id=int(row["id"]),
        home_id=row["home_id"],
        kit_id=row["kit_id"],
        starts_at=from_epoch(row["starts_at"]),
        ends_at=from_epoch(row["ends_at"]),
        set_by=row["set_by"],
        ended_at=from_epoch_or_none(row["ended_at"]),
        ended_by=row["ended_by"],
    )


def _of_kit(kit_id: str | None, params: dict[str, Any]) -> str:
    """`kit_id` equal to the given kit, NULL included (portable form of SQLite's `IS ?`)."""
    if kit_id is None:
        return "kit_id IS NULL"
    params["kit"] = kit_id
    return "kit_id = :kit"


def audit(
    conn: Connection,
    period_id: int,
    actor: str,
    action: str,
    at: datetime,
    detail: dict[str, Any],
) -> None:
    """Record one start, replacement, end or expiry of a period."""
    conn.execute(
        "INSERT INTO test_mode_audit(test_mode_id, at, actor, action, detail) "
        "VALUES (:period, :at, :actor, :action, :detail)",
        {
            "period": period_id,
            "at": to_epoch(at),
            "actor": actor,
            "action": action,
            "detail": json.dumps(detail, separators=(",", ":")),
        },
    )


def add(
    conn: Connection,
    *,
    home_id: str,
    kit_id: str | None,
    starts_at: datetime,
    ends_at: datetime,
    set_by: str,
    set_at: datetime,
) -> int:
    """A new period; return its id."""
    row = conn.execute(
        "INSERT INTO test_modes(home_id, kit_id, starts_at, ends_at, set_by, set_at) "
        "VALUES (:home, :kit, :starts, :ends, :by, :at) RETURNING id",
        {
            "home": home_id,
            "kit": kit_id,
            "starts": to_epoch(starts_at),
            "ends": to_epoch(ends_at),
            "by": set_by,
            "at": to_epoch(set_at),
        },
    ).fetchone()
    return int(row[0])


def end(conn: Connection, period_id: int, actor: str, at: datetime) -> bool:
    """End a period at `at`; False (a no-op) if it has ended already — by another hub's
    engine too, so its expiry is recorded once."""
    cur = conn.execute(
        "UPDATE test_modes SET ended_at = :at, ended_by = :actor WHERE id = :id "
        "AND ended_at IS NULL",
        {"at": to_epoch(at), "actor": actor, "id": period_id},
    )
    return cur.rowcount == 1


def open_of_scope(
    conn: Connection, home_id: str, kit_id: str | None, now: datetime
) -> list[TestModePeriod]:
    """Periods of exactly this kit (or the whole home) not ended and not run out by `now`."""
    params: dict[str, Any] = {"home": home_id, "now": to_epoch(now)}
    rows = conn.execute(
        f"SELECT * FROM test_modes WHERE home_id = :home AND {_of_kit(kit_id, params)} "
        "AND ended_at IS NULL AND ends_at > :now ORDER BY id",
        params,
    )
    return [_period(r) for r in rows]


def current(
    conn: Connection, home_id: str, kit_id: str | None, at: datetime
) -> TestModePeriod | None:
    """The period on at `at` for exactly this kit, or the whole home if None."""
    params: dict[str, Any] = {"home": home_id, "at": to_epoch(at)}
    row = conn.execute(
        f"SELECT * FROM test_modes WHERE home_id = :home AND {_of_kit(kit_id, params)} "
        "AND starts_at <= :at AND ends_at > :at AND (ended_at IS NULL OR ended_at > :at) "
        "ORDER BY ends_at DESC LIMIT 1",
        params,
    ).fetchone()
    return None if row is None else _period(row)


def covering(
    conn: Connection, home_id: str, source_kit: str | None, at: datetime
) -> TestModePeriod | None:
    """The period on at `at` that covers an alert of this home from `source_kit` (None: from
    no kit): a whole-home period always; a kit's period for its own kit and for no kit."""
    params: dict[str, Any] = {"home": home_id, "at": to_epoch(at)}
    scope = "TRUE"
    if source_kit is not None:
        scope = "(kit_id IS NULL OR kit_id = :kit)"
        params["kit"] = source_kit
    row = conn.execute(
        "SELECT * FROM test_modes WHERE home_id = :home AND starts_at <= :at AND ends_at > :at "
        f"AND (ended_at IS NULL OR ended_at > :at) AND {scope} ORDER BY ends_at DESC LIMIT 1",
        params,
    ).fetchone()
    return None if row is None else _period(row)


def due_to_expire(conn: Connection, now: datetime) -> list[TestModePeriod]:
    """Open periods whose end time has come, oldest first."""
    rows = conn.execute(
        "SELECT * FROM test_modes WHERE ended_at IS NULL AND ends_at <= :now ORDER BY id",
        {"now": to_epoch(now)},
    )
    return [_period(r) for r in rows]


def next_end(conn: Connection) -> datetime | None:
    """When the next open period runs out."""
    row = conn.execute("SELECT MIN(ends_at) FROM test_modes WHERE ended_at IS NULL").fetchone()
    return from_epoch_or_none(row[0])


def by_id(conn: Connection, period_id: int) -> TestModePeriod | None:
    """One period by id."""
    row = conn.execute("SELECT * FROM test_modes WHERE id = :id", {"id": period_id}).fetchone()
    return None if row is None else _period(row)


def audit_trail(conn: Connection, period_id: int) -> list[TestModeAuditEntry]:
    """Who started, replaced, ended or let expire this period, and when (oldest first)."""
    rows = conn.execute(
        "SELECT at, actor, action, detail FROM test_mode_audit WHERE test_mode_id = :id "
        "ORDER BY id",
        {"id": period_id},
    )
    return [
        TestModeAuditEntry(from_epoch(r["at"]), r["actor"], r["action"], json.loads(r["detail"]))
        for r in rows
    ]
