"""Tenancy in one place: which homes a user may see. Every route reaches data through here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import Connection

from dashboards.accounts import Role, User
from hub.persistence import read_models
from hub.persistence.read_models import HomeRow, HomeScope

__all__ = ["HomeRow", "home_if_visible", "kit_scope", "scope_of", "visible_homes"]


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
