"""Which heartbeats are worth a write: a kit's health when it changed, and otherwise enough of
them that the last one written is never older than `every_s`.

A kit beats every 60 s: at 100,000 homes that is 1,700 updates of the kits table a second, a
third of everything the single writer stores, and nearly all of them say only "still here".
The readers of a kit's last heartbeat judge its age in minutes (the dashboards call a kit
stale after 5 minutes without one, `stale_heartbeat_s`), so a beat that changes nothing is
acknowledged without a write when the kit's next beat will still come within `every_s` of the
last one written. One that tells something new (events waiting on the kit's disk, events
dropped, a sensor unreachable or never heard from, its clock moved against the hub's) is
written at once, and so is every beat of a kit being walk-tested (the ingest decides that).

Decisions are made against what the batch in hand will write (`pending`) and become what was
written only once their transaction commits, so a batch rolled back and retried writes again.
"""

from __future__ import annotations

from mehr.contract import Heartbeat

__all__ = ["HeartbeatThinning"]

# A kit clock that moved against the hub's by less than this since the last heartbeat written is
# delivery jitter, not news (received_at includes the broker's and the inbox's wait).
_OFFSET_STEP_S = 5.0
# Distinct news kept for sharing at most (an outbox's depth takes many values while it drains).
_NEWS_SHARED_MAX = 10_000

# What a heartbeat says that is written at once when it changes.
_News = tuple[int, int, tuple[str, ...], tuple[str, ...]]
# A kit's last heartbeat written (or about to be): when the kit sent it, the kit's clock against
# the hub's then, and its news.
_Written = tuple[float, float, _News]


class HeartbeatThinning:
    """Remembers, per kit, its last heartbeat written and when its latest one was sent."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._written: dict[str, _Written] = {}
        self._pending: dict[str, _Written] = {}
        self._latest_sent: dict[str, float] = {}
        # One copy of each distinct news (nearly every kit's is "nothing waiting, nothing
        # dropped"): ~100 bytes a kit in all at 100,000 kits, not a tuple each.
        self._news: dict[_News, _News] = {}

    def begin_batch(self) -> None:
        """Forget what a batch that did not commit meant to write."""
        self._pending.clear()

    def decide(self, kit_id: str, beat: Heartbeat, offset_s: float, force: bool = False) -> bool:
        """True if this heartbeat is to be written (call `committed` once it is)."""
        sent = beat.ts.timestamp()
        news = self._share(_news_of(beat))
        last = self._pending.get(kit_id) or self._written.get(kit_id)
        previous = self._latest_sent.get(kit_id)
        if previous is None or sent > previous:
            self._latest_sent[kit_id] = sent
        if last is not None and sent < last[0]:
            return False  # older than the one written (a late redelivery): the row keeps it
        if force or self.every_s <= 0 or last is None or self._tells_news(last, news, offset_s):
            self._pending[kit_id] = (sent, offset_s, news)
            return True
        # The kit's own interval, from its previous beat; unknown (or a clock set back): write.
        interval = sent - previous if previous is not None and sent > previous else self.every_s
        if sent - last[0] + interval <= self.every_s:
            return False  # its next beat still comes within every_s of the one written
        self._pending[kit_id] = (sent, offset_s, news)
        return True

    def committed(self, kit_id: str) -> None:
        """The heartbeat `decide` chose for `kit_id` in this batch is in the database."""
        pending = self._pending.pop(kit_id, None)
        if pending is None:
            return
        written = self._written.get(kit_id)
        if written is None or pending[0] >= written[0]:
            self._written[kit_id] = pending

    def _share(self, news: _News) -> _News:
        if len(self._news) >= _NEWS_SHARED_MAX:  # many kits draining their outboxes at once
            return self._news.get(news, news)
        return self._news.setdefault(news, news)

    @staticmethod
    def _tells_news(last: _Written, news: _News, offset_s: float) -> bool:
        return news != last[2] or abs(offset_s - last[1]) >= _OFFSET_STEP_S


def _news_of(beat: Heartbeat) -> _News:
    return (
        beat.outbox_depth,
        beat.dropped,
        tuple(sorted(beat.unavailable or ())),
        tuple(sorted(sensor for sensor, seen in beat.sensors.items() if seen is None)),
    )
