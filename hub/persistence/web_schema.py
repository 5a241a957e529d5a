"""The web component's tables (accounts, sessions, audit, registry, requests) in the hub's DB.

On SQLite they are applied through hub.persistence.migrate as component "web"; never edit a released
step, add one. The same tables as SQLAlchemy metadata (`WEB_TABLES`) create them on PostgreSQL
until the hub's one migration runner takes both over; a test keeps the two alike.
(Moved here from dashboards/schema.py: the persistence layer owns every table.)
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

from hub.persistence.connection import Connection as RepositoryConnection
from hub.persistence.migrate import apply_migrations

__all__ = ["WEB_MIGRATIONS", "WEB_TABLES", "create_web_tables", "migrate_web"]

WEB_MIGRATIONS: tuple[str, ...] = (
    # 1: accounts with scopes, sessions, login failures, audit, registry, requests.
    # (Alert transitions and home modes are the alert engine's tables; a resident's care-plan
    # risk level is the core `homes.risk_level`. Unreleased, so edited in place.)
    """
    CREATE TABLE web_users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL DEFAULT '',
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        lang TEXT NOT NULL DEFAULT 'uz',
        large_text INTEGER NOT NULL DEFAULT 0,
        phone TEXT NOT NULL DEFAULT '',
        active INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL
    );
    CREATE TABLE web_user_scope (
        user_id INTEGER NOT NULL REFERENCES web_users(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('home', 'mahalla', 'all')),
        value TEXT NOT NULL,
        PRIMARY KEY (user_id, kind, value)
    );
    CREATE TABLE web_sessions (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES web_users(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX web_sessions_user ON web_sessions(user_id);
    CREATE TABLE web_login_failures (
        key TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX web_login_failures_key ON web_login_failures(key, at);
    CREATE TABLE web_audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        user_id INTEGER,
        username TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',
        address TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX web_audit_at ON web_audit(at);
    CREATE TABLE web_residents (
        person_id TEXT PRIMARY KEY,
        home_id TEXT,
        full_name TEXT NOT NULL,
        birth_date TEXT,
        address TEXT NOT NULL DEFAULT '',
        mahalla TEXT NOT NULL DEFAULT '',
        languages TEXT NOT NULL DEFAULT '[]',
        contacts TEXT NOT NULL DEFAULT '[]',
        updated_at REAL NOT NULL
    );
    CREATE INDEX web_residents_home ON web_residents(home_id);
    CREATE TABLE web_requests (
        id INTEGER PRIMARY KEY,
        home_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('visit', 'call')),
        note TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'open',
        created_by INTEGER REFERENCES web_users(id),
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        handled_by INTEGER REFERENCES web_users(id)
    );
    CREATE INDEX web_requests_home ON web_requests(home_id, state);
    """,
)


def migrate_web(conn: RepositoryConnection, source: str = "database") -> int:
    """Bring the web tables up to date; return the resulting version."""
    return apply_migrations(conn, "web", WEB_MIGRATIONS, source)


WEB_TABLES = MetaData()

Table(
    "web_users",
    WEB_TABLES,
    Column("id", Integer, primary_key=True),
    Column("username", Text, nullable=False, unique=True),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("role", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("lang", Text, nullable=False, server_default="uz"),
    Column("large_text", Integer, nullable=False, server_default="0"),
    Column("phone", Text, nullable=False, server_default=""),
    Column("active", Integer, nullable=False, server_default="1"),
    Column("created_at", Double, nullable=False),
)
Table(
    "web_user_scope",
    WEB_TABLES,
    Column("user_id", Integer, ForeignKey("web_users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("user_id", "kind", "value"),
    CheckConstraint("kind IN ('home', 'mahalla', 'all')"),
)
Table(
    "web_sessions",
    WEB_TABLES,
    Column("token_hash", Text, primary_key=True),
    Column("user_id", Integer, ForeignKey("web_users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Index("web_sessions_user", "user_id"),
)
Table(
    "web_login_failures",
    WEB_TABLES,
    Column("key", Text, nullable=False),
    Column("at", Double, nullable=False),
    Index("web_login_failures_key", "key", "at"),
)
Table(
    "web_audit",
    WEB_TABLES,
    Column("id", Integer, primary_key=True),
    Column("at", Double, nullable=False),
    Column("user_id", Integer),
    Column("username", Text, nullable=False, server_default=""),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("detail", Text, nullable=False, server_default="{}"),
    Column("address", Text, nullable=False, server_default=""),
    Index("web_audit_at", "at"),
)
Table(
    "web_residents",
    WEB_TABLES,
    Column("person_id", Text, primary_key=True),
    Column("home_id", Text),
    Column("full_name", Text, nullable=False),
    Column("birth_date", Text),
    Column("address", Text, nullable=False, server_default=""),
    Column("mahalla", Text, nullable=False, server_default=""),
    Column("languages", Text, nullable=False, server_default="[]"),
    Column("contacts", Text, nullable=False, server_default="[]"),
    Column("updated_at", Double, nullable=False),
    Index("web_residents_home", "home_id"),
)
Table(
    "web_requests",
    WEB_TABLES,
    Column("id", Integer, primary_key=True),
    Column("home_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("state", Text, nullable=False, server_default="open"),
    Column("created_by", Integer, ForeignKey("web_users.id")),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("handled_by", Integer, ForeignKey("web_users.id")),
    CheckConstraint("kind IN ('visit', 'call')"),
    Index("web_requests_home", "home_id", "state"),
)


def create_web_tables(conn: Connection) -> None:
    """Create the web tables that are missing (PostgreSQL; SQLite uses `migrate_web`)."""
    WEB_TABLES.create_all(conn)
