"""Which received messages are urgent: help, "I'm OK", falls and accelerometer windows.

Urgent messages go to their own queue and writer, so no backlog of routine traffic, scan or
re-learn sits in front of them. The test runs on the raw bytes in paho's network thread, before
any parsing: it must be cheap, and a false positive only sends one ordinary message down the
fast path (it is validated and stored there exactly as on the bulk path).
"""

from __future__ import annotations

from typing import Final

from mehr.contract import URGENT_EVENT_KINDS, TopicKind

__all__ = ["is_urgent"]

_ACCEL_SUFFIX: Final = "/" + TopicKind.ACCEL.value
_URGENT_SUFFIX: Final = "/" + TopicKind.URGENT.value
_EVENTS_SUFFIX: Final = "/" + TopicKind.EVENTS.value
# The kind values as they appear quoted in a JSON payload.
_URGENT_KINDS: Final = tuple(f'"{kind.value}"'.encode() for kind in sorted(URGENT_EVENT_KINDS))


def is_urgent(topic: str, payload: bytes) -> bool:
    """True for an accelerometer window, anything on the urgent topic (checked when parsed),
    or an event on `events` naming a help, OK or fall sensor kind (older kits send them there)."""
    if topic.endswith(_ACCEL_SUFFIX) or topic.endswith(_URGENT_SUFFIX):
        return True
    if not topic.endswith(_EVENTS_SUFFIX):
        return False
    return any(kind in payload for kind in _URGENT_KINDS)
