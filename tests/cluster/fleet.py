"""Moved to mehr_app.services.cluster_fleet (benchmarks must not import tests/); this re-export
keeps tests written on branches in flight working until the merge."""

from mehr_app.services.cluster_fleet import *  # noqa: F403
