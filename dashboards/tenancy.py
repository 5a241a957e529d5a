"""Tenancy in one place: which homes a user may see. Every route reaches data through here."""

from __future__ import annotations

from sqlalchemy import Connection

from dashboards.accounts import Role, User
from hub.persistence import read_models
from hub.persistence.read_models import HomeRow, HomeScope

__all__ = ["HomeRow", "home_if_visible", "scope_of", "visible_homes"]


def scope_of(user: User) -> HomeScope:
    """The homes this user's scope covers (a family: its homes; others: mahallas too)."""
    if user.all_homes:
        return HomeScope(all_homes=True)
    # A family never sees a whole mahalla, whatever its scope rows say.
    mahallas = frozenset() if user.role is Role.FAMILY else user.mahallas
    return HomeScope(homes=user.homes, mahallas=mahallas)


def visible_homes(conn: Connection, user: User) -> list[HomeRow]:
    """All homes the user may see, by name."""
    return read_models.visible_homes(conn, scope_of(user))


def home_if_visible(conn: Connection, user: User, home_id: str) -> HomeRow | None:
    """The home if it exists and the user may see it; None otherwise (callers answer 404)."""
    return read_models.home_if_visible(conn, scope_of(user), home_id)
