"""Which kits' registrations changed, in order: how a writer that keeps every kit in memory
learns that one was re-provisioned (by the registry file at a start, the CLI or another hub).

A registration that changes a kit's home or sensors appends the kit here in its own
transaction; readers remember the last `seq` they saw and read what came after it. Rows older
than `KEPT` are removed as new ones come, except the newest: SQLite gives a new row one more
than the largest `seq` in the table, and an emptied table would start again below what a
reader has already seen.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.persistence.connection import Connection
from hub.persistence.timestamps import to_epoch

__all__ = ["KEPT", "changes_after", "last_change", "record_change"]

# A reader reads every few seconds while it runs, and starts from `last_change` after reading
# every kit; a day is far more than it could fall behind.
KEPT = timedelta(days=1)


def record_change(db: Connection, kit_id: str, at: datetime) -> None:
    """Note that `kit_id`'s registration changed (in the caller's transaction), and forget
    changes older than `KEPT`."""
    db.execute(
        "DELETE FROM kit_changes WHERE changed_at < :cutoff "
        "AND seq < (SELECT max(seq) FROM kit_changes)",
        {"cutoff": to_epoch(at - KEPT)},
    )
    db.execute(
        "INSERT INTO kit_changes(kit_id, changed_at) VALUES (:kit, :at)",
        {"kit": kit_id, "at": to_epoch(at)},
    )


def last_change(db: Connection) -> int:
    """The newest change's `seq` (0: none yet); read it before reading the kits themselves."""
    row = db.execute("SELECT max(seq) FROM kit_changes").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def changes_after(db: Connection, seq: int) -> list[tuple[int, str]]:
    """The changes after `seq`, oldest first, as (seq, kit id)."""
    rows = db.execute(
        "SELECT seq, kit_id FROM kit_changes WHERE seq > :seq ORDER BY seq", {"seq": seq}
    ).fetchall()
    return [(int(row[0]), str(row[1])) for row in rows]
