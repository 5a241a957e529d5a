"""The escalations repository: each open alert's timers (`alert_escalations`) as typed objects.

One row per alert the engine has adopted: which round and step it is at, when the next step,
the next re-notification and the acknowledgement deadline are due, and whether it is held
(asking the resident first, or a kit of the home is offline). The caller holds the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from hub.persistence.alerts import critical_first, only_critical
from hub.persistence.connection import Connection
from hub.persistence.timestamps import from_epoch, from_epoch_or_none, to_epoch, to_epoch_or_none

__all__ = [
    "ASKING",
    "KIT_OFFLINE_HOLD",
    "Escalation",
    "acks_overdue",
    "asking",
    "by_alert",
    "claim",
    "earliest_due",
    "held_for_offline_kit",
    "hold_for_offline_kit",
    "record_step",
    "renotify_due",
    "set_next_step_at",
    "set_renotify",
    "start",
    "start_asking",
    "start_round",
    "steps_due",
    "stop_ack_deadline",
]

ASKING: Final = "asking"
KIT_OFFLINE_HOLD: Final = "kit_offline"


@dataclass(frozen=True, slots=True)
class Escalation:
    """An alert's escalation timers, with the alert fields every decision about them needs."""

    alert_id: int
    severity: str
    round: int
    round_started_at: datetime | None
    next_step: int
    next_step_at: datetime | None
    renotify_at: datetime | None
    renotify_count: int
    ack_deadline: datetime | None
    hold: str | None
    ask_started_at: datetime | None
    ask_until: datetime | None
    done: bool
    # of its alert
    alert_state: str
    home_id: str
    mahalla: str | None
    kind: str
    acknowledged_by: str | None
    progress: str | None


_SELECT: Final = (
    "SELECT e.*, a.state AS alert_state, a.home_id, a.mahalla, a.kind, a.acknowledged_by, "
    "a.progress FROM alert_escalations e JOIN alerts a ON a.id = e.alert_id"
)


def _escalation(row: Any) -> Escalation:
    return Escalation(
        alert_id=row["alert_id"],
        severity=row["severity"],
        round=row["round"],
        round_started_at=from_epoch_or_none(row["round_started_at"]),
        next_step=row["next_step"],
        next_step_at=from_epoch_or_none(row["next_step_at"]),
        renotify_at=from_epoch_or_none(row["renotify_at"]),
        renotify_count=row["renotify_count"],
        ack_deadline=from_epoch_or_none(row["ack_deadline"]),
        hold=row["hold"],
        ask_started_at=from_epoch_or_none(row["ask_started_at"]),
        ask_until=from_epoch_or_none(row["ask_until"]),
        done=bool(row["done"]),
        alert_state=row["alert_state"],
        home_id=row["home_id"],
        mahalla=row["mahalla"],
        kind=row["kind"],
        acknowledged_by=row["acknowledged_by"],
        progress=row["progress"],
    )


def _many(conn: Connection, where: str, params: dict[str, object]) -> list[Escalation]:
    return [_escalation(r) for r in conn.execute(f"{_SELECT} WHERE {where}", params)]


def start(conn: Connection, alert_id: int, severity: str) -> bool:
    """Adopt an alert: its escalation row, with nothing scheduled yet. False if it was adopted
    already (by another hub that got there first): the caller then does nothing."""
    cur = conn.execute(
        "INSERT INTO alert_escalations(alert_id, severity) VALUES (:id, :severity) "
        "ON CONFLICT (alert_id) DO NOTHING",
        {"id": alert_id, "severity": severity},
    )
    return cur.rowcount == 1


def claim(conn: Connection, esc: Escalation) -> bool:
    """Make sure nobody moved this escalation since `esc` was read; call first in the
    transaction that acts on it (fires a step, re-notifies, reopens, ends an ask).

    The update changes nothing but takes the row: on PostgreSQL a second hub acting on the same
    reading waits for the first to commit, then finds round, step, re-notify count or hold
    changed and gets False; on SQLite the single writer orders them the same way. So two hubs,
    or a hub and the one that took its homes over, never fire one step twice.
    """
    cur = conn.execute(
        "UPDATE alert_escalations SET round = round WHERE alert_id = :id AND round = :round "
        "AND next_step = :step AND renotify_count = :count AND COALESCE(hold, '') = :hold "
        "AND done = 0",
        {
            "id": esc.alert_id,
            "round": esc.round,
            "step": esc.next_step,
            "count": esc.renotify_count,
            "hold": esc.hold or "",
        },
    )
    return cur.rowcount == 1


def by_alert(conn: Connection, alert_id: int) -> Escalation | None:
    """The escalation of one alert, or None (not adopted yet)."""
    found = _many(conn, "e.alert_id = :id", {"id": alert_id})
    return found[0] if found else None


def asking(conn: Connection) -> list[Escalation]:
    """Escalations held while the resident is asked whether they are fine."""
    return _many(conn, "e.done = 0 AND e.hold = :hold", {"hold": ASKING})


def held_for_offline_kit(conn: Connection) -> list[Escalation]:
    """Inactivity alerts held because a kit of their home was offline."""
    return _many(conn, "e.done = 0 AND e.hold = :hold", {"hold": KIT_OFFLINE_HOLD})


