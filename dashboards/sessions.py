"""Sessions (random token in an HTTP-only cookie, only its hash stored), CSRF, login throttling."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import Connection

from hub.persistence import sessions as stored
from hub.persistence.sessions import LoginThrottle, SessionRecord

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
    "throttle_or_mark",
]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# A live session: whose it is and its CSRF token.
Session = SessionRecord


def create_session(
    conn: Connection, user_id: int, now: datetime, hours: float
) -> tuple[str, Session]:
    """Start a session; return the cookie token (never stored) and the session."""
    token = secrets.token_urlsafe(32)
    session = Session(user_id, secrets.token_urlsafe(32), now.timestamp() + hours * 3600)
    stored.insert_session(conn, _digest(token), session, now)
    return token, session


def load_session(conn: Connection, token: str, now: datetime) -> Session | None:
    """Return the live session of a cookie token, or None (expired ones are removed)."""
    return stored.session_by_digest(conn, _digest(token), now)


def delete_session(conn: Connection, token: str) -> None:
    """End a session."""
    stored.delete_session(conn, _digest(token))


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


def _pair_key(username: str, address: str) -> str:
    return f"pair:{username.lower()}|{address}"


def _address_key(address: str) -> str:
    return f"addr:{address}"


def login_wait(
    conn: Connection, username: str, address: str, now: datetime, rule: LoginThrottle
) -> float:
    """Seconds this (username, address) must still wait before trying again; 0 when it may."""
    return stored.login_wait(conn, _pair_key(username, address), _address_key(address), now, rule)


def throttle_or_mark(
    conn: Connection, username: str, address: str, now: datetime, rule: LoginThrottle
) -> float:
    """The wait still due; when none, the attempt is counted as a failure (one transaction)."""
    return stored.throttle_or_mark(
        conn, _pair_key(username, address), _address_key(address), now, rule
    )


def record_failure(
    conn: Connection, username: str, address: str, now: datetime, window_s: float
) -> None:
    """Count one failed (or not yet verified) login; forget failures older than the window."""
    stored.record_failure(conn, _pair_key(username, address), _address_key(address), now, window_s)


def clear_failures(conn: Connection, username: str, address: str) -> None:
    """A right password: forget this (username, address)'s failures, and the attempt's own mark
    on the address."""
    stored.forget_failures(conn, _pair_key(username, address), _address_key(address))
