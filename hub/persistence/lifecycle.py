"""The alert lifecycle's repository: alert views, the audit trail, state changes, acknowledge
tokens and home modes (the tables AlertService works on).

The caller (AlertService) holds the transaction and decides what may change; this module only
reads and writes rows. `view_from_row` is the one place an `alerts` row becomes an AlertView.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from hub.persistence.connection import Connection
from hub.persistence.records import (
    AlertView,
    AttemptView,
    AuditEntry,
    ModeView,
    NotificationView,
)
from hub.persistence.timestamps import from_epoch, from_epoch_or_none, to_epoch

__all__ = [
    "AckToken",
    "active_mode",
    "add_mode",
    "audit",
    "audit_listing",
    "cancel_pending_notifications",
    "end_modes",
    "history",
    "list_views",
    "notifications",
    "set_state",
    "stop_escalation",
    "take_token",
    "token",
    "token_result",
    "view",
    "view_from_row",
    "wait_for_arrival",
    "waiting_for_resident",
]

# Columns a lifecycle change may set besides state and updated_at (names are never user input).
_CHANGEABLE: Final = frozenset(
    {
        "progress", "acknowledged_by", "acknowledged_at", "ack_comment", "on_the_way_at",
        "arrived_at", "resolved_at", "resolved_by", "outcome", "note",
    }
)
_COMPACT: Final = (",", ":")


@dataclass(frozen=True, slots=True)
class AckToken:
    """An issued acknowledge link's token (by its nonce)."""

    nonce: str
    alert_id: int
    person_id: str
    expires_at: datetime
    used_at: datetime | None


def view_from_row(r: Any) -> AlertView:
    """Build an AlertView from an `alerts` row (severity as stored)."""
    return AlertView(
        id=r["id"],
        home_id=r["home_id"],
        kind=r["kind"],
        severity=r["severity"],
        state=r["state"],
        progress=r["progress"],
        mahalla=r["mahalla"],
        raised_at=from_epoch(r["raised_at"]),
        updated_at=from_epoch(r["updated_at"]),
        count=r["count"],
        detail=json.loads(r["detail"]),
        notified_at=from_epoch_or_none(r["notified_at"]),
        acknowledged_by=r["acknowledged_by"],
        acknowledged_at=from_epoch_or_none(r["acknowledged_at"]),
        ack_comment=r["ack_comment"],
        on_the_way_at=from_epoch_or_none(r["on_the_way_at"]),
        arrived_at=from_epoch_or_none(r["arrived_at"]),
        resolved_at=from_epoch_or_none(r["resolved_at"]),
        resolved_by=r["resolved_by"],
        outcome=r["outcome"],
        note=r["note"],
    )


def view(conn: Connection, alert_id: int) -> AlertView | None:
    """One alert with its lifecycle, or None."""
    row = conn.execute("SELECT * FROM alerts WHERE id = :id", {"id": alert_id}).fetchone()
    return None if row is None else view_from_row(row)


def list_views(
    conn: Connection,
    *,
    home_ids: Sequence[str] | None,
    mahallas: Sequence[str] | None,
    states: Sequence[str] | None,
    limit: int,
) -> list[AlertView]:
    """Alerts newest first, filtered (None: any); test alerts only when `states` asks for them."""
    where: list[str] = [] if states is not None else ["state != 'test'"]
    params: dict[str, Any] = {"limit": limit}
    for column, values in (("home_id", home_ids), ("mahalla", mahallas), ("state", states)):
        if values is None:
            continue
        if not values:
            return []
        names = [f"{column}_{i}" for i in range(len(values))]
        where.append(f"{column} IN ({', '.join(':' + n for n in names)})")
        params.update(zip(names, values, strict=True))
    sql = "SELECT * FROM alerts"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT :limit"
    return [view_from_row(r) for r in conn.execute(sql, params)]


def audit(
    conn: Connection,
    alert_id: int,
    *,
    at: datetime,
    actor: str,
    action: str,
    from_state: str | None,
    to_state: str | None,
    detail: dict[str, Any],
) -> None:
    """Record one view or change of an alert."""
    conn.execute(
        "INSERT INTO alert_audit(alert_id, at, actor, action, from_state, to_state, detail) "
        "VALUES (:alert, :at, :actor, :action, :from_state, :to_state, :detail)",
        {
            "alert": alert_id,
            "at": to_epoch(at),
            "actor": actor,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "detail": json.dumps(detail, default=str, separators=_COMPACT),
        },
    )


