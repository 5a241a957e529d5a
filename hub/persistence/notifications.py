"""The notifications repository: messages to people (`alert_notifications`), every delivery
attempt (`alert_delivery_attempts`, intent first, outcome after) and acknowledge-link tokens.

A notification is unique per (alert, round, purpose, step, person), so creating one twice is a
no-op on either database (ON CONFLICT DO NOTHING). The caller holds the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.persistence.alerts import CRITICAL_FIRST, only_critical
from hub.persistence.connection import Connection
from hub.persistence.timestamps import from_epoch, from_epoch_or_none, to_epoch

__all__ = [
    "InterruptedSend",
    "Notification",
    "Recipient",
    "add",
    "anyone_reachable",
    "cancel",
    "claim_attempt",
    "due",
    "interrupted_sends",
    "issue_token",
    "mark_attempt_unknown",
    "mark_failed",
    "mark_sent",
    "mark_unknown",
    "next_method",
    "open_intent",
    "people_told",
    "recipients_alerted",
    "record_intent",
    "record_outcome",
    "retry_at",
    "retry_later",
]


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one person, due or under way, with its alert's state."""

    id: int
    alert_id: int
    round: int
    purpose: str  # alert | info | renotify
    step: int
    person_id: str
    target: str
    language: str
    status: str  # pending | sent | failed | cancelled | unknown
    method_index: int
    attempts: int
    next_attempt_at: datetime | None
    alert_state: str
    home_id: str  # of its alert: the hub holding this home's partition sends it


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who was alerted in a round, in which role and language (re-notifications go to them)."""

    person_id: str
    target: str
    language: str


@dataclass(frozen=True, slots=True)
class InterruptedSend:
    """An attempt whose intent was committed and whose outcome never was."""

    attempt_id: int
    started_at: datetime
    attempt_method: int
    channel: str
    destination: str
    notification_id: int
    alert_id: int
    round: int
    purpose: str
    person_id: str
    status: str
    method_index: int
    home_id: str  # of its alert


def add(
    conn: Connection,
    *,
    alert_id: int,
    round_no: int,
    purpose: str,
    step: int,
    recipient: Recipient,
    now: datetime,
) -> bool:
    """Create a pending notification due now; False if this very one exists already."""
    cur = conn.execute(
        "INSERT INTO alert_notifications(alert_id, round, purpose, step, person_id, target, "
        "language, created_at, status, next_attempt_at) VALUES (:alert, :round, :purpose, "
        ":step, :person, :target, :language, :now, 'pending', :now) ON CONFLICT DO NOTHING",
        {
            "alert": alert_id,
            "round": round_no,
            "purpose": purpose,
            "step": step,
            "person": recipient.person_id,
            "target": recipient.target,
            "language": recipient.language,
            "now": to_epoch(now),
        },
    )
    return cur.rowcount > 0


def people_told(conn: Connection, alert_id: int, round_no: int) -> set[str]:
    """People already alerted or informed in this round."""
    rows = conn.execute(
        "SELECT person_id FROM alert_notifications WHERE alert_id = :alert AND round = :round "
        "AND purpose IN ('alert', 'info')",
        {"alert": alert_id, "round": round_no},
    )
    return {r[0] for r in rows}


def recipients_alerted(conn: Connection, alert_id: int, round_no: int) -> list[Recipient]:
    """Everyone alerted (not merely informed) in this round."""
    rows = conn.execute(
        "SELECT DISTINCT person_id, target, language FROM alert_notifications "
        "WHERE alert_id = :alert AND round = :round AND purpose = 'alert'",
        {"alert": alert_id, "round": round_no},
    )
    return [Recipient(r["person_id"], r["target"], r["language"]) for r in rows]


def anyone_reachable(conn: Connection, alert_id: int, round_no: int) -> bool:
    """True if someone alerted in this round was reached or may still be."""
    row = conn.execute(
        "SELECT 1 FROM alert_notifications WHERE alert_id = :alert AND round = :round "
        "AND purpose = 'alert' AND status IN ('pending', 'sent') LIMIT 1",
        {"alert": alert_id, "round": round_no},
    ).fetchone()
    return row is not None


def due(
    conn: Connection, now: datetime, limit: int = 50, critical_only: bool = False
) -> list[Notification]:
    """Pending notifications due by `now` (of critical alerts only, if asked): a critical
    alert's first (a help press's message never waits behind a backlog of others), then
    earliest first."""
    rows = conn.execute(
        "SELECT n.*, a.state AS alert_state, a.home_id FROM alert_notifications n JOIN alerts a "
        "ON a.id = n.alert_id WHERE n.status = 'pending' AND n.next_attempt_at <= :now "
        f"{only_critical('a', critical_only)}"
        f"ORDER BY {CRITICAL_FIRST}, n.next_attempt_at, n.id "
        "LIMIT :limit",
        {"now": to_epoch(now), "limit": limit},
    )
    return [
        Notification(
            id=r["id"],
            alert_id=r["alert_id"],
            round=r["round"],
            purpose=r["purpose"],
            step=r["step"],
            person_id=r["person_id"],
            target=r["target"],
            language=r["language"],
            status=r["status"],
            method_index=r["method_index"],
            attempts=r["attempts"],
            next_attempt_at=from_epoch_or_none(r["next_attempt_at"]),
            alert_state=r["alert_state"],
            home_id=r["home_id"],
        )
        for r in rows
    ]


def cancel(conn: Connection, notification_id: int) -> None:
    """Nothing left to tell (the alert was acknowledged or closed)."""
    conn.execute(
        "UPDATE alert_notifications SET status = 'cancelled', next_attempt_at = NULL "
        "WHERE id = :id",
        {"id": notification_id},
    )


def retry_at(conn: Connection, notification_id: int, at: datetime) -> None:
    """Try this notification again at `at`."""
    conn.execute(
        "UPDATE alert_notifications SET next_attempt_at = :at WHERE id = :id",
        {"at": to_epoch(at), "id": notification_id},
    )


def mark_sent(conn: Connection, notification_id: int, at: datetime) -> None:
    """The channel accepted the message."""
    conn.execute(
        "UPDATE alert_notifications SET status = 'sent', sent_at = :at, attempts = attempts + 1,"
        " next_attempt_at = NULL, last_error = NULL WHERE id = :id",
        {"at": to_epoch(at), "id": notification_id},
    )


def retry_later(
    conn: Connection, notification_id: int, attempts: int, at: datetime, error: str | None
) -> None:
    """The same method failed `attempts` times so far: try it again at `at`."""
    conn.execute(
        "UPDATE alert_notifications SET attempts = :attempts, next_attempt_at = :at, "
        "last_error = :error WHERE id = :id",
        {"attempts": attempts, "at": to_epoch(at), "error": error, "id": notification_id},
    )


def next_method(
    conn: Connection, notification_id: int, method_index: int, at: datetime,
    error: str | None,
) -> None:
    """This method is used up: the person's method `method_index` from `at`."""
    conn.execute(
        "UPDATE alert_notifications SET attempts = 0, method_index = :method, "
        "next_attempt_at = :at, last_error = :error WHERE id = :id",
        {"method": method_index, "at": to_epoch(at), "error": error, "id": notification_id},
    )


