"""Tenancy in one place: which homes a user may see. Every route reaches data through here."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, replace

from dashboards.accounts import Role, User

__all__ = ["HomeRow", "home_if_visible", "kit_scope", "visible_homes"]


@dataclass(frozen=True, slots=True)
class HomeRow:
    """A home as the dashboards show it."""

    id: str
    name: str
    timezone: str
    mahalla: str


def kit_scope(user: User, district_mahallas: Iterable[str]) -> User:
    """The scope in which `user` may see kits (the installer's pages and the kits API).

    An installer is sent to wherever the district installs next, so an installer scoped by
    mahalla sees the kits of every mahalla of the district (the alerts config's mahallas) and
    of homes not yet placed in one (provisioned without `--mahalla`): a new kit in the next
    mahalla is theirs to walk-test. A home of a mahalla the district does not run stays out.
    Everyone else, and an installer scoped to named homes only (a contractor), keeps their
    own scope.
    """
    if user.role is not Role.INSTALLER or user.all_homes or not user.mahallas:
        return user
    return replace(user, mahallas=user.mahallas | frozenset(district_mahallas) | {""})


def _row(r: sqlite3.Row) -> HomeRow:
    return HomeRow(r["id"], r["name"], r["timezone"], r["mahalla"])


def _where(user: User) -> tuple[str, list[str]]:
    """SQL condition on `homes` for this user's scope (a family: its homes; others: mahallas)."""
    if user.all_homes:
        return "1=1", []
    homes, mahallas = sorted(user.homes), sorted(user.mahallas)
    if user.role is Role.FAMILY:
        mahallas = []  # a family never sees a whole mahalla, whatever its scope rows say
    parts: list[str] = []
    params: list[str] = []
    if homes:
        parts.append(f"id IN ({','.join('?' * len(homes))})")
        params += homes
    if mahallas:
        parts.append(f"mahalla IN ({','.join('?' * len(mahallas))})")
        params += mahallas
    return ("(" + " OR ".join(parts) + ")" if parts else "0=1"), params


def visible_homes(conn: sqlite3.Connection, user: User) -> list[HomeRow]:
    """All homes the user may see, by name."""
    cond, params = _where(user)
    rows = conn.execute(
        f"SELECT id, name, timezone, mahalla FROM homes WHERE {cond} ORDER BY name, id", params
    ).fetchall()
    return [_row(r) for r in rows]


def home_if_visible(conn: sqlite3.Connection, user: User, home_id: str) -> HomeRow | None:
    """The home if it exists and the user may see it; None otherwise (callers answer 404)."""
    cond, params = _where(user)
    row = conn.execute(
        f"SELECT id, name, timezone, mahalla FROM homes WHERE id=? AND {cond}", [home_id, *params]
    ).fetchone()
    return None if row is None else _row(row)
