"""Moved to mehr_app.services.http_sink (benchmarks must not import tests/); this re-export keeps
tests written on branches in flight working until the merge. Import from mehr_app.services."""

from mehr_app.services.http_sink import *  # noqa: F403
