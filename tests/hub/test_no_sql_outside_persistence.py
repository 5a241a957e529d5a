"""No SQL in hub/ outside hub/persistence/: the persistence layer owns every table.

Scans the source (not imports) for what speaking SQL looks like: a DB-API `execute(` /
`executemany(` / `executescript(` call, `sqlite3.connect`, and string literals that read as SQL
statements. The integrator extends ROOTS to dashboards/ once its SQL has moved too.

PENDING lists the modules whose SQL has not moved yet, with how many findings each still has:
the number may only go down (a ratchet). A module that reaches zero must leave the list.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("hub",)
ALLOWED = ("hub/persistence/",)

# module -> findings still there (see the module docstring; lower it when you move SQL out).
PENDING: dict[str, int] = {
    # The ingest store: the capacity engineer is reworking its write path at the same time;
    # it moves into hub/persistence/ with `git mv` once both branches are merged.
    "hub/store/sqlite.py": 55,
}

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


def test_hub_speaks_sql_only_in_the_persistence_layer() -> None:
    found = _scan()
    new = [line for rel, lines in found.items() if rel not in PENDING for line in lines]
    assert not new, "SQL outside hub/persistence/ (move it into a repository):\n" + "\n".join(new)


def test_modules_pending_their_move_only_lose_sql() -> None:
    found = _scan()
    grew = [
        f"{rel}: {len(found.get(rel, []))} findings, allowed {allowed}:\n  "
        + "\n  ".join(found.get(rel, []))
        for rel, allowed in PENDING.items()
        if len(found.get(rel, [])) > allowed
    ]
    assert not grew, "a module pending its move gained SQL:\n" + "\n".join(grew)
    done = [
        f"{rel}: {len(found.get(rel, []))} left, PENDING says {allowed}"
        for rel, allowed in PENDING.items()
        if len(found.get(rel, [])) < allowed
    ]
    assert not done, "lower (or remove) these PENDING entries:\n" + "\n".join(done)


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
