"""How `make test` spreads the suite over pytest-xdist workers (`-n N --dist loadgroup`).

Two rules:

- Tests that share a module- or class-scoped fixture (a uvicorn server, a trained detector, an
  import graph) stay on one worker: they form one unit named after their module, so the
  fixture is built once, as in a serial run. Every other test is a unit of its own, so a file
  of long end-to-end tests (the scenarios) is spread over the workers instead of queueing on
  one of them (`--dist loadfile` did that: one worker ran the scenarios for 6 minutes).
- Tests marked `slow` go first. xdist hands out units in collection order, a unit at a time to
  whichever worker is free; starting the longest first keeps a 60 s test from starting last and
  running alone while the other workers idle (longest-first scheduling).

Only the workers collect, and only they know which fixtures a test uses; the controller
schedules. xdist's own channel for groups (`xdist_group` marks, sent as a suffix of the node id)
no longer arrives with pytest 9.2 (pytest-xdist issue #1386: the tests are silently spread as if
unmarked), so the workers write the units to a file the controller names, and a scheduler of
ours reads it. Session-scoped fixtures (PostgreSQL, Chromium, the test CA) are made once per
worker.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

__all__ = ["UNITS_FILE_KEY", "make_scheduler", "order_and_write_units"]

# The key of the workers' input (set by the controller) that names the units file.
UNITS_FILE_KEY = "mehr_schedule_units"

# Fixture scopes wider than one test but narrower than the session: tests sharing one must run
# in the same process, or each worker builds (and tears down, and rebuilds) it.
_SHARED_SCOPES = frozenset({"class", "module", "package"})


def _shares_a_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:  # not a Python test function (a doctest, a plugin's item)
        return False
    return any(
        defs and defs[-1].scope in _SHARED_SCOPES for defs in info.name2fixturedefs.values()
    )


def order_and_write_units(items: list[pytest.Item], units_file: Path) -> None:
    """In a worker: put `slow` tests first; write which tests must share a unit (their module)."""
    # A stable sort: within each class (slow, the rest) the collection order is kept. Every
    # worker sorts the same collection the same way, as xdist requires.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    units = {
        item.nodeid: item.nodeid.split("::", 1)[0] for item in items if _shares_a_fixture(item)
    }
    # Every worker writes the same content; write-then-rename so the controller never reads a
    # half-written file.
    partial = units_file.with_name(f"{units_file.name}.{os.getpid()}")
    partial.write_text(json.dumps(units), encoding="utf-8")
    partial.replace(units_file)


def make_scheduler(config: pytest.Config, log: Any, units_file: Path) -> Any:
    """xdist's scope scheduling with a unit per test, except tests sharing a wider fixture.

    Built here, not at import: conftest imports this module in every run, also in a venv made
    before pytest-xdist joined the dev extras, where only serial runs work.
    """
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def __init__(self) -> None:
            super().__init__(config, log)
            self._units: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            # Called first when every worker has finished collecting, so the file is there.
            if self._units is None:
                exists = units_file.exists()  # not when nothing was collected
                self._units = json.loads(units_file.read_text("utf-8")) if exists else {}
            return self._units.get(nodeid, nodeid)

    return SharedFixtureScheduling()
