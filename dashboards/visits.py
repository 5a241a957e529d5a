"""Visit and call requests from families: they land in the worker's queue with their own state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from hub.persistence.visits import insert_request, request_state, requests_of, update_request_state

__all__ = ["KINDS", "STATES", "RequestError", "create_request", "list_requests", "set_state"]

KINDS = ("visit", "call")
STATES = ("open", "accepted", "done", "cancelled")
_NEXT = {"open": {"accepted", "done", "cancelled"}, "accepted": {"done", "cancelled"}}


class RequestError(ValueError):
    """A request that cannot be made or moved as asked."""


def create_request(
    conn: Connection, home_id: str, kind: str, note: str, user_id: int, now: datetime
) -> int:
    """File a request for a visit or a call; return its id."""
    if kind not in KINDS:
        raise RequestError(f"kind: one of {', '.join(KINDS)}")
    return insert_request(conn, home_id, kind, note.strip()[:500], user_id, now)


def set_state(conn: Connection, request_id: int, state: str, user_id: int, now: datetime) -> None:
    """Move a request on (open -> accepted -> done, or cancelled)."""
    current = request_state(conn, request_id)
    if current is None or state not in _NEXT.get(current, set()):
        raise RequestError(f"cannot move a request to {state!r}")
    update_request_state(conn, request_id, state, user_id, now)


def list_requests(
    conn: Connection, home_ids: list[str], open_only: bool = True, limit: int = 200
) -> list[dict[str, Any]]:
    """Requests of some homes, oldest open first."""
    return [
        {
            "id": r.id,
            "home_id": r.home_id,
            "kind": r.kind,
            "note": r.note,
            "state": r.state,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }
        for r in requests_of(conn, home_ids, open_only, limit)
    ]
