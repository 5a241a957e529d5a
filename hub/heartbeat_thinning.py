"""Which heartbeats are worth a write: a kit's health when it changed, and otherwise one every
`every_s`.

A kit beats every 60 s: at 100,000 homes that is 1,700 updates of the kits table a second, a
third of everything the single writer stores, and nearly all of them say only "still here".
The readers of a kit's last heartbeat judge its age in minutes (the dashboards call a kit
stale after 5 minutes without one, `stale_heartbeat_s`), so a beat that changes nothing is
kept in memory and written with a later one. One that tells something new (events waiting on
the kit's disk, events dropped, a sensor unreachable or never heard from, its clock moving
against the hub's) is written at once.
"""

from __future__ import annotations

from mehr.contract import Heartbeat

__all__ = ["HeartbeatThinning"]

# A change of the kit's clock against the hub's smaller than this is delivery jitter, not news.
_OFFSET_STEP_S = 5.0


class HeartbeatThinning:
    """Remembers, per kit, when its last written heartbeat was sent and what it said."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        # kit -> (its last written heartbeat's time, a hash of what it said); ~100 bytes a kit.
        self._written: dict[str, tuple[float, int]] = {}

    @staticmethod
    def news(beat: Heartbeat, offset_s: float) -> int:
        """What of a heartbeat is worth writing at once when it changes, as one number."""
        return hash(
            (
                beat.outbox_depth,
                beat.dropped,
                tuple(sorted(beat.unavailable or ())),
                tuple(sorted(sensor for sensor, seen in beat.sensors.items() if seen is None)),
                round(offset_s / _OFFSET_STEP_S),
            )
        )

    def worth_writing(self, kit_id: str, beat: Heartbeat, news: int) -> bool:
        """True if this heartbeat must be written: news, or the last written is `every_s` old
        (or from a kit clock set back)."""
        last = self._written.get(kit_id)
        if self.every_s <= 0 or last is None or last[1] != news:
            return True
        return not 0 <= beat.ts.timestamp() - last[0] < self.every_s

    def written(self, kit_id: str, beat: Heartbeat, news: int) -> None:
        """Note a heartbeat as written: call after its transaction committed (a batch rolled
        back and retried must write it again)."""
        self._written[kit_id] = (beat.ts.timestamp(), news)
