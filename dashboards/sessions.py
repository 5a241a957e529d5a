"""Sessions (random token in an HTTP-only cookie, only its hash stored), CSRF, login throttling."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "LoginThrottle",
    "Session",
    "anon_csrf",
    "check_anon_csrf",
    "clear_failures",
    "create_session",
    "delete_session",
    "load_session",
    "login_wait",
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


# -- login throttling: growing delays per (username, address), a looser cap per address ----------
#
# Never a lock on the account itself: failures from an attacker's address slow down only that
# address (for that name, then for every name), so the real worker signs in from their own phone
# at once. Failures are rows in the database, so every worker process and a restart see them.


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """How quickly repeated wrong passwords are slowed down."""

    free_failures: int  # per (username, address) before delays start
    base_delay_s: float  # the first delay; each further failure doubles it
    max_delay_s: float
    address_max_failures: int  # per address, over all usernames, within the window
    window_s: float  # failures older than this are forgotten


def _pair_key(username: str, address: str) -> str:
    return f"pair:{username.lower()}|{address}"


def _address_key(address: str) -> str:
    return f"addr:{address}"


def login_wait(
    conn: sqlite3.Connection, username: str, address: str, now: datetime, rule: LoginThrottle
) -> float:
    """Seconds this (username, address) must still wait before trying again; 0 when it may."""
    t = now.timestamp()
    since = t - rule.window_s
    count, last = conn.execute(
        "SELECT COUNT(*), MAX(at) FROM web_login_failures WHERE key=? AND at>?",
        (_pair_key(username, address), since),
    ).fetchone()
    wait = 0.0
    if count >= rule.free_failures:
        delay = min(rule.max_delay_s, rule.base_delay_s * 2 ** (count - rule.free_failures))
        wait = last + delay - t
    # The per-address cap: free again once the oldest failure that counts leaves the window.
    row = conn.execute(
        "SELECT at FROM web_login_failures WHERE key=? AND at>? ORDER BY at DESC LIMIT 1 "
        "OFFSET ?",
        (_address_key(address), since, rule.address_max_failures - 1),
    ).fetchone()
    if row is not None:
        wait = max(wait, row["at"] + rule.window_s - t)
    return max(0.0, wait)


def record_failure(
    conn: sqlite3.Connection, username: str, address: str, now: datetime, window_s: float
) -> None:
    """Count one failed (or not yet verified) login; forget failures older than the window."""
    t = now.timestamp()
    conn.executemany(
        "INSERT INTO web_login_failures(key, at) VALUES (?,?)",
        [(_pair_key(username, address), t), (_address_key(address), t)],
    )
    conn.execute("DELETE FROM web_login_failures WHERE at<=?", (t - window_s,))


def clear_failures(conn: sqlite3.Connection, username: str, address: str) -> None:
    """A right password: forget this (username, address)'s failures, and the attempt's own mark
    on the address."""
    conn.execute("DELETE FROM web_login_failures WHERE key=?", (_pair_key(username, address),))
    conn.execute(
        "DELETE FROM web_login_failures WHERE rowid = (SELECT rowid FROM web_login_failures "
        "WHERE key=? ORDER BY at DESC LIMIT 1)",
        (_address_key(address),),
    )
