"""What the dashboards ask of the alert engine: transitions, history, away modes.

Interim: hub/alerts (the engine) has not landed yet, so these functions keep the transitions in
the web's own stand-in tables and move the core `alerts.state`. When the engine lands, each
function becomes a call into its service API and the stand-in tables stop being written.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

__all__ = [
    "CLOSED_STATES",
    "OUTCOMES",
    "Action",
    "AlertActionError",
    "AwayState",
    "HistoryEntry",
    "apply_action",
    "clear_away",
    "get_away",
    "history",
    "set_away",
]

CLOSED_STATES = frozenset({"resolved", "cancelled", "closed"})
OUTCOMES = ("incident_confirmed", "false_alarm", "resident_fine", "taken_to_hospital", "other")
AWAY_MODES = ("away", "holiday", "visitor")


class Action(StrEnum):
    """What a worker does with an alert."""

    ACKNOWLEDGE = "acknowledge"
    ON_THE_WAY = "on_the_way"
    ARRIVED = "arrived"
    RESOLVE = "resolve"


_NEXT_STATE = {
    Action.ACKNOWLEDGE: "acknowledged",
    Action.ON_THE_WAY: "on_the_way",
    Action.ARRIVED: "arrived",
    Action.RESOLVE: "resolved",
}
# Which states each action may start from: acknowledging twice is refused, so two workers see
# at once that someone else has the case.
_ALLOWED_FROM = {
    Action.ACKNOWLEDGE: {"raised", "notified"},
    Action.ON_THE_WAY: {"acknowledged"},
    Action.ARRIVED: {"acknowledged", "on_the_way"},
    Action.RESOLVE: {"raised", "notified", "acknowledged", "on_the_way", "arrived"},
}


class AlertActionError(ValueError):
    """A transition that is not possible from the alert's current state."""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One transition of an alert."""

    action: str
    actor: str
    at: datetime
    comment: str
    outcome: str


def apply_action(
    conn: sqlite3.Connection,
    alert_id: int,
    action: Action,
    actor: str,
    now: datetime,
    comment: str = "",
    outcome: str = "",
) -> str:
    """Move an alert on; return its new state or raise AlertActionError."""
    if action is Action.RESOLVE and outcome not in OUTCOMES:
        raise AlertActionError(f"outcome: one of {', '.join(OUTCOMES)}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT state FROM alerts WHERE id=?", (alert_id,)).fetchone()
        if row is None:
            raise AlertActionError("no such alert")
        if row["state"] not in _ALLOWED_FROM[action]:
            raise AlertActionError(f"cannot {action.value} an alert that is {row['state']}")
        state = _NEXT_STATE[action]
        conn.execute(
            "UPDATE alerts SET state=?, updated_at=? WHERE id=?",
            (state, now.timestamp(), alert_id),
        )
        conn.execute(
            "INSERT INTO web_alert_actions(alert_id, action, actor, at, comment, outcome) "
            "VALUES (?,?,?,?,?,?)",
            (alert_id, action.value, actor, now.timestamp(), comment[:1000], outcome),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return state


def history(conn: sqlite3.Connection, alert_ids: list[int]) -> dict[int, list[HistoryEntry]]:
    """Transitions of the given alerts, oldest first."""
    out: dict[int, list[HistoryEntry]] = {a: [] for a in alert_ids}
    if not alert_ids:
        return out
    rows = conn.execute(
        f"SELECT * FROM web_alert_actions WHERE alert_id IN ({','.join('?' * len(alert_ids))}) "
        "ORDER BY at, id",
        alert_ids,
    ).fetchall()
    for r in rows:
        out[r["alert_id"]].append(
            HistoryEntry(
                r["action"],
                r["actor"],
                datetime.fromtimestamp(r["at"], UTC),
                r["comment"],
                r["outcome"],
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class AwayState:
    """An away/holiday/visitor mode and when it ends."""

    mode: str
    until: datetime
    set_by: str


def set_away(
    conn: sqlite3.Connection, home_id: str, mode: str, until: datetime, actor: str, now: datetime
) -> AwayState:
    """Switch a home to away/holiday/visitor mode until `until`."""
    if mode not in AWAY_MODES:
        raise AlertActionError(f"mode: one of {', '.join(AWAY_MODES)}")
    if until <= now:
        raise AlertActionError("until: must be in the future")
    conn.execute(
        "INSERT INTO web_away(home_id, mode, until, set_by, set_at) VALUES (?,?,?,?,?) "
        "ON CONFLICT(home_id) DO UPDATE SET mode=excluded.mode, until=excluded.until, "
        "set_by=excluded.set_by, set_at=excluded.set_at",
        (home_id, mode, until.timestamp(), actor, now.timestamp()),
    )
    return AwayState(mode, until, actor)


def clear_away(conn: sqlite3.Connection, home_id: str) -> None:
    """End an away mode early."""
    conn.execute("DELETE FROM web_away WHERE home_id=?", (home_id,))


def get_away(conn: sqlite3.Connection, home_id: str, now: datetime) -> AwayState | None:
    """The home's away mode, if one is running now."""
    row = conn.execute(
        "SELECT mode, until, set_by FROM web_away WHERE home_id=? AND until>?",
        (home_id, now.timestamp()),
    ).fetchone()
    if row is None:
        return None
    return AwayState(row["mode"], datetime.fromtimestamp(row["until"], UTC), row["set_by"])