def mark_failed(conn: Connection, notification_id: int, reason: str) -> None:
    """Every method of the person failed (the last channel error is kept if there was one)."""
    conn.execute(
        "UPDATE alert_notifications SET status = 'failed', next_attempt_at = NULL, "
        "last_error = COALESCE(last_error, :reason) WHERE id = :id",
        {"reason": reason, "id": notification_id},
    )


def mark_unknown(conn: Connection, notification_id: int, method_index: int, error: str) -> None:
    """The hub stopped during this notification's send on `method_index`: it is not sent again
    (unless it has moved on from that attempt meanwhile: then it is left as it is)."""
    conn.execute(
        "UPDATE alert_notifications SET status = 'unknown', next_attempt_at = NULL, "
        "last_error = :error WHERE id = :id AND status = 'pending' AND method_index = :method",
        {"error": error, "id": notification_id, "method": method_index},
    )


def claim_attempt(conn: Connection, note: Notification, now: datetime) -> bool:
    """Take this attempt of a due notification for this hub; False if another hub took it (or
    it is no longer due). Call first in the transaction that records the intent.

    The notification leaves the due list (next_attempt_at NULL) until the outcome schedules a
    retry or ends it: a second hub reading the same due row finds it gone. A sender that dies
    after this leaves an intent without an outcome; the hub that takes the home over marks it
    "unknown" and never sends it again (at most once per attempt; docs/scale.md).
    """
    cur = conn.execute(
        "UPDATE alert_notifications SET next_attempt_at = NULL WHERE id = :id "
        "AND status = 'pending' AND attempts = :attempts AND method_index = :method "
        "AND next_attempt_at IS NOT NULL AND next_attempt_at <= :now",
        {
            "id": note.id,
            "attempts": note.attempts,
            "method": note.method_index,
            "now": to_epoch(now),
        },
    )
    return cur.rowcount == 1


