"""Moved to mehr_app.services.broker_cluster (benchmarks must not import tests/); this
re-export keeps tests written on branches in flight working until the merge."""

from mehr_app.services.broker_cluster import *  # noqa: F403
