"""The package graph keeps the layering of docs/architecture.md: the kernel and the detectors
import nothing of the project, arrows point down the layers, no cycles, and nothing outside
tests/ imports tests/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.import_graph import Edge, cycles, import_edges, violations

ROOT = Path(__file__).resolve().parents[1]

# Who may import whom (the same table as docs/architecture.md). A package missing from a set
# may not be imported by it; a new top-level package must be added here to be allowed at all.
KERNEL = "mehr"
LIBRARIES = frozenset({KERNEL, "detectors", "edge", "hub", "dashboards", "simulators"})
ALLOWED: dict[str, frozenset[str]] = {
    KERNEL: frozenset(),
    "detectors": frozenset(),
    "edge": frozenset({KERNEL}),
    "hub": frozenset({KERNEL, "detectors"}),
    "dashboards": frozenset({KERNEL, "detectors", "hub"}),
    "simulators": frozenset({KERNEL, "detectors", "edge"}),
    # The application sits above every layer; benchmarks may use it; only tests use benchmarks.
    "mehr_app": LIBRARIES,
    "bench": LIBRARIES | {"mehr_app"},
    "tests": LIBRARIES | {"mehr_app", "bench"},
}
PACKAGES = frozenset(ALLOWED)


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    """The project's imports between top-level packages (parsed once for this module)."""
    return import_edges(ROOT, PACKAGES)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_every_top_level_package_has_a_place_in_the_layering() -> None:
    found = {
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.py"))
    }
    assert found <= PACKAGES, f"add {sorted(found - PACKAGES)} to ALLOWED and the architecture doc"


def test_no_package_imports_against_the_layering(edges: list[Edge]) -> None:
    assert violations(edges, ALLOWED) == []


def test_the_kernel_and_the_detectors_import_nothing_of_the_project(edges: list[Edge]) -> None:
    assert [str(e) for e in edges if e.source in {KERNEL, "detectors"}] == []


def test_nothing_outside_tests_imports_tests(edges: list[Edge]) -> None:
    assert [str(e) for e in edges if e.target == "tests"] == []


def test_top_level_packages_have_no_import_cycle(edges: list[Edge]) -> None:
    assert cycles(edges) == []


# -- the checker itself, on a tiny synthetic tree -------------------------------------------


def test_checker_reports_an_upward_import_hidden_in_a_function_or_type_check(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        {
            "mehr/__init__.py": "",
            "mehr/clock.py": "def now():\n    from hub.service import Hub\n    return Hub\n",
            "hub/__init__.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    import dashboards.app\n",
            "dashboards/__init__.py": "from hub import x\nfrom mehr.clock import now\n",
            "bench/run.py": "from tests.support.mosquitto import Mosquitto\n",
            "tests/__init__.py": "",
        },
    )
    found = violations(import_edges(tmp_path, PACKAGES), ALLOWED)
    assert found == [
        "bench/run.py:1: bench imports tests.support.mosquitto",
        "hub/__init__.py:3: hub imports dashboards.app",
        "mehr/clock.py:2: mehr imports hub.service",
    ]


def test_checker_resolves_relative_imports_and_finds_a_cycle(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "edge/__init__.py": "",
            "edge/agent.py": "from .link import Link\nfrom . import config\n",
            "simulators/__init__.py": "import edge.agent\n",
        },
    )
    found = import_edges(tmp_path, PACKAGES)
    assert [str(e) for e in found] == ["simulators/__init__.py:1: simulators imports edge.agent"]
    assert cycles(found) == []

    _write(tmp_path, {"edge/link.py": "from simulators import home\n"})
    found = import_edges(tmp_path, PACKAGES)
    assert violations(found, ALLOWED) == ["edge/link.py:1: edge imports simulators"]
    assert sorted(cycles(found)[0].split(" -> ")) == ["edge", "edge", "simulators"]


def test_checker_refuses_a_relative_import_above_the_root(tmp_path: Path) -> None:
    _write(tmp_path, {"hub/__init__.py": "from ... import nowhere\n"})
    with pytest.raises(ValueError, match="above the root"):
        import_edges(tmp_path, PACKAGES)
