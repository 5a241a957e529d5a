"""Web accounts in the database: users, what each may see (scopes), preferences.

Records in and out; the rules about roles and passwords stay with the web app
(dashboards.accounts), which turns an `AccountRecord` into its `User`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, RowMapping, text
from sqlalchemy.exc import IntegrityError

from hub.persistence.web_database import atomic

__all__ = [
    "AccountRecord",
    "NewAccount",
    "UsernameTakenError",
    "WorkerContact",
    "account_by_id",
    "account_by_name",
    "active_accounts",
    "insert_account",
    "mahalla_workers",
    "set_lang",
    "set_large_text",
]


class UsernameTakenError(ValueError):
    """Another account already has this username."""


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """One active account with its scope rows folded in."""

    id: int
    username: str
    display_name: str
    role: str
    lang: str
    large_text: bool
    password_hash: str
    homes: frozenset[str]
    mahallas: frozenset[str]
    all_scope: bool  # a scope row of kind 'all'


@dataclass(frozen=True, slots=True)
class NewAccount:
    """An account to create, its password already hashed."""

    username: str
    display_name: str
    role: str
    password_hash: str
    lang: str
    created_at: datetime
    homes: tuple[str, ...] = ()
    mahallas: tuple[str, ...] = ()
    all_homes: bool = False


@dataclass(frozen=True, slots=True)
class WorkerContact:
    """A social worker people may call about a home in their mahalla."""

    name: str
    phone: str


_SCOPES = text("SELECT kind, value FROM web_user_scope WHERE user_id = :user_id")


def _record(conn: Connection, row: RowMapping) -> AccountRecord:
    homes: set[str] = set()
    mahallas: set[str] = set()
    everything = False
    for kind, value in conn.execute(_SCOPES, {"user_id": row["id"]}):
        if kind == "home":
            homes.add(value)
        elif kind == "mahalla":
            mahallas.add(value)
        else:
            everything = True
    return AccountRecord(
        id=int(row["id"]),
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        lang=row["lang"],
        large_text=bool(row["large_text"]),
        password_hash=row["password_hash"],
        homes=frozenset(homes),
        mahallas=frozenset(mahallas),
        all_scope=everything,
    )


def account_by_id(conn: Connection, user_id: int) -> AccountRecord | None:
    """An active account by id."""
    row = (
        conn.execute(text("SELECT * FROM web_users WHERE id = :id AND active = 1"), {"id": user_id})
        .mappings()
        .first()
    )
    return None if row is None else _record(conn, row)


def account_by_name(conn: Connection, username: str) -> AccountRecord | None:
    """An active account by username."""
    row = (
        conn.execute(
            text("SELECT * FROM web_users WHERE username = :name AND active = 1"),
            {"name": username},
        )
        .mappings()
        .first()
    )
    return None if row is None else _record(conn, row)


def active_accounts(conn: Connection) -> list[AccountRecord]:
    """Every active account, by username."""
    rows = (
        conn.execute(text("SELECT * FROM web_users WHERE active = 1 ORDER BY username"))
        .mappings()
        .all()
    )
    return [_record(conn, r) for r in rows]


def insert_account(conn: Connection, new: NewAccount) -> int:
    """Create the account and its scope rows in one transaction; return its id."""
    scope: list[tuple[str, str]] = [("home", h) for h in new.homes]
    scope += [("mahalla", m) for m in new.mahallas]
    if new.all_homes:
        scope.append(("all", "*"))
    try:
        with atomic(conn):
            user_id = conn.execute(
                text(
                    "INSERT INTO web_users(username, display_name, role, password_hash, lang, "
                    "created_at) VALUES (:username, :display_name, :role, :password_hash, "
                    ":lang, :created_at) RETURNING id"
                ),
                {
                    "username": new.username,
                    "display_name": new.display_name,
                    "role": new.role,
                    "password_hash": new.password_hash,
                    "lang": new.lang,
                    "created_at": new.created_at.timestamp(),
                },
            ).scalar_one()
            if scope:
                conn.execute(
                    text(
                        "INSERT INTO web_user_scope(user_id, kind, value) "
                        "VALUES (:user_id, :kind, :value)"
                    ),
                    [{"user_id": user_id, "kind": k, "value": v} for k, v in scope],
                )
    except IntegrityError:
        raise UsernameTakenError(new.username) from None
    return int(user_id)


def set_lang(conn: Connection, user_id: int, lang: str) -> None:
    """Remember the user's language."""
    conn.execute(
        text("UPDATE web_users SET lang = :lang WHERE id = :id"), {"lang": lang, "id": user_id}
    )


def set_large_text(conn: Connection, user_id: int, large: bool) -> None:
    """Remember the user's text size."""
    conn.execute(
        text("UPDATE web_users SET large_text = :large WHERE id = :id"),
        {"large": int(large), "id": user_id},
    )


def mahalla_workers(conn: Connection, mahalla: str) -> list[WorkerContact]:
    """The active social workers scoped to a mahalla, by name."""
    rows = conn.execute(
        text(
            "SELECT u.display_name, u.username, u.phone FROM web_users u "
            "JOIN web_user_scope s ON s.user_id = u.id "
            "WHERE u.active = 1 AND u.role = 'social_worker' AND s.kind = 'mahalla' "
            "AND s.value = :mahalla ORDER BY u.display_name"
        ),
        {"mahalla": mahalla},
    ).all()
    return [WorkerContact(name=r[0] or r[1], phone=r[2]) for r in rows]
