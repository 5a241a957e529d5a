"""The retention job: after each scan pass, fold raw events older than the retention window into
hourly summaries and drop summaries older than theirs, in small transactions.

Each transaction handles at most `batch` events, so ingest and help presses never wait behind
it for more than a few milliseconds; a pass stops after `budget_s` and the next pass goes on
where it stopped. Raw events are kept well past what the detectors read (the routine learns
from 28 days, the scan looks back 36 hours).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from hub.config import HubSettings
from hub.persistence.retention import (
    delete_old_summaries,
    migrate_retention,
    summarise_old_events,
)
from hub.persistence.sqlite_store import SqlStore
from hub.stats import HubStats
from mehr.clock import Clock

__all__ = ["RETENTION_JOB", "RetentionJob", "RetentionSettings", "retention_settings"]

_LOGGER = logging.getLogger(__name__)
# With several hubs one folds old events (two folding one hour would count it twice): the
# holder of this name's partition (hub/coordination.py), like a home's.
RETENTION_JOB = "job:retention"


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """How long raw events and their hourly summaries are kept, and how much work per step."""

    keep_events: timedelta = timedelta(days=35)
    keep_summaries: timedelta = timedelta(days=400)
    batch: int = 1000  # events per transaction
    budget_s: float = 5.0  # work per call to `run` (one scan pass)
    # Events in a row with nothing to fold after which the walk has reached the window.
    lookahead: int = 20_000


def retention_settings(hub: HubSettings) -> RetentionSettings:
    """The retention windows of the hub's settings."""
    return RetentionSettings(
        keep_events=timedelta(days=hub.events_keep_days),
        keep_summaries=timedelta(days=hub.event_hours_keep_days),
    )


class RetentionJob:
    """Owns nothing but a cursor; uses the scan's store connection, from the scan's thread."""

    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        stats: HubStats,
        settings: RetentionSettings | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.clock = clock
        self.stats = stats
        self.settings = settings or RetentionSettings()
        self._monotonic = monotonic
        self._after_id = 0  # the walk's position in the events table (by id)
        self._idle_run = 0  # events in a row with nothing to fold
        migrate_retention(store.connection)

    def run(self) -> int:
        """Fold old events until caught up or out of budget; return how many were folded.

        Walks the events table by id from where the last call stopped. Ids follow storage
        order, so past the oldest events lies a run of events stored within the window: after
        `lookahead` events in a row with nothing to fold the walk ends, and the next one
        starts again from the table's head (where the now-oldest events are). An event that
        was skipped (a kit clock ahead, an alert's own) is looked at again then.
        """
        s = self.settings
        now_s = self.clock.now().timestamp()
        cutoff = now_s - s.keep_events.total_seconds()
        stop_at = self._monotonic() + s.budget_s
        folded = 0
        while True:
            try:
                batch = summarise_old_events(self.store, self._after_id, cutoff, s.batch)
                self.store.commit()
            except Exception:
                self.store.rollback()
                raise
            self.stats.incr("retention_batches")
            folded += batch.summarised
            self._after_id = batch.next_after_id
            self._idle_run = 0 if batch.summarised else self._idle_run + batch.scanned
            if batch.at_end or self._idle_run >= s.lookahead:
                self._after_id, self._idle_run = 0, 0  # caught up: from the head next time
                break
            if self._monotonic() >= stop_at:
                break
        while self._monotonic() < stop_at:
            gone = delete_old_summaries(
                self.store, now_s - s.keep_summaries.total_seconds(), s.batch
            )
            self.store.commit()
            if gone < s.batch:
                break
        if folded:
            self.stats.incr("events_summarised", folded)
            _LOGGER.info(
                "retention: %d events older than %s folded into hourly counts",
                folded,
                s.keep_events,
            )
        return folded
