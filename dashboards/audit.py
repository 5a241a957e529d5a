"""The audit log: who viewed or changed what, when, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dashboards.accounts import User
from hub.persistence.audit import NewAuditEntry, insert_audit, recent_audit

__all__ = ["audit", "recent"]


def audit(
    conn: Connection,
    user: User | None,
    action: str,
    target: str,
    now: datetime,
    address: str = "",
    **detail: Any,
) -> None:
    """Record one view or change (action 'view', 'alert.acknowledge', 'user.create', ...)."""
    insert_audit(
        conn,
        NewAuditEntry(
            at=now,
            user_id=user.id if user else None,
            username=user.username if user else "",
            action=action,
            target=target,
            detail=detail,
            address=address,
        ),
    )


def recent(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """Return the newest audit entries, newest first."""
    return [
        {
            "id": r.id,
            "at": r.at,
            "username": r.username,
            "action": r.action,
            "target": r.target,
            "detail": r.detail,
            "address": r.address,
        }
        for r in recent_audit(conn, limit)
    ]
