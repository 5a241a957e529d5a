"""Web sessions and failed-login marks in the database (only a token's hash is ever stored).

Failures are rows, not process memory, so every web process and a restart see the same
throttling; the policy (how many, how long) is the caller's `LoginThrottle`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from hub.persistence.web_database import atomic

__all__ = [
    "LoginThrottle",
    "SessionRecord",
    "delete_session",
    "forget_failures",
    "insert_session",
    "login_wait",
    "record_failure",
    "session_by_digest",
    "throttle_or_mark",
]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A stored session: whose it is, its CSRF token, when it ends (epoch seconds)."""

    user_id: int
    csrf: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """How quickly repeated wrong passwords are slowed down."""

    free_failures: int  # per (username, address) before delays start
    base_delay_s: float  # the first delay; each further failure doubles it
    max_delay_s: float
    address_max_failures: int  # per address, over all usernames, within the window
    window_s: float  # failures older than this are forgotten


def insert_session(
    conn: Connection, digest: str, session: SessionRecord, created_at: datetime
) -> None:
    """Store a new session under its token's digest."""
    conn.execute(
        text(
            "INSERT INTO web_sessions(token_hash, user_id, csrf, created_at, expires_at) "
            "VALUES (:digest, :user_id, :csrf, :created_at, :expires_at)"
        ),
        {
            "digest": digest,
            "user_id": session.user_id,
            "csrf": session.csrf,
            "created_at": created_at.timestamp(),
            "expires_at": session.expires_at,
        },
    )


def session_by_digest(conn: Connection, digest: str, now: datetime) -> SessionRecord | None:
    """The live session stored under `digest`; an expired one is removed and None returned."""
    row = conn.execute(
        text("SELECT user_id, csrf, expires_at FROM web_sessions WHERE token_hash = :digest"),
        {"digest": digest},
    ).first()
    if row is None:
        return None
    if row[2] <= now.timestamp():
        delete_session(conn, digest)
        return None
    return SessionRecord(int(row[0]), row[1], float(row[2]))


def delete_session(conn: Connection, digest: str) -> None:
    """End the session stored under `digest`."""
    conn.execute(text("DELETE FROM web_sessions WHERE token_hash = :digest"), {"digest": digest})


def login_wait(
    conn: Connection, pair_key: str, address_key: str, now: datetime, rule: LoginThrottle
) -> float:
    """Seconds this (username, address) must still wait before trying again; 0 when it may."""
    t = now.timestamp()
    since = t - rule.window_s
    count, last = conn.execute(
        text("SELECT COUNT(*), MAX(at) FROM web_login_failures WHERE key = :key AND at > :since"),
        {"key": pair_key, "since": since},
    ).one()
    wait = 0.0
    if count >= rule.free_failures:
        delay = min(rule.max_delay_s, rule.base_delay_s * 2 ** (count - rule.free_failures))
        wait = last + delay - t
    # The per-address cap: free again once the oldest failure that counts leaves the window.
    oldest_counted = conn.execute(
        text(
            "SELECT at FROM web_login_failures WHERE key = :key AND at > :since "
            "ORDER BY at DESC LIMIT 1 OFFSET :skip"
        ),
        {"key": address_key, "since": since, "skip": rule.address_max_failures - 1},
    ).scalar()
    if oldest_counted is not None:
        wait = max(wait, oldest_counted + rule.window_s - t)
    return max(0.0, wait)


def record_failure(
    conn: Connection, pair_key: str, address_key: str, now: datetime, window_s: float
) -> None:
    """Count one failed (or not yet verified) login; forget failures older than the window."""
    t = now.timestamp()
    conn.execute(
        text("INSERT INTO web_login_failures(key, at) VALUES (:key, :at)"),
        [{"key": pair_key, "at": t}, {"key": address_key, "at": t}],
    )
    conn.execute(
        text("DELETE FROM web_login_failures WHERE at <= :before"), {"before": t - window_s}
    )


def throttle_or_mark(
    conn: Connection, pair_key: str, address_key: str, now: datetime, rule: LoginThrottle
) -> float:
    """Check the wait and, when there is none, mark the attempt, in one write transaction.

    One transaction, so a burst of parallel guesses cannot all pass the check before any of
    them is counted.
    """
    with atomic(conn):
        wait = login_wait(conn, pair_key, address_key, now, rule)
        if wait <= 0:
            record_failure(conn, pair_key, address_key, now, rule.window_s)
    return wait


# The table has no key column: SQLite's rowid and PostgreSQL's ctid name one row each.
_ROW_HANDLE = {"sqlite": "rowid", "postgresql": "ctid"}


def forget_failures(conn: Connection, pair_key: str, address_key: str) -> None:
    """A right password: forget the pair's failures and the attempt's own mark on the address."""
    conn.execute(text("DELETE FROM web_login_failures WHERE key = :key"), {"key": pair_key})
    handle = _ROW_HANDLE[conn.dialect.name]
    conn.execute(
        text(
            f"DELETE FROM web_login_failures WHERE {handle} = (SELECT {handle} "
            "FROM web_login_failures WHERE key = :key ORDER BY at DESC LIMIT 1)"
        ),
        {"key": address_key},
    )