def audit_listing(
    conn: Connection, alert_ids: Sequence[int], actor: str, at: datetime
) -> None:
    """Record that `actor` was shown these alerts in a list."""
    conn.executemany(
        "INSERT INTO alert_audit(alert_id, at, actor, action) VALUES (:alert, :at, :actor, 'list')",
        [{"alert": alert_id, "at": to_epoch(at), "actor": actor} for alert_id in alert_ids],
    )


def history(conn: Connection, alert_id: int) -> list[AuditEntry]:
    """Every view and change of an alert, oldest first."""
    rows = conn.execute(
        "SELECT * FROM alert_audit WHERE alert_id = :alert ORDER BY id", {"alert": alert_id}
    )
    return [
        AuditEntry(
            at=from_epoch(r["at"]),
            actor=r["actor"],
            action=r["action"],
            from_state=r["from_state"],
            to_state=r["to_state"],
            detail=json.loads(r["detail"]),
        )
        for r in rows
    ]


def notifications(conn: Connection, alert_id: int) -> list[NotificationView]:
    """Every message of an alert with every delivery attempt."""
    params = {"alert": alert_id}
    rows = conn.execute(
        "SELECT * FROM alert_notifications WHERE alert_id = :alert ORDER BY id", params
    ).fetchall()
    attempts: dict[int, list[AttemptView]] = {}
    for a in conn.execute(
        "SELECT a.* FROM alert_delivery_attempts a JOIN alert_notifications n "
        "ON n.id = a.notification_id WHERE n.alert_id = :alert ORDER BY a.id",
        params,
    ):
        attempts.setdefault(a["notification_id"], []).append(
            AttemptView(
                at=from_epoch(a["at"]),
                method_index=a["method_index"],
                channel=a["channel"],
                destination=a["destination"],
                ok=bool(a["ok"]),
                error=a["error"],
                outcome=a["outcome"],
                finished_at=from_epoch_or_none(a["finished_at"]),
            )
        )
    return [
        NotificationView(
            id=r["id"],
            person_id=r["person_id"],
            target=r["target"],
            purpose=r["purpose"],
            round=r["round"],
            step=r["step"],
            status=r["status"],
            sent_at=from_epoch_or_none(r["sent_at"]),
            last_error=r["last_error"],
            attempts=attempts.get(r["id"], []),
        )
        for r in rows
    ]


def set_state(
    conn: Connection,
    alert_id: int,
    state: str,
    at: datetime,
    **columns: str | datetime | None,
) -> None:
    """Move an alert to `state` at `at`, setting lifecycle columns (datetimes are converted)."""
    unknown = set(columns) - _CHANGEABLE
    if unknown:
        raise ValueError(f"not lifecycle columns: {sorted(unknown)}")
    params: dict[str, Any] = {"state": state, "at": to_epoch(at), "id": alert_id}
    sets = ["state = :state", "updated_at = :at"]
    for name, value in columns.items():
        sets.append(f"{name} = :{name}")
        params[name] = to_epoch(value) if isinstance(value, datetime) else value
    conn.execute(f"UPDATE alerts SET {', '.join(sets)} WHERE id = :id", params)


def cancel_pending_notifications(conn: Connection, alert_id: int) -> None:
    """Nothing left to ask of anyone: pending alert/renotify messages are cancelled."""
    conn.execute(
        "UPDATE alert_notifications SET status = 'cancelled', next_attempt_at = NULL "
        "WHERE alert_id = :alert AND status = 'pending' AND purpose != 'info'",
        {"alert": alert_id},
    )


def stop_escalation(conn: Connection, alert_id: int) -> None:
    """The alert needs nobody else: its timers stop and its pending messages are cancelled."""
    conn.execute(
        "UPDATE alert_escalations SET done = 1, next_step_at = NULL, renotify_at = NULL, "
        "ack_deadline = NULL, hold = NULL WHERE alert_id = :alert",
        {"alert": alert_id},
    )
    cancel_pending_notifications(conn, alert_id)


