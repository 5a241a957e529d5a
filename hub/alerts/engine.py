"""The alert engine: one pass runs its parts' due work (adoption and ask-first in
adoption.py, escalation in escalation.py, delivery in delivery.py, kit availability in
kit_availability.py); AlertRunner runs passes in a thread, woken by new alerts.

AlertRunner runs two engines, each on its own thread and connection: one does everything, the
other (the critical lane) only adopts, escalates and sends help presses and falls. A pass of
the first can be long (thousands of alerts found together after an outage or a re-learn, each
adopted, stepped and sent in turn); a press raised meanwhile is handled at once by the second.
Both may reach the same alert: adoption, steps and sends are claimed in the database, as
between several hubs (docs/scale.md), so each still happens once.

All state is rows (hub/persistence/schema_alerts.py), so `run_due()` after a restart carries
on exactly where the last one stopped (see each part for how).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path

from hub.alerts.adoption import Adopter, Publish
from hub.alerts.channels import Channel
from hub.alerts.config import AlertsConfig
from hub.alerts.delivery import Deliverer, SendsInFlight
from hub.alerts.escalation import Escalator
from hub.alerts.gateways import telegram_poller, with_gateways
from hub.alerts.kit_availability import KitAvailabilityScanner
from hub.alerts.lifecycle import SYSTEM, AlertService
from hub.alerts.testmode import TestModes
from hub.alerts.tokens import TokenSigner
from hub.coordination import EVERY_HOME, Ownership, OwnershipOfOnePass, SettledOwnership
from hub.persistence import escalations as escalations_repo
from hub.persistence.connection import Connection
from hub.persistence.database import (
    DatabaseUrl,
    disable_auto_checkpoint,
    open_connection,
    open_sqlite,
    parse_database_url,
)
from hub.persistence.schema_alerts import migrate_alerts
from mehr.clock import Clock

__all__ = [
    "SYSTEM",
    "AlertEngine",
    "AlertRunner",
    "Publish",
    "open_alerts_connection",
    "open_alerts_db",
]

_LOGGER = logging.getLogger(__name__)
_OTHERS_DUE_FLOOR = timedelta(seconds=0.25)


def open_alerts_db(path: Path, checkpoints_elsewhere: bool = False) -> sqlite3.Connection:
    """Open the hub's SQLite file for the alert engine (WAL, autocommit) and migrate it.

    `checkpoints_elsewhere`: the hub's checkpoint thread moves the WAL into the database, so
    this connection's commits never do. Otherwise every commit past SQLite's 1,000-page mark
    copies what the WAL holds and fsyncs the file in the committing thread: the critical lane
    did so inside its write turn, and the routine writer, which lets that turn go first, waited
    up to half a second for it at 100,000 homes (docs/benchmarks.md).
    """
    conn = open_sqlite(path, shared_between_threads=True)
    if checkpoints_elsewhere:
        disable_auto_checkpoint(conn)
    migrate_alerts(conn, str(path))
    return conn


def open_alerts_connection(
    database: DatabaseUrl | str | Path, checkpoints_elsewhere: bool = False
) -> Connection:
    """Open the hub's database (a SQLite file or PostgreSQL, by URL) for the alert engine, in
    autocommit mode, and migrate it (`checkpoints_elsewhere`: see `open_alerts_db`)."""
    parsed = database if isinstance(database, DatabaseUrl) else parse_database_url(database)
    if parsed.sqlite_path is not None:
        return open_alerts_db(parsed.sqlite_path, checkpoints_elsewhere)
    conn = open_connection(parsed)
    try:
        migrate_alerts(conn, parsed.describe())
    except BaseException:
        conn.close()
        raise
    return conn


class AlertEngine:
    """Runs the alert engine's due work on one connection; call `run_due()` repeatedly.

    The work is done by parts with one job each, sharing the connection and `service`:
    `adoption` (adopt new alerts, ask the resident first), `escalation` (steps, re-notify,
    acknowledgement deadlines, fallback), `delivery` (sends with retries and intents) and
    `kits` (kit availability: offline kits and area outages become alerts).
    """

    def __init__(
        self,
        conn: Connection,
        config: AlertsConfig,
        clock: Clock,
        channel: Channel,
        signer: TokenSigner | None = None,
        public_base_url: str = "http://127.0.0.1:8000",
        publish: Publish | None = None,
        ownership: Ownership = EVERY_HOME,
        *,
        critical_only: bool = False,
        write_first: Callable[[], AbstractContextManager[None]] | None = None,
        in_flight: SendsInFlight | None = None,
        settles: SettledOwnership | None = None,
    ) -> None:
        # Several hubs: this engine acts only on alerts of homes whose partition this hub
        # holds (hub/coordination.py); one hub alone holds them all.
        self.ownership = OwnershipOfOnePass(ownership)
        # The critical lane: help presses and falls only, its writes before routine batches.
        self.critical_only = critical_only
        self.service = AlertService(conn, config, clock, signer, write_first)
        self.conn = conn
        self.config = config
        self.clock = clock
        self.test_modes = TestModes(conn, clock)
        self.escalation = Escalator(
            conn, config, self.service, self.ownership, critical_only=critical_only
        )
        self.adoption = Adopter(
            conn, config, self.service, self.test_modes, self.escalation, publish,
            self.ownership, critical_only=critical_only,
        )  # fmt: skip
        # SMS gateways with an account (eskiz://) get their own channel; see gateways.py.
        self.delivery = Deliverer(
            conn,
            config,
            clock,
            with_gateways(channel, config.gateways, clock),
            self.service,
            self.escalation,
            signer,
            public_base_url.rstrip("/"),
            self.ownership,
            critical_only=critical_only,
            in_flight=in_flight,
        )
        self.kits = KitAvailabilityScanner(conn, config, self.service, self.ownership)
        # The full engine tells the critical lane which partitions it has settled.
        self._settles = settles
        self._last_scan: datetime | None = None
        self._recovered = False
        self._held: dict[int, int] = {}

    @property
    def channel(self) -> Channel:
        """The channel notifications are sent through."""
        return self.delivery.channel

    @channel.setter
    def channel(self, channel: Channel) -> None:
        self.delivery.channel = channel

    # -- the loop body --------------------------------------------------------------------------

    def run_due(self) -> datetime | None:
        """Do everything that is due now; return when something is next due (None: nothing)."""
        if self.critical_only:
            self._run_critical_due()
            return None  # woken by each new alert, and looks again after max_idle_s
        now = self.clock.now()
        held = self.ownership.begin_pass()
        if not self._recovered or held.items() - self._held.items():
            # Sends a previous process was killed in: at start, and whenever this hub takes
            # partitions over (the sends of the hub that held them). Never between passes of
            # our own: the sends of this engine all happen inside its passes.
            self.delivery.resolve_interrupted_sends(now)
            self._recovered = True
        self._held = held
        if self._settles is not None:
            self._settles.settle(held)
        # Before adopting: an alert raised after a test mode's end must see it ended. (The
        # decision itself goes by the alert's raised_at, so a late pass changes nothing.)
        self._end_test_modes(now)
        self.adoption.adopt_new(now)
        if self._last_scan is None or (now - self._last_scan).total_seconds() >= (
            self.config.grouping.scan_every_s
        ):
            self._last_scan = now
            self.kits.scan(now)
            self.adoption.adopt_new(now)
        self.adoption.asks_due(now)
        self.escalation.ack_timeouts_due(now)
        self.escalation.steps_due(now)
        self.escalation.renotify_due(now)
        if self.delivery.deliver_due(between=self._adopt_raised_meanwhile):
            # A person who could not be reached moved the next step to now: run it at once.
            self.escalation.steps_due(self.clock.now())
            self.delivery.deliver_due(between=self._adopt_raised_meanwhile)
        return self.next_due()

    def _run_critical_due(self) -> None:
        """The critical lane's pass: help presses' and falls' adoption, steps, re-notifications
        and sends. It never recovers interrupted sends (the full engine does, at its start and
        at takeovers) and leaves test modes, asks and kit availability to the full engine."""
        now = self.clock.now()
        self.ownership.begin_pass()
        self.adoption.adopt_new(now)
        self.escalation.ack_timeouts_due(now)
        self.escalation.steps_due(now)
        self.escalation.renotify_due(now)
        if self.delivery.deliver_due():
            self.escalation.steps_due(self.clock.now())
            self.delivery.deliver_due()

    def _adopt_raised_meanwhile(self) -> bool:
        """Between chunks of sends: adopt new alerts (a critical one first) and run their first
        escalation step, so that their first messages are due and, if critical, sent next; True
        if there were any."""
        now = self.clock.now()
        if not self.adoption.adopt_new(now):
            return False
        self.escalation.steps_due(now)
        return True

    def next_due(self) -> datetime | None:
        """The earliest time any timer or retry is due."""
        due = escalations_repo.earliest_due(self.conn)
        test_end = self.test_modes.next_end()
        if test_end is not None:
            due = test_end if due is None else min(due, test_end)
        scan = (self._last_scan or self.clock.now()) + timedelta(
            seconds=self.config.grouping.scan_every_s
        )
        due = scan if due is None else min(due, scan)
        if self.ownership.live is not EVERY_HOME:
            # The timers read here are every hub's: one overdue on a hub that died is not ours
            # until its partition is taken over; do not spin on it meanwhile.
            due = max(due, self.clock.now() + _OTHERS_DUE_FLOOR)
        return due

    def _end_test_modes(self, now: datetime) -> None:
        for period in self.test_modes.expire_due(now):
            _LOGGER.info(
                "test mode of %s ended by itself at %s", period.scope, period.ends_at.isoformat()
            )


class AlertRunner:
    """Runs the alert engine's two lanes (the full engine and the critical lane), each in its
    own thread on its own connection; both woken by new alerts."""

    def __init__(
        self,
        database: DatabaseUrl | str | Path,
        config: AlertsConfig,
        clock: Clock,
        channel: Channel,
        signer: TokenSigner | None,
        public_base_url: str,
        publish: Publish | None = None,
        max_idle_s: float = 1.0,
        ownership: Ownership = EVERY_HOME,
        write_first: Callable[[], AbstractContextManager[None]] | None = None,
        checkpoints_elsewhere: bool = False,
    ) -> None:
        def connect() -> Connection:
            return open_alerts_connection(database, checkpoints_elsewhere)

        # Button presses under Telegram alerts, when the district has a bot (and the channel
        # delivers for real: the demo's recording channel never polls Telegram).
        self.telegram = telegram_poller(
            channel, config, connect, clock, signer
        )
        args = (config, clock, channel, signer, public_base_url, publish)
        in_flight = SendsInFlight()
        # The critical lane acts only where the full engine has settled interrupted sends.
        settled = SettledOwnership(ownership)

        def full() -> AlertEngine:
            return AlertEngine(
                connect(), *args, ownership, in_flight=in_flight,
                settles=settled,
            )  # fmt: skip

        def critical() -> AlertEngine:
            return AlertEngine(
                connect(), *args, settled, critical_only=True,
                write_first=write_first, in_flight=in_flight,
            )  # fmt: skip

        self._full = _EngineLoop("hub-alerts", full, clock, max_idle_s)
        self._critical = _EngineLoop("hub-alerts-critical", critical, clock, max_idle_s)
        self._lanes = (self._full, self._critical)

    @property
    def errors(self) -> int:
        """Passes that raised (each lane's rows stay and its next pass picks them up)."""
        return sum(lane.errors for lane in self._lanes)

    def start(self) -> None:
        """Open the database, migrate, and start both lanes; raise if that fails (with neither
        left running)."""
        try:
            for lane in self._lanes:
                lane.start()
        except BaseException:
            self._stop_lanes()
            raise
        if self.telegram is not None:
            self.telegram.start()

    def wake(self, critical: bool = True) -> None:
        """Run the due work now (called for each new alert, from the ingest thread); the
        critical lane too unless the alert is known not to be critical.

        A pass finds every unadopted alert itself, so the caller need not say which.
        """
        self._full.wake()
        if critical:
            self._critical.wake()

    def run_pass(self, timeout: float = 30.0) -> bool:
        """Run the due work now and wait until, in each lane, a pass that started after this
        call finished.

        For callers that move a manual clock (scenarios, tests): when this returns, everything
        due at the clock's current time has been done. False if it timed out.
        """
        targets = [lane.ask_for_pass() for lane in self._lanes]
        deadline = time.monotonic() + timeout  # a manual clock does not move by itself
        return all(
            lane.wait_for_pass(target, deadline)
            for lane, target in zip(self._lanes, targets, strict=True)
        )

    def stop(self) -> None:
        """Finish each lane's current pass and stop."""
        if self.telegram is not None:
            self.telegram.stop()
        self._stop_lanes()

    def _stop_lanes(self) -> None:
        for lane in self._lanes:  # both told first, so they finish their passes together
            lane.stop(wait=False)
        for lane in self._lanes:
            lane.stop()


class _EngineLoop:
    """One engine's passes in a thread of its own: a pass when woken, or after max_idle_s, or
    when the engine says something is due."""

    def __init__(
        self, name: str, make_engine: Callable[[], AlertEngine], clock: Clock, max_idle_s: float
    ) -> None:
        self.name = name
        self._make_engine = make_engine
        self.clock = clock
        self.max_idle_s = max_idle_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.errors = 0
        # Counts finished passes, so a caller driving a manual clock can wait for one.
        self._started_passes = 0  # passes that have begun (read the clock)
        self._finished = 0  # number of the last pass that has finished
        self._passed = threading.Condition()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError("alert engine failed to start") from self._error

    def wake(self) -> None:
        self._wake.set()

    def ask_for_pass(self) -> int:
        """Make sure a pass begins after this call; return its number."""
        with self._passed:
            # The pass running now (if any) may have read the clock before this call: wait for
            # the next one to begin and end. Setting the wake flag makes sure there is one.
            self._wake.set()
            return self._started_passes + 1

    def wait_for_pass(self, target: int, deadline: float) -> bool:
        with self._passed:
            return self._passed.wait_for(
                lambda: self._finished >= target, max(0.0, deadline - time.monotonic())
            )

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        self._wake.set()
        if wait and self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            engine = self._make_engine()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise
        self._ready.set()
        try:
            while not self._stop.is_set():
                with self._passed:
                    self._wake.clear()
                    self._started_passes += 1
                    this_pass = self._started_passes
                try:
                    due = engine.run_due()
                except Exception:
                    # The rows stay; the next pass picks them up. Never let the hub lose alerts.
                    self.errors += 1
                    _LOGGER.exception("%s: alert engine pass failed; retrying", self.name)
                    due = None
                with self._passed:
                    self._finished = this_pass
                    self._passed.notify_all()
                wait = self.max_idle_s
                if due is not None:
                    wait = min(wait, max(0.01, (due - self.clock.now()).total_seconds()))
                self._wake.wait(wait)
        finally:
            engine.conn.close()
