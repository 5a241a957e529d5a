"""Families' visit and call requests in the database (`web_requests`), by home."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, text

__all__ = [
    "OPEN_REQUEST_STATES",
    "RequestRecord",
    "insert_request",
    "request_by_id",
    "request_state",
    "requests_of",
    "update_request_state",
]

# A request still waiting for a worker (accepted: someone took it but has not been yet).
OPEN_REQUEST_STATES = ("open", "accepted")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A stored request."""

    id: int
    home_id: str
    kind: str
    note: str
    state: str
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    handled_by: int | None


def _record(row: Row[Any]) -> RequestRecord:
    m = row._mapping
    return RequestRecord(
        id=int(m["id"]),
        home_id=m["home_id"],
        kind=m["kind"],
        note=m["note"],
        state=m["state"],
        created_by=m["created_by"],
        created_at=datetime.fromtimestamp(m["created_at"], UTC),
        updated_at=datetime.fromtimestamp(m["updated_at"], UTC),
        handled_by=m["handled_by"],
    )


def insert_request(
    conn: Connection, home_id: str, kind: str, note: str, user_id: int, now: datetime
) -> int:
    """File an open request; return its id."""
    new_id = conn.execute(
        text(
            "INSERT INTO web_requests(home_id, kind, note, state, created_by, created_at, "
            "updated_at) VALUES (:home_id, :kind, :note, 'open', :user_id, :now, :now) "
            "RETURNING id"
        ),
        {
            "home_id": home_id,
            "kind": kind,
            "note": note,
            "user_id": user_id,
            "now": now.timestamp(),
        },
    ).scalar_one()
    return int(new_id)


def request_state(conn: Connection, request_id: int) -> str | None:
    """The request's state, or None when there is no such request."""
    state: str | None = conn.execute(
        text("SELECT state FROM web_requests WHERE id = :id"), {"id": request_id}
    ).scalar()
    return state


def request_by_id(conn: Connection, request_id: int) -> RequestRecord | None:
    """One request by id."""
    row = conn.execute(
        text("SELECT * FROM web_requests WHERE id = :id"), {"id": request_id}
    ).first()
    return None if row is None else _record(row)


def update_request_state(
    conn: Connection, request_id: int, state: str, user_id: int, now: datetime
) -> None:
    """Record the request's new state and who moved it."""
    conn.execute(
        text(
            "UPDATE web_requests SET state = :state, updated_at = :now, handled_by = :user_id "
            "WHERE id = :id"
        ),
        {"state": state, "now": now.timestamp(), "user_id": user_id, "id": request_id},
    )


def requests_of(
    conn: Connection,
    home_ids: list[str],
    open_only: bool = True,
    limit: int | None = 200,
) -> list[RequestRecord]:
    """Requests of some homes, oldest first (at most `limit`; None: all of them)."""
    if not home_ids:
        return []
    sql = "SELECT * FROM web_requests WHERE home_id IN :ids"
    if open_only:
        sql += " AND state IN ('open', 'accepted')"
    sql += " ORDER BY created_at, id"
    params: dict[str, Any] = {"ids": list(home_ids)}
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    stmt = text(sql).bindparams(bindparam("ids", expanding=True))
    rows = conn.execute(stmt, params).all()
    return [_record(r) for r in rows]
