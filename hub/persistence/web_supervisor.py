"""The supervisor's read model: the social workers of a set of mahallas (who may take alerts)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, text

__all__ = ["RotaWorker", "workers_of_mahallas"]


@dataclass(frozen=True, slots=True)
class RotaWorker:
    """An active social worker and the mahallas they cover."""

    username: str
    name: str
    mahallas: frozenset[str]


def workers_of_mahallas(conn: Connection, mahallas: Iterable[str] | None) -> list[RotaWorker]:
    """Active social workers scoped to any of `mahallas` (None: every mahalla), by name."""
    sql = (
        "SELECT u.username, u.display_name, s.value FROM web_users u "
        "JOIN web_user_scope s ON s.user_id = u.id "
        "WHERE u.active = 1 AND u.role = 'social_worker' AND s.kind = 'mahalla'"
    )
    params: dict[str, object] = {}
    statement = text(sql + " ORDER BY u.display_name, u.username")
    if mahallas is not None:
        statement = text(
            sql + " AND s.value IN :mahallas ORDER BY u.display_name, u.username"
        ).bindparams(bindparam("mahallas", expanding=True))
        params["mahallas"] = sorted(set(mahallas)) or [""]
    covered: dict[str, tuple[str, set[str]]] = {}
    for username, display_name, mahalla in conn.execute(statement, params):
        _, places = covered.setdefault(username, (display_name or username, set()))
        places.add(mahalla)
    return [RotaWorker(u, n, frozenset(m)) for u, (n, m) in covered.items()]
