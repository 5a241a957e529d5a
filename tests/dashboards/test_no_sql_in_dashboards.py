"""The web app speaks no SQL of its own: every statement lives in hub/persistence (issue 13).

DESIGN.md's layering: dashboards/ uses the hub's services and never SQL of its own, so that the
persistence layer is the one seam PostgreSQL sits behind. These checks read the source.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import dashboards

DASHBOARDS = Path(dashboards.__file__).parent

# A statement, not a word: SELECT … FROM, INSERT INTO, UPDATE … SET, DELETE FROM (in capitals,
# as SQL is written here; English text in the catalogue such as "select a home" passes).
SQL_IN_TEXT = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\b\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
)
FORBIDDEN_IN_CODE = re.compile(r"sqlite3|\bexecute(many)?\s*\(|exec_driver_sql\s*\(")


def _sources() -> list[Path]:
    return sorted(DASHBOARDS.rglob("*.py"))


def _string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every string constant, f-strings with their literal parts joined."""
    found: list[tuple[int, str]] = []
    inside_f_strings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v for v in node.values if isinstance(v, ast.Constant)]
            inside_f_strings.update(id(p) for p in parts)
            found.append((node.lineno, " ".join(str(p.value) for p in parts)))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in inside_f_strings
        ):
            found.append((node.lineno, node.value))
    return found


def sql_offences(path: Path, root: Path = DASHBOARDS.parent) -> list[str]:
    """Where a file runs SQL, imports the driver, or holds a SQL statement: 'file:line: why'."""
    text = path.read_text(encoding="utf-8")
    name = path.relative_to(root).as_posix()
    out = [
        f"{name}:{number}: {match.group(0)!r}"
        for number, line in enumerate(text.splitlines(), start=1)
        for match in [FORBIDDEN_IN_CODE.search(line)]
        if match
    ]
    for line, literal in _string_literals(ast.parse(text, filename=str(path))):
        match = SQL_IN_TEXT.search(literal)
        if match:
            out.append(f"{name}:{line}: SQL in a string: {literal.strip()[:60]!r}")
    return out


def test_dashboards_run_no_sql_and_hold_no_sql_statements() -> None:
    """No execute(), no sqlite3, no SQL statement in any module of dashboards/."""
    offences = [o for path in _sources() for o in sql_offences(path)]
    assert offences == [], "SQL belongs in hub/persistence:\n" + "\n".join(offences)


def test_the_check_finds_sql_where_there_is_some(tmp_path: Path) -> None:
    """The scan itself: it names the file and line of each kind of offence, and spares English."""
    probe = tmp_path / "dashboards" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(
        "import sqlite3\n"
        "conn.execute('x')\n"
        "Q = (\n"
        "    'SELECT id '\n"
        "    'FROM homes')\n"
        'F = f"DELETE FROM web_audit WHERE id={1}"\n'
        "U = 'UPDATE web_users SET lang=?'\n"
        "I = 'INSERT INTO web_requests(home_id) VALUES (?)'\n"
        "OK = 'Select a home from the list, then update the settings'\n",
        encoding="utf-8",
    )
    offences = sql_offences(probe, root=tmp_path)
    # An implicitly joined string is one literal, named by its first line.
    lines = sorted(int(o.split(":")[1]) for o in offences)
    assert lines == [1, 2, 4, 6, 7, 8]
    assert all(o.startswith("dashboards/probe.py:") for o in offences)
