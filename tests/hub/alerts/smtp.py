"""Moved to mehr_app.services.smtp_sink (benchmarks must not import tests/); this re-export
keeps tests written on branches in flight working until the merge."""

from mehr_app.services.smtp_sink import *  # noqa: F403
from mehr_app.services.smtp_sink import free_port  # noqa: F401 - it was importable from here
