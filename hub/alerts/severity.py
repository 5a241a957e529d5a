"""Alert kinds and their severities: the vocabulary shared with the detectors and simulators.

Severity is decided here and nowhere else: whoever raises an alert asks `severity_for(kind)`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "ALWAYS_ALERT_KINDS",
    "AREA_OUTAGE",
    "INACTIVITY_KINDS",
    "KIT_OFFLINE",
    "SEVERITY_BY_KIND",
    "Severity",
    "severity_for",
]


class Severity(StrEnum):
    """How urgent an alert is; each has its own escalation policy."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


KIT_OFFLINE: Final = "kit_offline"
AREA_OUTAGE: Final = "area_outage"

SEVERITY_BY_KIND: Final[dict[str, Severity]] = {
    "help_button": Severity.CRITICAL,
    "fall": Severity.CRITICAL,
    "unusual_inactivity": Severity.HIGH,
    "not_up": Severity.HIGH,
    "long_bathroom": Severity.HIGH,
    "night_wandering": Severity.MEDIUM,
    "not_back": Severity.MEDIUM,
    KIT_OFFLINE: Severity.MEDIUM,
    # Many homes dark at once: a worker should look now, but nobody is known to be hurt.
    AREA_OUTAGE: Severity.HIGH,
    # Hypothermia in an older person develops over hours, not minutes: urgent, not critical.
    "cold_home": Severity.HIGH,
    "cold_area": Severity.HIGH,
}
# Kinds not listed (trends such as no_kitchen, kit upkeep such as sensor_silent) are LOW: worth
# a look within the day. (The pages name every listed kind; tests/dashboards checks that.)

# The person asked for help or fell: no mode, hold or "ask first" ever delays these.
ALWAYS_ALERT_KINDS: Final = frozenset({"help_button", "fall"})

# Alerts that only mean "the home has been too quiet": held back while a kit is offline (the
# silence is the outage), in away/holiday/visitor modes, and asked of the resident first.
INACTIVITY_KINDS: Final = frozenset({"unusual_inactivity", "not_up", "long_bathroom"})


def severity_for(kind: str, stored: str | None = None) -> Severity:
    """The severity of an alert: the one stored with it if valid, else by kind (trends: low)."""
    if stored is not None:
        try:
            return Severity(stored)
        except ValueError:
            pass
    return SEVERITY_BY_KIND.get(kind, Severity.LOW)
