"""Sessions (random token in an HTTP-only cookie, only its hash stored), CSRF, login throttling."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "Session",
    "anon_csrf",
    "check_anon_csrf",
    "clear_failures",
    "create_session",
    "delete_session",
    "load_session",
    "login_blocked",
    "record_failure",
]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: whose it is and its CSRF token."""

    user_id: int
    csrf: str
    expires_at: float


def create_session(
    conn: sqlite3.Connection, user_id: int, now: datetime, hours: float
) -> tuple[str, Session]:
    """Start a session; return the cookie token (never stored) and the session."""
    token = secrets.token_urlsafe(32)
    session = Session(user_id, secrets.token_urlsafe(32), now.timestamp() + hours * 3600)
    conn.execute(
        "INSERT INTO web_sessions(token_hash, user_id, csrf, created_at, expires_at) "
        "VALUES (?,?,?,?,?)",
        (_digest(token), user_id, session.csrf, now.timestamp(), session.expires_at),
    )
    return token, session


def load_session(conn: sqlite3.Connection, token: str, now: datetime) -> Session | None:
    """Return the live session of a cookie token, or None (expired ones are removed)."""
    row = conn.execute(
        "SELECT user_id, csrf, expires_at FROM web_sessions WHERE token_hash=?", (_digest(token),)
    ).fetchone()
    if row is None:
        return None
    if row["expires_at"] <= now.timestamp():
        conn.execute("DELETE FROM web_sessions WHERE token_hash=?", (_digest(token),))
        return None
    return Session(row["user_id"], row["csrf"], row["expires_at"])


def delete_session(conn: sqlite3.Connection, token: str) -> None:
    """End a session."""
    conn.execute("DELETE FROM web_sessions WHERE token_hash=?", (_digest(token),))


# -- CSRF before login: a random nonce in a cookie, and its HMAC in the form ----------------------


def anon_csrf(secret: str, nonce: str) -> str:
    """The form token that goes with an anonymous nonce cookie."""
    return hmac.new(secret.encode(), nonce.encode(), hashlib.sha256).hexdigest()


def check_anon_csrf(secret: str, nonce: str | None, token: str | None) -> bool:
    """True when the form token was made for this browser's nonce cookie."""
    if not nonce or not token:
        return False
    return hmac.compare_digest(anon_csrf(secret, nonce), token)


# -- login throttling: failures per username and per address, in the database --------------------


def login_blocked(
    conn: sqlite3.Connection, keys: list[str], now: datetime, window_s: float, limit: int
) -> bool:
    """True when any key (user:NAME, addr:IP) failed `limit` times within the window."""
    since = now.timestamp() - window_s
    for key in keys:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM web_login_failures WHERE key=? AND at>?", (key, since)
        ).fetchone()
        if count >= limit:
            return True
    return False


def record_failure(
    conn: sqlite3.Connection, keys: list[str], now: datetime, window_s: float
) -> None:
    """Count one failed login against each key, and forget failures older than the window."""
    conn.executemany(
        "INSERT INTO web_login_failures(key, at) VALUES (?,?)", [(k, now.timestamp()) for k in keys]
    )
    conn.execute("DELETE FROM web_login_failures WHERE at<=?", (now.timestamp() - window_s,))


def clear_failures(conn: sqlite3.Connection, key: str) -> None:
    """Forget a username's failures after a successful login."""
    conn.execute("DELETE FROM web_login_failures WHERE key=?", (key,))
