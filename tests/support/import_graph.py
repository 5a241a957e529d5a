"""The project's package graph from source (stdlib `ast`): which top-level package imports which,
and which of those imports break the layering rules of docs/architecture.md.

Every import counts, including those inside functions and `if TYPE_CHECKING:` blocks: a lazy or
type-only import still ties the packages together for a reader and for the type checker.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Edge:
    """One import statement from a module of one top-level package into another."""

    source: str  # top-level package of the importing file
    target: str  # top-level package imported
    path: Path  # importing file, relative to the root
    line: int
    module: str  # the imported module as written (resolved when relative)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} imports {self.module}"


def _module_parts(root: Path, path: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported_modules(tree: ast.AST, package: list[str]) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in `tree`; `package` resolves relative ones."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.lineno, node.module or ""
                continue
            up = node.level - 1
            if up > len(package):
                raise ValueError(f"relative import above the root at line {node.lineno}")
            base = package[: len(package) - up]
            yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])


def import_edges(root: Path, packages: frozenset[str]) -> list[Edge]:
    """Every import from one of `packages` (folders under `root`) into another of them."""
    edges: list[Edge] = []
    for name in sorted(packages):
        folder = root / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            if any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            parts = _module_parts(root, path)
            package = parts if path.name == "__init__.py" else parts[:-1]
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, module in _imported_modules(tree, package):
                target = module.split(".")[0]
                if target in packages and target != name:
                    edges.append(Edge(name, target, path.relative_to(root), line, module))
    return edges


def violations(edges: list[Edge], allowed: Mapping[str, frozenset[str]]) -> list[str]:
    """The imports `allowed` (package -> packages it may import) does not permit."""
    return [
        str(edge) for edge in edges if edge.target not in allowed.get(edge.source, frozenset())
    ]


def cycles(edges: list[Edge]) -> list[str]:
    """A cycle between top-level packages, as 'a -> b -> a', or an empty list."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        return [" -> ".join(error.args[1])]
    return []
