"""The PostgreSQL server the persistence tests start (mehr_app/services/postgres.py)."""

from __future__ import annotations

from mehr_app.services.postgres import PostgresServer, find_pg_bin, running_postgres

__all__ = ["PostgresServer", "find_pg_bin", "running_postgres"]
