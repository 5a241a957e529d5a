"""The web audit trail in the database: who viewed or changed what, when, from where."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

__all__ = ["AuditRecord", "NewAuditEntry", "insert_audit", "recent_audit"]


@dataclass(frozen=True, slots=True)
class NewAuditEntry:
    """One view or change to record."""

    at: datetime
    user_id: int | None
    username: str
    action: str
    target: str
    detail: dict[str, Any]
    address: str = ""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored audit entry (`at` in epoch seconds, as stored)."""

    id: int
    at: float
    username: str
    action: str
    target: str
    detail: dict[str, Any]
    address: str


def insert_audit(conn: Connection, entry: NewAuditEntry) -> None:
    """Append one entry to the trail."""
    conn.execute(
        text(
            "INSERT INTO web_audit(at, user_id, username, action, target, detail, address) "
            "VALUES (:at, :user_id, :username, :action, :target, :detail, :address)"
        ),
        {
            "at": entry.at.timestamp(),
            "user_id": entry.user_id,
            "username": entry.username,
            "action": entry.action,
            "target": entry.target,
            "detail": json.dumps(entry.detail, default=str, separators=(",", ":")),
            "address": entry.address,
        },
    )


def recent_audit(conn: Connection, limit: int = 200) -> list[AuditRecord]:
    """The newest entries, newest first."""
    rows = conn.execute(
        text("SELECT * FROM web_audit ORDER BY id DESC LIMIT :limit"), {"limit": limit}
    ).mappings()
    return [
        AuditRecord(
            id=int(r["id"]),
            at=float(r["at"]),
            username=r["username"],
            action=r["action"],
            target=r["target"],
            detail=json.loads(r["detail"]),
            address=r["address"],
        )
        for r in rows
    ]
