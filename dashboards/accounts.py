"""Web accounts: roles, scopes (which homes a user may see), argon2 password hashes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection

from hub.persistence.accounts import (
    AccountRecord,
    NewAccount,
    UsernameTakenError,
    account_by_id,
    account_by_name,
    active_accounts,
    insert_account,
    set_lang,
    set_large_text,
)
from mehr.vocabulary import LANGUAGE_CODES

__all__ = [
    "LANGS",
    "AccountError",
    "Passwords",
    "Role",
    "User",
    "create_user",
    "get_user",
    "get_user_by_name",
    "list_users",
    "set_preferences",
]

LANGS = LANGUAGE_CODES


class Role(StrEnum):
    """What a person does; decides which pages they may open."""

    FAMILY = "family"
    SOCIAL_WORKER = "social_worker"
    DUTY_OFFICER = "duty_officer"
    SUPERVISOR = "supervisor"
    INSTALLER = "installer"
    ADMIN = "admin"


WORKER_ROLES = frozenset({Role.SOCIAL_WORKER, Role.DUTY_OFFICER, Role.SUPERVISOR, Role.ADMIN})
DISTRICT_ROLES = frozenset({Role.DUTY_OFFICER, Role.SUPERVISOR, Role.ADMIN})


class AccountError(ValueError):
    """An account that cannot be created or changed as asked."""


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in person and what they may see."""

    id: int
    username: str
    display_name: str
    role: Role
    lang: str
    large_text: bool
    homes: frozenset[str] = field(default_factory=frozenset)
    mahallas: frozenset[str] = field(default_factory=frozenset)
    all_homes: bool = False

    @property
    def is_worker(self) -> bool:
        """Social worker, duty officer, supervisor or admin."""
        return self.role in WORKER_ROLES

    @property
    def sees_district(self) -> bool:
        """May open the district (mahalla) view and response-time report."""
        return self.role in DISTRICT_ROLES


class Passwords:
    """argon2id hashing with the configured cost."""

    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        # Verifying against this when the user does not exist keeps the timing the same.
        self._dummy = self._hasher.hash("not-a-password")

    def hash(self, password: str) -> str:
        """Hash a new password."""
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches the stored hash (constant work when there is none)."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def _user(record: AccountRecord) -> User:
    role = Role(record.role)
    return User(
        id=record.id,
        username=record.username,
        display_name=record.display_name or record.username,
        role=role,
        lang=record.lang,
        large_text=record.large_text,
        homes=record.homes,
        mahallas=record.mahallas,
        all_homes=record.all_scope or role is Role.ADMIN,
    )


def get_user(conn: Connection, user_id: int) -> User | None:
    """Return an active user by id."""
    record = account_by_id(conn, user_id)
    return None if record is None else _user(record)


def get_user_by_name(conn: Connection, username: str) -> tuple[User, str] | None:
    """Return an active user and their password hash."""
    record = account_by_name(conn, username)
    return None if record is None else (_user(record), record.password_hash)


def list_users(conn: Connection) -> list[User]:
    """Return all active users."""
    return [_user(r) for r in active_accounts(conn)]


def create_user(
    conn: Connection,
    passwords: Passwords,
    *,
    username: str,
    password: str,
    role: Role,
    now: datetime,
    display_name: str = "",
    homes: Iterable[str] = (),
    mahallas: Iterable[str] = (),
    all_homes: bool = False,
    lang: str = "uz",
) -> User:
    """Create an account with its scope; raise AccountError if it cannot be."""
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise AccountError("username: 1-64 characters without spaces")
    if len(password) < 10:
        raise AccountError("password: at least 10 characters")
    if lang not in LANGS:
        raise AccountError(f"lang: one of {', '.join(LANGS)}")
    homes, mahallas = list(homes), list(mahallas)
    if role is Role.FAMILY and (mahallas or all_homes):
        raise AccountError("a family account is scoped to homes, not mahallas")
    new = NewAccount(
        username=username,
        display_name=display_name,
        role=role.value,
        password_hash=passwords.hash(password),
        lang=lang,
        created_at=now,
        homes=tuple(homes),
        mahallas=tuple(mahallas),
        all_homes=all_homes,
    )
    try:
        user_id = insert_account(conn, new)
    except UsernameTakenError:
        raise AccountError(f"username {username!r} is taken") from None
    user = get_user(conn, user_id)
    assert user is not None  # just inserted
    return user


def set_preferences(
    conn: Connection, user_id: int, *, lang: str | None = None, large: bool | None = None
) -> None:
    """Remember a user's language and text size."""
    if lang is not None:
        if lang not in LANGS:
            raise AccountError(f"lang: one of {', '.join(LANGS)}")
        set_lang(conn, user_id, lang)
    if large is not None:
        set_large_text(conn, user_id, large)
