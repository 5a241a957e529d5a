"""Alert kinds and their severities for the alert engine, as plain strings.

Severity is decided once, in `mehr.vocabulary` (`AlertKind.severity`); whoever raises or reads
an alert asks `severity_for(kind)`, which reads that table.
"""

from __future__ import annotations

from typing import Final

from mehr import vocabulary
from mehr.vocabulary import AlertKind, Severity

__all__ = [
    "ALWAYS_ALERT_KINDS",
    "AREA_OUTAGE",
    "INACTIVITY_KINDS",
    "KIT_OFFLINE",
    "SEVERITY_BY_KIND",
    "Severity",
    "severity_for",
]

# Plain strings, as config files and database rows carry them.
ALWAYS_ALERT_KINDS: Final[frozenset[str]] = frozenset(
    k.value for k in vocabulary.ALWAYS_ALERT_KINDS
)
INACTIVITY_KINDS: Final[frozenset[str]] = frozenset(k.value for k in vocabulary.INACTIVITY_KINDS)
KIT_OFFLINE: Final = AlertKind.KIT_OFFLINE
AREA_OUTAGE: Final = AlertKind.AREA_OUTAGE

# Kept for the engine until it reads `AlertKind.severity` itself (the persistence rewrite).
SEVERITY_BY_KIND: Final[dict[str, Severity]] = {kind.value: kind.severity for kind in AlertKind}


def severity_for(kind: str, stored: str | None = None) -> Severity:
    """The severity of an alert: the one stored with it if valid, else by kind (unknown: low)."""
    if stored is not None:
        try:
            return Severity(stored)
        except ValueError:
            pass
    return SEVERITY_BY_KIND.get(kind, Severity.LOW)
