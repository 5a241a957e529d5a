"""The connection shape repositories are written against, and a face for SQLAlchemy Core.

Repositories call `execute(sql, params)` with named parameters (`:name`) and read rows by
column name or position. A DB-API `sqlite3.Connection` from `open_sqlite` has that shape
already (the hub's hot paths use it); `CoreConnection` gives a SQLAlchemy Core connection the
same shape, so the same repository SQL runs on PostgreSQL (psycopg 3) through `text()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

import sqlalchemy
from sqlalchemy.engine import CursorResult

__all__ = ["Connection", "CoreConnection", "Cursor"]


class Cursor(Protocol):
    """What a repository reads from an executed statement."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A connection a repository can run its statements on (the caller holds the transaction)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...

    def close(self) -> None: ...


class _Row:
    """A result row readable as row["column"] and row[0], and unpackable, like sqlite3.Row."""

    __slots__ = ("_row",)

    def __init__(self, row: sqlalchemy.Row[Any]) -> None:
        self._row = row

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._row._mapping[key]
        return self._row[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(tuple(self._row))

    def __len__(self) -> int:
        return len(self._row)


class _Cursor:
    """The rows of one executed statement, fetched at once."""

    def __init__(self, result: CursorResult[Any]) -> None:
        self.rowcount = int(result.rowcount)
        self._rows = [_Row(r) for r in result] if result.returns_rows else []
        self._next = 0

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rest, self._next = self._rows[self._next :], len(self._rows)
        return list(rest)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class CoreConnection:
    """A SQLAlchemy Core connection with the repositories' `execute` shape.

    Transactions are SQLAlchemy's (the connection begins one on first use; the owner commits),
    or, on a connection in AUTOCOMMIT mode, the caller's own BEGIN and COMMIT
    (`database.write_transaction`).
    """

    def __init__(
        self, conn: sqlalchemy.Connection, owned_engine: sqlalchemy.Engine | None = None
    ) -> None:
        self.core = conn
        self._owned_engine = owned_engine

    def close(self) -> None:
        """Close the connection (and the engine opened for it alone)."""
        self.core.close()
        if self._owned_engine is not None:
            self._owned_engine.dispose()

    def execute(self, sql: str, parameters: Mapping[str, Any] | None = None, /) -> _Cursor:
        return self._run(sql, dict(parameters or {}))

    def executemany(self, sql: str, parameters: Iterable[Mapping[str, Any]], /) -> _Cursor:
        return self._run(sql, [dict(p) for p in parameters])

    def _run(self, sql: str, parameters: dict[str, Any] | list[dict[str, Any]]) -> _Cursor:
        try:
            return _Cursor(self.core.execute(sqlalchemy.text(sql), parameters))
        except sqlalchemy.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                # The server went away (restart, failover). Clear SQLAlchemy's dead
                # transaction so the caller's retry opens a new connection, instead of
                # "Can't reconnect until invalid transaction is rolled back" forever.
                self.core.rollback()
            raise