def wait_for_arrival(conn: Connection, alert_id: int, deadline: datetime | None) -> None:
    """Acknowledged: no further steps or repeats; the ack re-opens at `deadline` (None: never)."""
    conn.execute(
        "UPDATE alert_escalations SET next_step_at = NULL, renotify_at = NULL, "
        "ack_deadline = :deadline WHERE alert_id = :alert",
        {"deadline": None if deadline is None else to_epoch(deadline), "alert": alert_id},
    )


def waiting_for_resident(conn: Connection, home_id: str) -> list[int]:
    """Alerts of a home held while the resident is asked whether they are fine."""
    rows = conn.execute(
        "SELECT e.alert_id FROM alert_escalations e JOIN alerts a ON a.id = e.alert_id "
        "WHERE a.home_id = :home AND e.hold = 'asking' AND e.done = 0",
        {"home": home_id},
    )
    return [int(r[0]) for r in rows]


# -- acknowledge tokens -------------------------------------------------------------------------


def token(conn: Connection, nonce: str) -> AckToken | None:
    """An issued token by its nonce, or None."""
    row = conn.execute(
        "SELECT nonce, alert_id, person_id, expires_at, used_at FROM alert_ack_tokens "
        "WHERE nonce = :nonce",
        {"nonce": nonce},
    ).fetchone()
    if row is None:
        return None
    return AckToken(
        row["nonce"], row["alert_id"], row["person_id"], from_epoch(row["expires_at"]),
        from_epoch_or_none(row["used_at"]),
    )


def take_token(conn: Connection, nonce: str, at: datetime) -> bool:
    """Use a token once: True for the one caller whose update took it."""
    cur = conn.execute(
        "UPDATE alert_ack_tokens SET used_at = :at WHERE nonce = :nonce AND used_at IS NULL",
        {"at": to_epoch(at), "nonce": nonce},
    )
    return cur.rowcount == 1


def token_result(conn: Connection, nonce: str, result: str) -> None:
    """What using the token did."""
    conn.execute(
        "UPDATE alert_ack_tokens SET used_result = :result WHERE nonce = :nonce",
        {"result": result, "nonce": nonce},
    )


# -- home modes ---------------------------------------------------------------------------------


def add_mode(
    conn: Connection,
    home_id: str,
    mode: str,
    starts_at: datetime,
    ends_at: datetime,
    set_by: str,
    set_at: datetime,
) -> int:
    """A home mode period; return its id."""
    row = conn.execute(
        "INSERT INTO home_modes(home_id, mode, starts_at, ends_at, set_by, set_at) "
        "VALUES (:home, :mode, :starts, :ends, :by, :at) RETURNING id",
        {
            "home": home_id,
            "mode": mode,
            "starts": to_epoch(starts_at),
            "ends": to_epoch(ends_at),
            "by": set_by,
            "at": to_epoch(set_at),
        },
    ).fetchone()
    return int(row[0])


def end_modes(conn: Connection, home_id: str, actor: str, at: datetime) -> int:
    """End every current or future mode of a home at `at`; return how many."""
    cur = conn.execute(
        "UPDATE home_modes SET ended_at = :at, ended_by = :actor WHERE home_id = :home "
        "AND ended_at IS NULL AND ends_at > :at",
        {"at": to_epoch(at), "actor": actor, "home": home_id},
    )
    return cur.rowcount


def active_mode(conn: Connection, home_id: str, at: datetime) -> ModeView | None:
    """The mode in force for a home at `at`, or None."""
    r = conn.execute(
        "SELECT * FROM home_modes WHERE home_id = :home AND starts_at <= :at AND ends_at > :at "
        "AND (ended_at IS NULL OR ended_at > :at) ORDER BY ends_at DESC LIMIT 1",
        {"home": home_id, "at": to_epoch(at)},
    ).fetchone()
    if r is None:
        return None
    return ModeView(
        r["id"], r["home_id"], r["mode"], from_epoch(r["starts_at"]), from_epoch(r["ends_at"]),
        r["set_by"],
    )
