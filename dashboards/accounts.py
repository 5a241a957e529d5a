"""Web accounts: roles, scopes (which homes a user may see), argon2 password hashes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

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

LANGS = ("uz", "ru", "en")


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


def _scopes(conn: sqlite3.Connection, user_id: int) -> tuple[set[str], set[str], bool]:
    homes: set[str] = set()
    mahallas: set[str] = set()
    everything = False
    for row in conn.execute("SELECT kind, value FROM web_user_scope WHERE user_id=?", (user_id,)):
        if row["kind"] == "home":
            homes.add(row["value"])
        elif row["kind"] == "mahalla":
            mahallas.add(row["value"])
        else:
            everything = True
    return homes, mahallas, everything


def _user(conn: sqlite3.Connection, row: sqlite3.Row) -> User:
    homes, mahallas, everything = _scopes(conn, row["id"])
    role = Role(row["role"])
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"] or row["username"],
        role=role,
        lang=row["lang"],
        large_text=bool(row["large_text"]),
        homes=frozenset(homes),
        mahallas=frozenset(mahallas),
        all_homes=everything or role is Role.ADMIN,
    )


def get_user(conn: sqlite3.Connection, user_id: int) -> User | None:
    """Return an active user by id."""
    row = conn.execute("SELECT * FROM web_users WHERE id=? AND active=1", (user_id,)).fetchone()
    return None if row is None else _user(conn, row)


def get_user_by_name(conn: sqlite3.Connection, username: str) -> tuple[User, str] | None:
    """Return an active user and their password hash."""
    row = conn.execute(
        "SELECT * FROM web_users WHERE username=? AND active=1", (username,)
    ).fetchone()
    return None if row is None else (_user(conn, row), row["password_hash"])


def list_users(conn: sqlite3.Connection) -> list[User]:
    """Return all active users."""
    rows = conn.execute("SELECT * FROM web_users WHERE active=1 ORDER BY username").fetchall()
    return [_user(conn, r) for r in rows]


def create_user(
    conn: sqlite3.Connection,
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
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.execute(
            "INSERT INTO web_users(username, display_name, role, password_hash, lang, created_at)"
            " VALUES (?,?,?,?,?,?)",
            (username, display_name, role.value, passwords.hash(password), lang, now.timestamp()),
        )
        user_id = int(cur.lastrowid or 0)
        scope = [("home", h) for h in homes] + [("mahalla", m) for m in mahallas]
        if all_homes:
            scope.append(("all", "*"))
        conn.executemany(
            "INSERT INTO web_user_scope(user_id, kind, value) VALUES (?,?,?)",
            [(user_id, k, v) for k, v in scope],
        )
        conn.execute("COMMIT")
    except sqlite3.IntegrityError:
        conn.execute("ROLLBACK")
        raise AccountError(f"username {username!r} is taken") from None
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    user = get_user(conn, user_id)
    assert user is not None  # just inserted
    return user


def set_preferences(
    conn: sqlite3.Connection, user_id: int, *, lang: str | None = None, large: bool | None = None
) -> None:
    """Remember a user's language and text size."""
    if lang is not None:
        if lang not in LANGS:
            raise AccountError(f"lang: one of {', '.join(LANGS)}")
        conn.execute("UPDATE web_users SET lang=? WHERE id=?", (lang, user_id))
    if large is not None:
        conn.execute("UPDATE web_users SET large_text=? WHERE id=?", (int(large), user_id))
