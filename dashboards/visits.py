"""Visit and call requests from families: they land in the worker's queue with their own state."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

__all__ = ["KINDS", "STATES", "RequestError", "create_request", "list_requests", "set_state"]

KINDS = ("visit", "call")
STATES = ("open", "accepted", "done", "cancelled")
_NEXT = {"open": {"accepted", "done", "cancelled"}, "accepted": {"done", "cancelled"}}


class RequestError(ValueError):
    """A request that cannot be made or moved as asked."""


def create_request(
    conn: sqlite3.Connection, home_id: str, kind: str, note: str, user_id: int, now: datetime
) -> int:
    """File a request for a visit or a call; return its id."""
    if kind not in KINDS:
        raise RequestError(f"kind: one of {', '.join(KINDS)}")
    cur = conn.execute(
        "INSERT INTO web_requests(home_id, kind, note, state, created_by, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?)",
        (home_id, kind, note.strip()[:500], "open", user_id, now.timestamp(), now.timestamp()),
    )
    return int(cur.lastrowid or 0)


def set_state(
    conn: sqlite3.Connection, request_id: int, state: str, user_id: int, now: datetime
) -> None:
    """Move a request on (open -> accepted -> done, or cancelled)."""
    row = conn.execute("SELECT state FROM web_requests WHERE id=?", (request_id,)).fetchone()
    if row is None or state not in _NEXT.get(row["state"], set()):
        raise RequestError(f"cannot move a request to {state!r}")
    conn.execute(
        "UPDATE web_requests SET state=?, updated_at=?, handled_by=? WHERE id=?",
        (state, now.timestamp(), user_id, request_id),
    )


def list_requests(
    conn: sqlite3.Connection, home_ids: list[str], open_only: bool = True, limit: int = 200
) -> list[dict[str, Any]]:
    """Requests of some homes, oldest open first."""
    if not home_ids:
        return []
    sql = f"SELECT * FROM web_requests WHERE home_id IN ({','.join('?' * len(home_ids))})"
    if open_only:
        sql += " AND state IN ('open','accepted')"
    sql += " ORDER BY created_at LIMIT ?"
    rows = conn.execute(sql, [*home_ids, limit]).fetchall()
    return [
        {
            "id": r["id"],
            "home_id": r["home_id"],
            "kind": r["kind"],
            "note": r["note"],
            "state": r["state"],
            "created_at": datetime.fromtimestamp(r["created_at"], UTC),
            "updated_at": datetime.fromtimestamp(r["updated_at"], UTC),
        }
        for r in rows
    ]
