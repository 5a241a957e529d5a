"""No SQL outside hub/persistence/: the persistence layer owns every table.

Scans the source (not imports) of every package of the project for what speaking SQL looks
like: a DB-API `execute(` / `executemany(` / `executescript(` call, `sqlite3.connect`, and string
literals that read as SQL statements. (tests/dashboards/test_no_sql_in_dashboards.py says the
same of the web app with its own, stricter scan.)

One exception, by design: the kit's outbox (`edge/outbox.py`) is the Raspberry Pi's own small
SQLite file, in a program that must never import the hub (DESIGN.md's layering). Benchmarks
(bench/) are not scanned: like tests, they seed and inspect a database directly.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("hub", "dashboards", "mehr", "mehr_app", "simulators", "detectors", "edge")
ALLOWED = (
    "hub/persistence/",
    # The kit's own outbox on the Pi: edge/ may never import the hub (see the docstring).
    "edge/outbox.py",
    # Hostile payloads the fuzzer sends at the hub ("'; DROP TABLE events; --"): text, not SQL
    # the project runs.
    "simulators/hostile.py",
    # A throwaway PostgreSQL server for tests and benchmarks: CREATE DATABASE on it is the
    # server's administration, like initdb, not the product's data.
    "mehr_app/services/postgres.py",
)

_CALLS = frozenset({"execute", "executemany", "executescript"})
_SQL = re.compile(
    r"\b(SELECT\b[\s\S]+\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|CREATE\s+(UNIQUE\s+)?(TABLE|INDEX)|ALTER\s+TABLE|DROP\s+TABLE|PRAGMA\s+\w+)\b",
)


def _findings(path: Path, rel: str) -> list[str]:
    """rel:line and what was found, for every SQL-looking thing in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            owner = node.func.value
            if name in _CALLS:
                found.append(f"{rel}:{node.lineno}: .{name}( call")
            elif name == "connect" and isinstance(owner, ast.Name) and owner.id == "sqlite3":
                found.append(f"{rel}:{node.lineno}: sqlite3.connect")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and _SQL.search(node.value)
        ):
            found.append(f"{rel}:{node.lineno}: SQL in a string literal: {node.value[:60]!r}")
    return found


def _scan() -> dict[str, list[str]]:
    by_module: dict[str, list[str]] = {}
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(ALLOWED):
                continue
            found = _findings(path, rel)
            if found:
                by_module[rel] = found
    return by_module


def test_the_project_speaks_sql_only_in_the_persistence_layer() -> None:
    found = [line for lines in _scan().values() for line in lines]
    assert not found, "SQL outside hub/persistence/ (move it into a repository):\n" + "\n".join(
        found
    )


def test_the_scan_finds_a_connect_a_query_and_sql_in_a_string(tmp_path: Path) -> None:
    # The scanner itself must be able to fail: a module written like the old engine is caught,
    # and a docstring that merely talks about SELECT ... FROM is not.
    module = tmp_path / "probe.py"
    module.write_text(
        '"""Reads with SELECT x FROM y, in words."""\nimport sqlite3\n\n\ndef f() -> None:\n'
        '    conn = sqlite3.connect("x")\n'
        '    conn.execute("SELECT id FROM alerts WHERE home_id=?", ("h",))\n'
        '    sql = "UPDATE alerts SET state=1"\n',
        encoding="utf-8",
    )
    found = sorted(line.split(": ", 1)[0] for line in _findings(module, "hub/probe.py"))
    assert found == ["hub/probe.py:6", "hub/probe.py:7", "hub/probe.py:7", "hub/probe.py:8"]