def record_intent(
    conn: Connection,
    notification_id: int,
    at: datetime,
    method_index: int,
    channel: str,
    destination: str,
) -> int:
    """The attempt about to be made (committed before the send); return its id."""
    row = conn.execute(
        "INSERT INTO alert_delivery_attempts(notification_id, at, method_index, channel, "
        "destination, ok, error, duration_s, outcome) VALUES (:notification, :at, :method, "
        ":channel, :destination, 0, NULL, 0, 'sending') RETURNING id",
        {
            "notification": notification_id,
            "at": to_epoch(at),
            "method": method_index,
            "channel": channel,
            "destination": destination,
        },
    ).fetchone()
    return int(row[0])


def record_outcome(
    conn: Connection,
    attempt_id: int,
    *,
    ok: bool,
    error: str | None,
    finished_at: datetime,
    duration_s: float,
) -> None:
    """How the attempt ended."""
    conn.execute(
        "UPDATE alert_delivery_attempts SET outcome = :outcome, ok = :ok, error = :error, "
        "finished_at = :finished, duration_s = :duration WHERE id = :id",
        {
            "outcome": "sent" if ok else "failed",
            "ok": int(ok),
            "error": error,
            "finished": to_epoch(finished_at),
            "duration": duration_s,
            "id": attempt_id,
        },
    )


def open_intent(conn: Connection, notification_id: int) -> int | None:
    """The attempt of this notification still without an outcome, if any."""
    row = conn.execute(
        "SELECT id FROM alert_delivery_attempts WHERE notification_id = :id "
        "AND outcome = 'sending' LIMIT 1",
        {"id": notification_id},
    ).fetchone()
    return None if row is None else int(row[0])


def interrupted_sends(
    conn: Connection, notification_id: int | None = None
) -> list[InterruptedSend]:
    """Attempts without an outcome (all, or of one notification), oldest first."""
    where = "d.outcome = 'sending'"
    params: dict[str, int] = {}
    if notification_id is not None:
        where += " AND d.notification_id = :notification"
        params["notification"] = notification_id
    rows = conn.execute(
        "SELECT d.id AS attempt_id, d.at AS started_at, d.method_index AS attempt_method, "
        "d.channel, d.destination, n.id, n.alert_id, n.round, n.purpose, n.person_id, "
        "n.status, n.method_index, a.home_id FROM alert_delivery_attempts d "
        "JOIN alert_notifications n ON n.id = d.notification_id "
        f"JOIN alerts a ON a.id = n.alert_id WHERE {where} ORDER BY d.id",
        params,
    )
    return [
        InterruptedSend(
            attempt_id=r["attempt_id"],
            started_at=from_epoch(r["started_at"]),
            attempt_method=r["attempt_method"],
            channel=r["channel"],
            destination=r["destination"],
            notification_id=r["id"],
            alert_id=r["alert_id"],
            round=r["round"],
            purpose=r["purpose"],
            person_id=r["person_id"],
            status=r["status"],
            method_index=r["method_index"],
            home_id=r["home_id"],
        )
        for r in rows
    ]


def mark_attempt_unknown(
    conn: Connection, attempt_id: int, error: str, at: datetime
) -> bool:
    """An intent found without its outcome after a restart: the outcome is unknown. False if
    it has an outcome by now (its sender was alive after all, and recorded it meanwhile)."""
    cur = conn.execute(
        "UPDATE alert_delivery_attempts SET outcome = 'unknown', error = :error, "
        "finished_at = :at WHERE id = :id AND outcome = 'sending'",
        {"error": error, "at": to_epoch(at), "id": attempt_id},
    )
    return cur.rowcount == 1


def issue_token(
    conn: Connection,
    *,
    nonce: str,
    alert_id: int,
    person_id: str,
    notification_id: int,
    issued_at: datetime,
    expires_at: datetime,
) -> None:
    """Record an acknowledge link's token (its nonce) for one person's notification."""
    conn.execute(
        "INSERT INTO alert_ack_tokens(nonce, alert_id, person_id, notification_id, issued_at, "
        "expires_at) VALUES (:nonce, :alert, :person, :notification, :issued, :expires)",
        {
            "nonce": nonce,
            "alert": alert_id,
            "person": person_id,
            "notification": notification_id,
            "issued": to_epoch(issued_at),
            "expires": to_epoch(expires_at),
        },
    )