def steps_due(conn: Connection, now: datetime, critical_only: bool = False) -> list[Escalation]:
    """Escalations whose next step is due (of critical alerts only, if asked), critical ones
    first, then earliest first."""
    return _many(
        conn,
        "e.done = 0 AND e.hold IS NULL AND e.next_step_at IS NOT NULL AND e.next_step_at <= :now "
        f"{only_critical('e', critical_only)}ORDER BY {critical_first('e')}, e.next_step_at",
        {"now": to_epoch(now)},
    )


def renotify_due(
    conn: Connection, now: datetime, critical_only: bool = False
) -> list[Escalation]:
    """Escalations whose re-notification is due (of critical alerts only, if asked)."""
    return _many(
        conn,
        "e.done = 0 AND e.hold IS NULL AND e.renotify_at IS NOT NULL AND e.renotify_at <= :now "
        f"{only_critical('e', critical_only)}",
        {"now": to_epoch(now)},
    )


def acks_overdue(
    conn: Connection, now: datetime, critical_only: bool = False
) -> list[Escalation]:
    """Escalations whose acknowledgement deadline has passed (of critical alerts only, if
    asked)."""
    return _many(
        conn,
        "e.done = 0 AND e.ack_deadline IS NOT NULL AND e.ack_deadline <= :now "
        f"{only_critical('e', critical_only)}",
        {"now": to_epoch(now)},
    )


def start_round(conn: Connection, alert_id: int, round_no: int, now: datetime) -> None:
    """Begin a round of steps from step 0 now (lifting any hold)."""
    conn.execute(
        "UPDATE alert_escalations SET round = :round, round_started_at = :now, next_step = 0, "
        "next_step_at = :now, renotify_at = NULL, renotify_count = 0, ack_deadline = NULL, "
        "hold = NULL, done = 0 WHERE alert_id = :id",
        {"round": round_no, "now": to_epoch(now), "id": alert_id},
    )


def hold_for_offline_kit(conn: Connection, alert_id: int) -> None:
    """Hold an inactivity alert while a kit of its home is offline."""
    conn.execute(
        "UPDATE alert_escalations SET hold = :hold WHERE alert_id = :id",
        {"hold": KIT_OFFLINE_HOLD, "id": alert_id},
    )


def start_asking(
    conn: Connection, alert_id: int, started: datetime, until: datetime
) -> None:
    """Hold the escalation while the resident is asked, until `until`."""
    conn.execute(
        "UPDATE alert_escalations SET hold = :hold, ask_started_at = :started, "
        "ask_until = :until WHERE alert_id = :id",
        {"hold": ASKING, "started": to_epoch(started), "until": to_epoch(until), "id": alert_id},
    )


def set_next_step_at(conn: Connection, alert_id: int, at: datetime | None) -> None:
    """Move (or clear, with None) when the next step is due."""
    conn.execute(
        "UPDATE alert_escalations SET next_step_at = :at WHERE alert_id = :id",
        {"at": to_epoch_or_none(at), "id": alert_id},
    )


def record_step(
    conn: Connection,
    alert_id: int,
    next_step: int,
    next_step_at: datetime | None,
    renotify_at: datetime | None,
) -> None:
    """A step fired: which one is next, when, and when the first re-notification is due."""
    conn.execute(
        "UPDATE alert_escalations SET next_step = :step, next_step_at = :at, "
        "renotify_at = :renotify WHERE alert_id = :id",
        {
            "step": next_step,
            "at": to_epoch_or_none(next_step_at),
            "renotify": to_epoch_or_none(renotify_at),
            "id": alert_id,
        },
    )


def set_renotify(
    conn: Connection, alert_id: int, at: datetime | None, count: int | None = None
) -> None:
    """Schedule (or clear) the next re-notification; `count` re-notifications done so far."""
    if count is None:
        conn.execute(
            "UPDATE alert_escalations SET renotify_at = :at WHERE alert_id = :id",
            {"at": to_epoch_or_none(at), "id": alert_id},
        )
        return
    conn.execute(
        "UPDATE alert_escalations SET renotify_at = :at, renotify_count = :count "
        "WHERE alert_id = :id",
        {"at": to_epoch_or_none(at), "count": count, "id": alert_id},
    )


def stop_ack_deadline(conn: Connection, alert_id: int) -> None:
    """The acknowledgement deadline no longer applies."""
    conn.execute(
        "UPDATE alert_escalations SET ack_deadline = NULL WHERE alert_id = :id", {"id": alert_id}
    )


def earliest_due(conn: Connection) -> datetime | None:
    """The earliest moment any escalation timer or delivery retry is due (None: nothing)."""
    row = conn.execute(
        "SELECT MIN(t) FROM ("
        " SELECT MIN(next_step_at) AS t FROM alert_escalations WHERE done = 0 AND hold IS NULL"
        " UNION ALL SELECT MIN(renotify_at) FROM alert_escalations WHERE done = 0"
        " UNION ALL SELECT MIN(ack_deadline) FROM alert_escalations WHERE done = 0"
        " UNION ALL SELECT MIN(ask_until) FROM alert_escalations WHERE done = 0"
        "   AND hold = 'asking'"
        " UNION ALL SELECT MIN(next_attempt_at) FROM alert_notifications"
        "   WHERE status = 'pending') AS due"
    ).fetchone()
    return None if row[0] is None else from_epoch(row[0])
