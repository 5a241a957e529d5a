"""A cheap fingerprint of everything the live pages show about some homes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, text

__all__ = ["fingerprint"]

_PARTS = (
    "SELECT MAX(occurred_at), COUNT(*) FROM sensor_state WHERE home_id IN :ids",
    "SELECT MAX(updated_at), COUNT(*), SUM(count) FROM alerts WHERE home_id IN :ids",
    "SELECT MAX(last_heartbeat_at), MAX(availability_at) FROM kits WHERE home_id IN :ids",
    "SELECT MAX(updated_at), COUNT(*) FROM web_requests WHERE home_id IN :ids",
    # The engine's home modes: set, or ended early.
    "SELECT MAX(set_at), MAX(ends_at), MAX(ended_at), COUNT(*) FROM home_modes "
    "WHERE home_id IN :ids",
)
# States move without the clock moving (several actions in one second): list them, and so
# does progress (on the way, arrived) within "acknowledged". Listed in Python rather than with
# GROUP_CONCAT, which PostgreSQL spells string_agg.
_OPEN_ALERTS = (
    "SELECT id, state, progress FROM alerts WHERE home_id IN :ids "
    "AND state IN ('raised', 'notified', 'acknowledged') ORDER BY id"
)
_AVAILABILITY = "SELECT availability FROM kits WHERE home_id IN :ids ORDER BY id"


def fingerprint(conn: Connection, home_ids: Sequence[str]) -> tuple[Any, ...]:
    """A value that changes whenever anything shown about these homes changes."""
    if not home_ids:
        return ()
    params = {"ids": list(home_ids)}
    parts: list[Any] = []
    for sql in _PARTS:
        stmt = text(sql).bindparams(bindparam("ids", expanding=True))
        parts.extend(conn.execute(stmt, params).one())
    for sql in (_OPEN_ALERTS, _AVAILABILITY):
        stmt = text(sql).bindparams(bindparam("ids", expanding=True))
        parts.append(tuple(tuple(r) for r in conn.execute(stmt, params)))
    return tuple(parts)
