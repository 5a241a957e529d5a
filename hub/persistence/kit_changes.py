"""Which kits' registrations changed, in order: how a writer that keeps every kit in memory
learns that one was re-provisioned (by the registry file at a start, the CLI or another hub).

A registration that changes a kit's home or sensors appends the kit here in its own
transaction; readers remember the last `seq` they saw and read what came after it (on
PostgreSQL registrations take turns, so numbers are in commit order). Rows more than `KEPT`
older than the newest are removed as new ones come, never the newest ones: SQLite gives a new
row one more than the largest `seq` in the table, and an emptied table would start again below
what a reader has already seen.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.persistence.connection import Connection
from hub.persistence.timestamps import to_epoch

__all__ = ["KEPT", "KEPT_ROWS", "changes_after", "last_change", "record_change"]

# A reader reads every few seconds while it has messages, and one that has not read for half of
# this forgets every kit it holds (hub/ingest.py): a day is far more than it falls behind.
KEPT = timedelta(days=1)
# And at least this many of the newest, whatever their times say.
KEPT_ROWS = 10_000


def record_change(db: Connection, kit_id: str, at: datetime) -> None:
    """Note that `kit_id`'s registration changed (in the caller's transaction), and forget
    changes more than `KEPT` older than the newest and not among the `KEPT_ROWS` newest."""
    # By the newest change's time, not this process's clock, and never the newest KEPT_ROWS: a
    # CLI on a machine whose clock is a day off must not remove changes not read yet.
    db.execute(
        "DELETE FROM kit_changes WHERE changed_at < (SELECT max(changed_at) FROM kit_changes) "
        "- :kept AND seq < (SELECT max(seq) FROM kit_changes) - :rows",
        {"kept": KEPT.total_seconds(), "rows": KEPT_ROWS},
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
