"""Which of the events' two home-and-time indexes a query reads, said the way SQLite needs it.

Every event is in exactly one of two partial indexes keyed by home and time (schema steps 3
and 4): `events_home_activity` for the signs of life (small values, the whole row in the index)
and `events_home_other` for every other kind (a temperature, an accelerometer window). SQLite
reads a partial index only when the query repeats the index's WHERE term word for word: a
query by home that names neither term reads the whole table. So every read of one home's
events adds one of these terms (or both, as two halves of a UNION ALL).
"""

from __future__ import annotations

from typing import Final

__all__ = ["NOT_SIGN_OF_LIFE", "SIGN_OF_LIFE", "SIGN_OF_LIFE_KINDS", "each_index"]

# The kinds in `events_home_activity`, in the order its WHERE (schema step 3) lists them.
SIGN_OF_LIFE_KINDS: Final = ("motion", "appliance", "door", "help_button", "ok_button", "occupancy")
_LISTED: Final = ", ".join(f"'{kind}'" for kind in SIGN_OF_LIFE_KINDS)

SIGN_OF_LIFE: Final = f"kind IN ({_LISTED})"
NOT_SIGN_OF_LIFE: Final = f"kind NOT IN ({_LISTED})"


def each_index(select: str) -> str:
    """`select` (one home's events, its WHERE ending in AND) once per home-and-time index, as a
    UNION ALL: the two halves hold every event of the home, each read from its own index."""
    return f"{select} {SIGN_OF_LIFE} UNION ALL {select} {NOT_SIGN_OF_LIFE}"
