"""The PostgreSQL runner the tests use (it lives with the other local services, so benchmarks
can start one too)."""

from mehr_app.services.postgres import PostgresServer, find_pg_bin, running_postgres

__all__ = ["PostgresServer", "find_pg_bin", "running_postgres"]
