"""Moved to mehr_app.services.wait (benchmarks must not import tests/); this re-export keeps
tests written on branches in flight working until the merge. Import from mehr_app.services."""

from mehr_app.services.wait import *  # noqa: F403
