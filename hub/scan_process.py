"""The routine and cold-home scans in a process of their own, so their CPU (re-learning
routines, checking every home) runs on the second core instead of sharing ingest's GIL.

The process has its own database connection and writes in short transactions (one home at a
time). What the hub needs back comes over one bounded queue: each alert as it is raised (the
hub wakes the alert engine with it) and, after each pass, the pass's counters.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event as MpEvent
from typing import TYPE_CHECKING, Any

from hub.config import HubSettings
from hub.stats import HubStats
from hub.store.base import AlertRecord

if TYPE_CHECKING:
    from hub.alerts.config import AlertsConfig

__all__ = ["ScanProcess"]

_LOGGER = logging.getLogger(__name__)
# Alerts and counter updates waiting for the hub; a pass raises far fewer than this. Full, the
# scan process waits: it never drops an alert (the alert is in the database either way).
_QUEUE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class _Counts:
    """A pass's counters, added to the hub's."""

    counts: dict[str, int]


def _homes_asking_first(config: AlertsConfig) -> frozenset[str]:
    """The homes whose kit asks the resident first, as `AlertsConfig.home` finds them (the
    last entry of a home listed twice)."""
    asks = {contacts.home: contacts.ask_first for contacts in config.homes}
    return frozenset(home for home, ask in asks.items() if ask)


def _scan_main(
    settings: HubSettings,
    out: Any,
    stop: MpEvent,
    parent_pid: int,
    log_level: int,
    ready: MpEvent | None = None,
    checkpoints_elsewhere: bool = False,
) -> None:
    """The scan process: scan every `scan_interval_s` until told to stop or orphaned
    (`checkpoints_elsewhere`: the hub's checkpoint thread moves the WAL, not our commits)."""
    # First, before any import starts a thread (numpy's BLAS starts one): on Linux nice is
    # per thread, and a new thread takes its creator's.
    os.nice(settings.scan_nice)
    # Imported here: the parent does not need the detectors' import time twice.
    from hub.alerts.config import load_alerts_config
    from hub.alerts.prompts import prompt_answers
    from hub.cold_scan import ColdHomeScanner
    from hub.coordination import EVERY_HOME, HeldLeases, Ownership
    from hub.persistence.database import disable_auto_checkpoint
    from hub.persistence.sqlite_store import SqliteStore, open_store
    from hub.retention import RETENTION_JOB, RetentionJob, retention_settings
    from hub.routine_scan import RoutineScanner
    from mehr.clock import SystemClock

    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Ctrl-C in a terminal reaches the whole process group: the hub stops us through `stop`
    # (finishing or cutting the pass), so the signal itself is not ours to act on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    clock = SystemClock()
    stats = HubStats()
    store = open_store(settings.database(), settings.db_synchronous)
    if checkpoints_elsewhere and isinstance(store, SqliteStore):
        # A commit of the scan's (each re-learned routine) would otherwise copy the WAL and
        # fsync the file itself, at the scan's lower priority, beside the hub's thread.
        disable_auto_checkpoint(store.connection)
    # Of the alerts config the scan needs only which homes ask first: the whole contact book
    # (a pydantic model per home) is not kept here a second time (the hub process holds it).
    asks_first = (
        _homes_asking_first(load_alerts_config(settings.alerts_config))
        if settings.alerts_config is not None
        else frozenset()
    )

    def ask_first(home_id: str) -> bool:
        # As the hub's own _asks_first: only homes whose contacts say the kit asks first.
        return home_id in asks_first

    def send(item: AlertRecord | _Counts) -> None:
        out.put(item)

    # Several hubs: the leases the hub process holds, read from the database each pass.
    held = (
        HeldLeases(store.connection, settings.hub_id, clock, settings.lease_settings())
        if settings.hub_id is not None
        else None
    )
    ownership: Ownership = held if held is not None else EVERY_HOME
    scanner = RoutineScanner(
        store,
        clock,
        stats,
        on_alert=send,
        ask_first=ask_first,
        answers=partial(prompt_answers, store.connection),
        ownership=ownership,
        memory_file=settings.scan_memory_path(),
    )
    cold = ColdHomeScanner(store, clock, stats, on_alert=send, ownership=ownership)
    retention = RetentionJob(store, clock, stats, retention_settings(settings))
    if ready is not None:
        ready.set()
    try:
        while _next_pass_due(stop, settings.scan_interval_s, parent_pid):
            try:
                if held is not None:
                    held.refresh()  # the hub process renews them; we read them each pass
                scanner.scan()
                cold.scan()
                # One hub folds old events (two folding the same hour would count it twice): the
                # holder of the partition of this job's name.
                if ownership.owns(RETENTION_JOB):
                    retention.run()
            except Exception:
                # The scan must outlive a bad night of data; ingest is not affected.
                store.rollback()
                stats.incr("scan_errors")
                _LOGGER.exception("routine scan failed")
            send(_Counts(stats.take_counts()))
    finally:
        store.close()


def _next_pass_due(stop: MpEvent, interval_s: float, parent_pid: int) -> bool:
    """Wait `interval_s` for the next pass; False when told to stop or orphaned. The parent is
    looked at every second: a hub killed without stopping us (the OOM killer, SIGKILL) is
    restarted by its supervisor, and our passes must not run beside its new scan's."""
    deadline = time.monotonic() + interval_s
    while True:
        left = deadline - time.monotonic()
        if stop.wait(min(1.0, max(left, 0.0))):
            return False
        if os.getppid() != parent_pid:
            return False  # the hub died without stopping us: do not scan for nobody
        if left <= 1.0:
            return True


class ScanProcess:
    """Starts the scan process and relays what it reports to the hub's stats and alert path."""

    def __init__(
        self,
        settings: HubSettings,
        stats: HubStats,
        on_alert: Callable[[AlertRecord], None],
        checkpoints_elsewhere: bool = False,
    ) -> None:
        self.settings = settings
        self.stats = stats
        self.on_alert = on_alert
        ctx = mp.get_context("spawn")  # the hub has threads: never fork it
        self._out: Any = ctx.Queue(_QUEUE_MAX)
        self._stop = ctx.Event()
        # Set by the process once it is set up and waiting for its first pass.
        self._ready = ctx.Event()
        self._process: SpawnProcess = ctx.Process(
            target=_scan_main,
            args=(
                settings,
                self._out,
                self._stop,
                os.getpid(),
                logging.getLogger().getEffectiveLevel(),
                self._ready,
                checkpoints_elsewhere,
            ),
            name="mehr-hub-scan",
            daemon=True,
        )
        self._relay: threading.Thread | None = None
        self._relay_stop = threading.Event()

    @property
    def pid(self) -> int | None:
        """The scan process's id, once started."""
        return self._process.pid

    def alive(self) -> bool:
        """True while the scan process runs."""
        return self._process.is_alive()

    def start(self) -> None:
        """Start the process and the thread that relays its reports."""
        self._process.start()
        self._relay = threading.Thread(target=self._run_relay, name="hub-scan-relay", daemon=True)
        self._relay.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the process to stop; terminate it if it is still in a pass after `timeout`.

        A pass commits home by home, so a pass cut short loses nothing: the next pass (after
        a restart) checks those homes again.
        """
        self._stop.set()
        if not self._ready.is_set():
            # Still importing and opening its store (seconds): no pass has begun, so there is
            # nothing to finish; waiting for it to notice the stop only delayed every hub stop.
            self._process.terminate()
        self._process.join(timeout)
        if self._process.is_alive():
            _LOGGER.info("scan process still in a pass after %.0f s: terminating it", timeout)
            self._process.terminate()
            self._process.join(5)
        self._relay_stop.set()
        if self._relay is not None:
            self._relay.join(5)
        self._out.close()

    def _run_relay(self) -> None:
        while not self._relay_stop.is_set():
            try:
                item = self._out.get(timeout=0.2)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return
            if isinstance(item, _Counts):
                for name, amount in item.counts.items():
                    self.stats.incr(name, amount)
            else:
                self.on_alert(item)
