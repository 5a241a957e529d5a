"""The audit log: who viewed or changed what, when, from where."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from dashboards.accounts import User

__all__ = ["audit", "recent"]


def audit(
    conn: sqlite3.Connection,
    user: User | None,
    action: str,
    target: str,
    now: datetime,
    address: str = "",
    **detail: Any,
) -> None:
    """Record one view or change (action 'view', 'alert.acknowledge', 'user.create', ...)."""
    conn.execute(
        "INSERT INTO web_audit(at, user_id, username, action, target, detail, address) "
        "VALUES (?,?,?,?,?,?,?)",
        (
            now.timestamp(),
            user.id if user else None,
            user.username if user else "",
            action,
            target,
            json.dumps(detail, default=str, separators=(",", ":")),
            address,
        ),
    )


def recent(conn: sqlite3.Connection, limit: int = 200) -> list[dict[str, Any]]:
    """Return the newest audit entries, newest first."""
    rows = conn.execute("SELECT * FROM web_audit ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [
        {
            "id": r["id"],
            "at": r["at"],
            "username": r["username"],
            "action": r["action"],
            "target": r["target"],
            "detail": json.loads(r["detail"]),
            "address": r["address"],
        }
        for r in rows
    ]
