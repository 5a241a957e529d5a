"""The hub process: broker link, ingest worker, stats endpoint, wired together and stoppable."""

from __future__ import annotations

import gc
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from hub.alerts.channels import AppriseChannel, Channel
from hub.alerts.config import load_alerts_config
from hub.alerts.engine import AlertRunner
from hub.alerts.prompts import prompt_answers
from hub.alerts.tokens import TokenSigner
from hub.cold_scan import ColdHomeScanner
from hub.config import HubSettings
from hub.coordination import EVERY_HOME, DatabaseTransactions, LeaseCoordinator, Ownership
from hub.home_assistant_link import HomeAssistantLink, load_home_assistant_config
from hub.influx_sink import InfluxSettings, InfluxSink
from hub.ingest import Ingestor, TimeLimits
from hub.link_process import LinkProcess, RemoteLink
from hub.metrics import build_hub_registry
from hub.mqtt_link import MqttLink, QueuedMessage
from hub.persistence import leases as leases_repo
from hub.persistence.database import disable_auto_checkpoint, set_busy_timeout
from hub.persistence.file_sync import DatabaseFileSync
from hub.persistence.page_warming import warm_write_pages
from hub.persistence.schema_alerts import migrate_alerts
from hub.persistence.sensor_state_buffer import SensorStateBuffer
from hub.persistence.sqlite_store import SqliteStore, SqlStore, open_store
from hub.registry import load_registry
from hub.reject_log import RejectLog
from hub.retention import RETENTION_JOB, RetentionJob, retention_settings
from hub.routine_scan import RoutineScanner
from hub.scan_process import ScanProcess
from hub.stats import HubStats
from hub.store.base import AlertRecord, is_transient
from hub.urgent_allowance import OverAllowanceWarnings
from hub.wal_bound import RoutineWriterPause, WalBound, WalOutcome
from hub.write_priority import PriorityWriters
from hub.writer_waits import WaitCause
from mehr.clock import Clock, SystemClock
from mehr.vocabulary import Severity

__all__ = ["Hub", "HubStartError"]

_LOGGER = logging.getLogger(__name__)
_RETRY_DELAYS_S = (0.1, 0.5, 1.0, 2.0, 5.0)
# Urgent messages per transaction: a handful that arrived together, never a bulk batch.
_URGENT_BATCH_MAX = 16
_CHECKPOINT_EVERY_S = 1.0
# How long a WAL restart (hub/wal_bound.py) waits for a writer, and then for readers, before it
# is put off to the next checkpoint.
_WAL_RESTART_WAIT_S = 0.1
# The longest a routine batch waits for urgent messages to be stored first (see _yield_to_urgent).
_URGENT_FIRST_MAX_S = 2.0
# The page warming at start gives up after this long: by then the writer has read what it needs.
_WARM_PAGES_FOR_S = 300.0
# At start, sensor states are written again from the events stored this long before the newest
# (on SQLite, whatever the setting is now: it may have been on, and longer, when the hub
# stopped). A buffered state is written within two cycles of its commit (one to wait, one to be
# written): three of the longest cycle the setting allows (60 s), and a minute more.
_SENSOR_STATE_REPLAY_S = 3 * 60.0 + 60.0


class HubStartError(RuntimeError):
    """The hub cannot run with this configuration (for example, the broker refuses it)."""


class Hub:
    """One hub: start() brings everything up or raises; stop() takes it all down."""

    # What this hub raises by itself (kit_offline and area_outage need `alerts_config`).
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"event_rules", "accel_classification", "inactivity_scan", "kit_offline", "area_outage"}
    )

    def __init__(
        self,
        settings: HubSettings,
        clock: Clock | None = None,
        on_alert: Callable[[AlertRecord], None] | None = None,
        alert_channel: Channel | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.stats = HubStats()
        self.on_alert = on_alert
        # The alert engine (when settings.alerts_config is set); channel None means apprise.
        self.alert_channel = alert_channel
        self.alerts: AlertRunner | None = None
        # Copies series to InfluxDB when settings.influx_url is set; never blocks ingest.
        self.influx: InfluxSink | None = None
        # Publishes opted-in homes for their families' Home Assistant (home_assistant_file).
        self.home_assistant: HomeAssistantLink | None = None
        # Bounded only with the urgent lane: a full inbox stops the main connection's reading,
        # and without the lane a press behind it in the socket would wait too.
        bound = settings.inbox_max if settings.mqtt_urgent_username is not None else 0
        self.inbox: queue.Queue[QueuedMessage] = queue.Queue(maxsize=bound)
        # Help, "I'm OK" and fall messages: their own queue and writer, so a backlog of routine
        # traffic never sits in front of them (hub/triage.py decides which they are).
        self.urgent_inbox: queue.Queue[QueuedMessage] = queue.Queue(settings.urgent_inbox_max)
        # The broker connections: in this process, or in a process of their own
        # (link_process), where paho's per-message work runs on the other core.
        self.link_process: LinkProcess | None = None
        self.link: MqttLink | RemoteLink
        # The urgent lane (mqtt_urgent_username): presses never queue behind routine traffic
        # at the broker; what it takes shares the urgent inbox and writer.
        self.urgent_lane: MqttLink | RemoteLink | None = None
        lane = settings.mqtt_urgent_username is not None
        if settings.link_process:
            self.link_process = LinkProcess(
                settings, self.clock, self.inbox, self.urgent_inbox, lane=lane,
                on_connection_change=self._connection_changed,
                on_inbox_full=lambda: self.stats.incr("inbox_full"),
                on_urgent_full=self._urgent_demoted,
                on_urgent_over_rate=self._urgent_over_rate,
            )  # fmt: skip
            self.link, self.urgent_lane = self.link_process.main, self.link_process.lane
        else:
            self.link = MqttLink(
                settings,
                self.clock,
                self.inbox,
                on_connection_change=self._connection_changed,
                urgent=self.urgent_inbox,
                # Counted: the hub was behind by a whole inbox and stopped reading the broker.
                on_inbox_full=lambda: self.stats.incr("inbox_full"),
                on_urgent_full=self._urgent_demoted,
                on_urgent_over_rate=self._urgent_over_rate,
            )
            if lane:
                self.urgent_lane = MqttLink(
                    settings, self.clock, self.inbox, urgent=self.urgent_inbox, lane=True,
                    on_urgent_full=self._urgent_demoted,
                )  # fmt: skip
        self._stop = threading.Event()
        # The urgent writer and the alert engine's help-and-fall work go before routine
        # batches on SQLite's one write lock (see _yield_to_urgent).
        self._priority_writers = PriorityWriters()
        self._worker: threading.Thread | None = None
        self._urgent_worker: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._database_file: DatabaseFileSync | None = None  # the checkpoint thread's
        self._heap_frozen = False  # this hub holds a share of the process's _STARTUP_HEAP
        self._page_warming: threading.Thread | None = None
        self._routine_pause = RoutineWriterPause(stopping=self._stop)
        self._scanner_thread: threading.Thread | None = None
        self._scan_process: ScanProcess | None = None
        # One bounded reject log for both writers: a flood split across them logs no more.
        self._reject_log = RejectLog(
            self.clock, settings.reject_log_first, settings.reject_log_every_s
        )
        self._http: ThreadingHTTPServer | None = None
        # Which homes' scans and alert work are ours: all of them for the only hub; with a
        # hub_id, those whose partition this hub leases (hub/coordination.py).
        self.coordinator: LeaseCoordinator | None = None
        self._lease_transactions: DatabaseTransactions | None = None
        self.ownership: Ownership = EVERY_HOME
        self._ready = threading.Event()
        self._urgent_ready = threading.Event()
        self._worker_error: BaseException | None = None
        self._scan_lock = threading.Lock()
        self._tick_local = threading.local()
        self._tick_stores: list[SqlStore] = []
        # What /healthz needs to see a stalled ingest: when the batch in hand was received, and
        # how many store attempts in a row have failed.
        self._in_hand_since: dict[str, datetime] = {}
        self._store_failures_in_row: dict[str, int] = {}
        self._over_allowance = OverAllowanceWarnings(
            settings.urgent_per_kit_burst, settings.urgent_per_kit_per_s
        )

    @property
    def stats_url(self) -> str | None:
        """Where the stats endpoint listens, once started."""
        if self._http is None:
            return None
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/stats"

    def start(self) -> None:
        """Prepare the database, load the registry, then start ingest, stats and the broker link."""
        # Its own checkpoints kept: the checkpoint thread starts after the registry is loaded,
        # and a first start at a district's size writes every home.
        store = open_store(self.settings.database(), self.settings.db_synchronous)
        try:
            if not self.settings.uses_sqlite():
                # Every table in place before any part reads it: on PostgreSQL a read of a
                # missing table would abort the reader's transaction, not just return nothing.
                migrate_alerts(store.connection, store.source)
            if self.settings.registry_file is not None:
                registry = load_registry(self.settings.registry_file)
                for home in registry.homes:
                    store.register_home(home, self.clock.now())
                _LOGGER.info("registry: %d homes loaded", len(registry.homes))
            self._check_alone(store)
            if self.settings.uses_sqlite():
                replayed = store.replay_sensor_states(_SENSOR_STATE_REPLAY_S)
                if replayed:
                    _LOGGER.info("sensor states: %d recent events written again", replayed)
        finally:
            store.close()
        self._start_leases()
        self._start_alerts()
        self._start_influx()
        self._worker = threading.Thread(
            target=self._run_worker,
            args=(
                "bulk",
                self.inbox,
                self.settings.batch_max,
                self._ready,
                self.settings.batch_linger_s,
            ),
            name="hub-ingest",
            daemon=True,
        )
        self._worker.start()
        # Urgent batches stay small: each press is committed and acknowledged on its own
        # transaction as soon as it arrives, not after up to batch_max others.
        self._urgent_worker = threading.Thread(
            target=self._run_worker,
            args=("urgent", self.urgent_inbox, _URGENT_BATCH_MAX, self._urgent_ready, 0.0),
            name="hub-ingest-urgent",
            daemon=True,
        )
        self._urgent_worker.start()
        if self.settings.uses_sqlite():
            # SQLite's WAL only: PostgreSQL checkpoints by itself. The database file's
            # descriptor is let go by stop(), after the hub's connections (file_sync.py).
            self._database_file = DatabaseFileSync(self.settings.db_path)
            self._checkpointer = threading.Thread(
                target=self._run_checkpoints, name="hub-wal-checkpoint", daemon=True
            )
            self._checkpointer.start()
        if self.settings.scan_process and isinstance(self.clock, SystemClock):
            self._scan_process = ScanProcess(
                self.settings, self.stats, self._alert_raised,
                checkpoints_elsewhere=self.settings.uses_sqlite(),  # the checkpoint thread's
            )  # fmt: skip
            self._scan_process.start()
        else:  # an injected clock lives in this process: so must the scan that reads it
            self._scanner_thread = threading.Thread(
                target=self._run_scanner, name="hub-routine-scan", daemon=True
            )
            self._scanner_thread.start()
        self._ready.wait(timeout=30)
        self._urgent_ready.wait(timeout=30)
        if self._worker_error is not None:
            raise RuntimeError("hub ingest worker failed to start") from self._worker_error
        # Every kit is read by now; the broker's backlog has not started to come.
        _STARTUP_HEAP.freeze()
        self._heap_frozen = True
        self._start_http()
        self._start_page_warming()
        self._start_link(self.link, self.settings.mqtt_username)
        if self.urgent_lane is not None:
            self._start_link(self.urgent_lane, self.settings.mqtt_urgent_username)
        self._start_home_assistant()
        self.stats.writer_waits.watch_garbage_collector()
        _LOGGER.info("hub started; stats at %s", self.stats_url)

    def _let_go_of_the_heap(self) -> None:
        """Stop timing full collections, and give back this hub's share of the freeze."""
        self.stats.writer_waits.stop_watching_garbage_collector()
        if self._heap_frozen:
            self._heap_frozen = False
            _STARTUP_HEAP.release()

    def _start_page_warming(self) -> None:
        """Read the pages every kit's next writes need, beside ingest (SQLite only)."""
        path = self.settings.db_path
        readers = self.settings.warm_page_readers
        if not self.settings.uses_sqlite() or readers == 0:
            return

        def warm() -> None:
            try:
                done = warm_write_pages(path, readers, self._stop, _WARM_PAGES_FOR_S)
            except Exception:  # only slower: the writer reads what it needs itself
                _LOGGER.exception("could not read the write pages ahead")
                return
            if done.already_cached:
                _LOGGER.info("write pages already in memory (%d kits looked at)", done.kits)
                return
            _LOGGER.info(
                "write pages of %d kits and %d homes read in %.1f s%s", done.kits, done.homes,
                done.seconds, "" if done.finished else " (stopped, failed or out of time first)",
            )  # fmt: skip

        self._page_warming = threading.Thread(target=warm, name="hub-warm-pages", daemon=True)
        self._page_warming.start()

    def _start_link(self, link: MqttLink | RemoteLink, username: str | None) -> None:
        link.start()
        # A broker that refuses our credentials will refuse them forever: stop now with the
        # reason rather than run half-started. A broker that is merely unreachable is retried.
        link.answered.wait(self.settings.connect_wait_s)
        if link.refused is not None:
            reason = link.refused
            self.stop()
            raise HubStartError(
                f"broker {self.settings.mqtt_url} refused user {username!r}: {reason}"
            )
        # Connected means subscribed too: the SUBACK follows the CONNACK by a round trip.
        if not link.connected.wait(self.settings.connect_wait_s if link.answered.is_set() else 0):
            _LOGGER.warning(
                "broker %s not reachable yet for user %r; retrying", self.settings.mqtt_url,
                username,
            )  # fmt: skip

    def _check_alone(self, store: SqlStore) -> None:
        """A hub without a hub_id does every home's work: refuse to run beside hubs that
        share the work by leases (both would scan and page for the same homes)."""
        if self.settings.hub_id is not None:
            return
        others = leases_repo.live_members(store.connection, self.clock.now())
        if others:
            raise HubStartError(
                f"{store.source}: hubs {', '.join(others)} share this database by "
                "leases; set hub_id on this hub too (docs/scale.md, 'Several hubs')"
            )

    def _start_leases(self) -> None:
        """With a hub_id: take this hub's share of the partitions before any work starts."""
        if self.settings.hub_id is None:
            return
        self._lease_transactions = DatabaseTransactions(self.settings.database())
        self.coordinator = LeaseCoordinator(
            self._lease_transactions,
            self.settings.hub_id,
            self.clock,
            self.settings.lease_settings(),
        )
        self.coordinator.start()
        self.ownership = self.coordinator
        _LOGGER.info(
            "hub %s holds %d of %d partitions",
            self.settings.hub_id, len(self.coordinator.held()), self.settings.lease_partitions,
        )

    def _start_home_assistant(self) -> None:
        if self.settings.home_assistant_file is None:
            return
        ha = load_home_assistant_config(self.settings.home_assistant_file)
        host, port, tls = self.settings.broker_address()
        password = ha.password_file.read_text(encoding="utf-8").strip()
        self.home_assistant = HomeAssistantLink(
            self.settings.database(),
            host,
            port,
            ha.username,
            password,
            ha.homes,
            ha.every_s,
            tls=tls,
            ca_file=self.settings.mqtt_ca_file,
        )
        self.home_assistant.start()

    def stop(self) -> None:
        """Stop taking messages, finish the batch in hand, and close everything."""
        if self.home_assistant is not None:
            self.home_assistant.stop()
        if self.urgent_lane is not None:
            self.urgent_lane.stop()
        self.link.stop()
        self._stop.set()
        self._routine_pause.release_all()
        self._let_go_of_the_heap()
        self._join_workers()
        for part in (self.alerts, self.influx):
            if part is not None:
                part.stop()
        if self.coordinator is not None:
            # Last: the work above has stopped, so the partitions can be handed over now.
            self.coordinator.stop()
        if self._lease_transactions is not None:
            self._lease_transactions.close()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        self._close_database_files()

    def _close_database_files(self) -> None:
        """The tick stores, then the checkpoint thread's descriptor: last, after every
        connection of the hub's (hub/persistence/file_sync.py says why). A connection still
        open (another thread's, or a worker that did not stop in time) keeps the descriptor
        open until the process exits."""
        all_closed = True
        for store in self._tick_stores:
            try:
                store.close()
            except Exception:  # a connection of another thread: it closes with the process
                _LOGGER.debug("tick store left to the process exit")
                all_closed = False
        workers = (self._worker, self._urgent_worker, self._checkpointer, self._scanner_thread)
        all_closed = all_closed and not any(w is not None and w.is_alive() for w in workers)
        if self._database_file is not None and all_closed:
            self._database_file.close()
            self._database_file = None

    def _join_workers(self) -> None:
        """Let the ingest, checkpoint and scan workers finish what they hold."""
        for worker in (self._worker, self._urgent_worker, self._checkpointer, self._page_warming):
            if worker is not None:
                worker.join(timeout=30)
        if self._scanner_thread is not None:
            self._scanner_thread.join(timeout=30)
        if self._scan_process is not None:
            self._scan_process.stop()

    # -- alert engine ---------------------------------------------------------------------------

    def _start_alerts(self) -> None:
        """Start the alert engine's thread if an alerts config is set (raises on a bad one)."""
        if self.settings.alerts_config is None:
            return
        config = load_alerts_config(self.settings.alerts_config)
        self._alerts_config = config
        signer = TokenSigner(self.settings.alerts_secret_bytes())
        self.alerts = AlertRunner(
            self.settings.database(),
            config,
            self.clock,
            self.alert_channel or AppriseChannel(),
            signer,
            self.settings.public_base_url,
            publish=self.link.publish,
            ownership=self.ownership,
            write_first=self._priority_writers.first,
            # The checkpoint thread moves the WAL (SQLite): no commit of the engine's does.
            checkpoints_elsewhere=self.settings.uses_sqlite(),
        )
        self.alerts.start()
        _LOGGER.info("alert engine started with %s", self.settings.alerts_config)

    def _start_influx(self) -> None:
        """Start tailing the database into InfluxDB if a URL is set (off by default)."""
        if self.settings.influx_url is None:
            return
        self.influx = InfluxSink(
            self.settings.database(),
            InfluxSettings(
                url=self.settings.influx_url,
                org=self.settings.influx_org,
                bucket=self.settings.influx_bucket,
                token=self.settings.influx_token(),
            ),
        )
        self.influx.start()
        _LOGGER.info("influx sink started: %s", self.settings.influx_url)

    def _wake_alerts(self) -> None:
        if self.alerts is not None:
            self.alerts.wake()

    def _alert_raised(self, alert: AlertRecord) -> None:
        """A new alert was committed: wake the engine at once, then tell the embedder."""
        if self.alerts is not None:
            self.alerts.wake(critical=alert.severity == Severity.CRITICAL)
        if self.on_alert is not None:
            self.on_alert(alert)

    # -- ingest worker --------------------------------------------------------------------------

    def _run_worker(
        self,
        name: str,
        inbox: queue.Queue[QueuedMessage],
        batch_max: int,
        ready: threading.Event,
        linger_s: float,
    ) -> None:
        """Store what arrives in `inbox` in batches on this thread's own connection; acknowledge
        each batch only after it has committed. A batch waits up to `linger_s` after its first
        message for others to share its commit (one fsync for many under load)."""
        try:
            store = self._open_store()
        except BaseException as exc:
            self._worker_error = exc
            ready.set()
            raise
        ingestor = self._writer_ingestor(store, bulk=inbox is self.inbox)
        ready.set()
        try:
            while not self._stop.is_set():
                if inbox is self.inbox:
                    held_s = self._routine_pause.at_batch_boundary()  # while the WAL restarts
                    if held_s is not None:
                        self.stats.writer_waits.record(WaitCause.WAL_RESTART, held_s)
                try:
                    first = inbox.get(timeout=0.2)
                except queue.Empty:
                    ingestor.reject_log.flush()
                    self._write_sensor_states(store)
                    continue
                self._in_hand_since[name] = first.raw.received_at
                batch = _collect_batch(inbox, first, batch_max, linger_s)
                if inbox is self.inbox:
                    depth = inbox.qsize()
                    self.stats.queue_depth = depth
                    # The inbox should stay under receive_maximum (the broker holds the rest);
                    # its high-water mark shows when it does not (redeliveries after reconnects).
                    self.stats.raise_to("inbox_peak", depth + len(batch))
                if self._store_in_turn(name, inbox is self.urgent_inbox, ingestor, batch):
                    for message in batch:
                        (message.via or self.link).ack(message)
                    if inbox is self.urgent_inbox and self.settings.hub_id is not None:
                        # Several hubs: another hub may have stored this press first and
                        # raised its alert; if the home is ours, our engine adopts it now,
                        # not at its next idle pass (up to a second later).
                        self._wake_alerts()
                self._in_hand_since.pop(name, None)
                # Batches that wrote nothing (heartbeats not written) commit nothing either.
                self._write_sensor_states(store)
        finally:
            store.close()

    def _writer_ingestor(self, store: SqlStore, bulk: bool) -> Ingestor:
        """The ingest worker's Ingestor on its own store, readied (`_prepare_writer`); the bulk
        worker's store keeps sensor states in memory when configured."""
        ingestor = Ingestor(
            store,
            self.clock,
            self.stats,
            on_alert=self._alert_raised,
            time_limits=TimeLimits(
                max_ahead_s=self.settings.max_clock_ahead_s,
                max_age_s=self.settings.max_event_age_s,
            ),
            reject_log=self._reject_log,
            heartbeat_every_s=self.settings.heartbeat_store_every_s,
        )
        _prepare_writer(store, ingestor, bulk=bulk)
        if bulk and self._buffers_sensor_states():
            store.sensor_state_buffer = SensorStateBuffer(
                self.settings.sensor_state_write_s, self._seconds_of_the_clock()
            )
        return ingestor

    def _seconds_of_the_clock(self) -> Callable[[], float]:
        """Seconds to time the writer's cycles by: the monotonic clock, or an injected clock's
        own (a simulation running days in seconds keeps the states as fresh in its time as a
        real hub does in the real one; the scan reads them on that clock)."""
        if isinstance(self.clock, SystemClock):
            return time.monotonic
        clock = self.clock
        return lambda: clock.now().timestamp()

    def _buffers_sensor_states(self) -> bool:
        return self.settings.uses_sqlite() and self.settings.sensor_state_write_s > 0

    def _write_sensor_states(self, store: SqlStore) -> None:
        """The buffered sensor states due, if no batch's commit has carried them lately."""
        try:
            store.write_due_sensor_states()
        except Exception as exc:  # kept in memory and tried again at the next batch
            if is_transient(exc):
                self.stats.warn("sensor_state_write_retried")
            else:
                _LOGGER.exception("writing sensor states failed")

    def _store_in_turn(
        self, name: str, urgent: bool, ingestor: Ingestor, batch: list[QueuedMessage]
    ) -> bool:
        """Store a batch (with retries); on SQLite a routine batch first lets urgent ones go."""
        if not urgent:
            if self.settings.uses_sqlite():
                self._yield_to_urgent()
            return self._store_with_retry(name, ingestor, batch)
        with self._priority_writers.first():
            return self._store_with_retry(name, ingestor, batch)

    def _yield_to_urgent(self) -> None:
        """Let urgent messages waiting or in hand, and the alert engine's work on a help press or
        a fall, commit before the next routine batch.

        SQLite has one write lock, and its busy handler sleeps between tries: a routine writer
        that begins its next batch the moment it commits wins the lock again and again, and a
        press waits behind batch after batch (help p99 22.6 s at 100,000 homes with the urgent
        lane). Bounded, so a stuck urgent writer never stops routine storing for long.
        """
        started = time.perf_counter()
        deadline = time.monotonic() + _URGENT_FIRST_MAX_S
        waited = False
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self._priority_writers.busy():
                self._priority_writers.wait_until_idle(0.05)
            elif not self.urgent_inbox.empty():
                time.sleep(0.002)  # taken by the urgent writer within a moment
            else:
                break
            waited = True
        if waited:
            self.stats.writer_waits.timed(WaitCause.URGENT_FIRST, started)

    def _open_store(self) -> SqlStore:
        """A store of this thread's own on the configured database (db_path or database_url).
        On SQLite its commits never checkpoint: the checkpoint thread does (`open_alerts_db`
        says what a commit that checkpoints costs the others)."""
        store = open_store(self.settings.database(), self.settings.db_synchronous)
        if isinstance(store, SqliteStore):
            disable_auto_checkpoint(store.connection)
        return store

    def _run_checkpoints(self) -> None:
        """Move the WAL into the database every `_CHECKPOINT_EVERY_S`, on a connection of its
        own (PASSIVE: never waits for a writer or blocks one), and start it over when it has
        grown past `wal_restart_above_mb` (hub/wal_bound.py)."""
        # Opened with the usual busy timeout (it may meet a migration or a WAL recovery), then
        # a short one: it bounds each wait of a restart, while ingest is held.
        store = SqliteStore(self.settings.db_path, self.settings.db_synchronous)
        set_busy_timeout(store.connection, _WAL_RESTART_WAIT_S)
        assert self._database_file is not None  # opened by start()
        bound = WalBound(
            self.settings.wal_restart_above_mb * 1024 * 1024,
            self._routine_pause,
            sync_database=self._sync_database_file,
            flush_io_idle=self.settings.database_flush_io_idle,
        )
        try:
            while not self._stop.wait(_CHECKPOINT_EVERY_S):
                try:
                    outcome = bound.look(store.connection)
                    if outcome is WalOutcome.RESTARTED:
                        self.stats.incr("wal_restarts")
                    elif outcome is WalOutcome.PUT_OFF:
                        self.stats.incr("wal_restarts_put_off")
                except Exception:
                    _LOGGER.exception("WAL checkpoint failed; the next one retries")
        finally:
            store.close()

    def _sync_database_file(self) -> None:
        """Flush the database file, timed: how long flushes take shows whether the disk keeps
        up with ingest before any writer has to wait for it."""
        assert self._database_file is not None
        with self.stats.database_flush_histogram.time():
            self._database_file.sync()

    def _connection_changed(self, connected: bool) -> None:
        # Each reconnect has the broker resend every unacknowledged message: counted, so an
        # inbox above receive_maximum can be told from a broker that ignores it.
        self.stats.incr("broker_connects" if connected else "broker_disconnects")

    def _asks_first(self, home_id: str) -> bool:
        """Whether a home's kit asks "Are you OK?" first (the scan then uses the asking limit)."""
        config = getattr(self, "_alerts_config", None)
        if config is None or self.link.publish is None:
            return False
        contacts = config.home(home_id)
        return contacts is not None and contacts.ask_first

    def _urgent_demoted(self) -> None:
        """An urgent message found the urgent inbox full and goes the routine way (counted;
        logged at the first of each run of them and every 1,000th)."""
        self.stats.incr("urgent_demoted")
        count = self.stats.get("urgent_demoted")
        if count == 1 or count % 1000 == 0:
            _LOGGER.warning(
                "urgent inbox full (%d): %d urgent messages stored at the routine pace so far "
                "(a kit flooding help, fall or accelerometer messages?)",
                self.settings.urgent_inbox_max, count,
            )  # fmt: skip

    def _urgent_over_rate(self, topic: str, count: int) -> None:
        """Urgent messages on `topic` past their kit's allowance went the routine way."""
        self.stats.incr("urgent_over_rate", count)
        self._over_allowance.note(topic, self.stats.get("urgent_over_rate"))

    def _run_scanner(self) -> None:
        """Check every home against its routine every `scan_interval_s`, on the hub's clock."""
        store = self._open_store()
        scanner = RoutineScanner(
            store,
            self.clock,
            self.stats,
            on_alert=self._alert_raised,
            ask_first=self._asks_first,
            answers=partial(prompt_answers, store.connection),
            ownership=self.ownership,
            memory_file=self.settings.scan_memory_path(),
        )
        cold = ColdHomeScanner(
            store, self.clock, self.stats, on_alert=self._alert_raised, ownership=self.ownership
        )
        retention = RetentionJob(store, self.clock, self.stats, retention_settings(self.settings))
        try:
            while not self._stop.wait(self.settings.scan_interval_s):
                try:
                    with self._scan_lock:
                        scanner.scan()
                        cold.scan()
                        if self.ownership.owns(RETENTION_JOB):
                            retention.run()
                except Exception:
                    # The scan must outlive a bad night of data; ingest is not affected.
                    store.rollback()
                    self.stats.incr("scan_errors")
                    _LOGGER.exception("routine scan failed")
        finally:
            store.close()

    def tick(self) -> None:
        """Do the periodic work due at the clock's now, in the caller's thread, and return
        when it is done: one routine scan, then one pass of the alert engine.

        The background threads do the same on their own schedule; this is for callers that
        move a manual clock (scenarios, tests) and need the result before moving it again.
        """
        if self.coordinator is not None:
            # A manual clock may have jumped past the leases' expiry: renew before the work.
            self.coordinator.run_round()
        # One scanner per calling thread, kept between ticks: SQLite connections belong to
        # their thread, and the scanner's routine cache saves re-reading every routine.
        scanner: RoutineScanner | None = getattr(self._tick_local, "scanner", None)
        if scanner is None:
            store = self._open_store()
            scanner = RoutineScanner(
                store,
                self.clock,
                self.stats,
                on_alert=self._alert_raised,
                ask_first=self._asks_first,
                answers=partial(prompt_answers, store.connection),
                ownership=self.ownership,
            )
            self._tick_local.scanner = scanner
            self._tick_stores.append(store)
        with self._scan_lock:
            scanner.scan()
            ColdHomeScanner(
                scanner.store, self.clock, self.stats, self._alert_raised,
                ownership=self.ownership,
            ).scan()
        if self.alerts is not None:
            self.alerts.run_pass()

    def _store_with_retry(self, name: str, ingestor: Ingestor, batch: list[QueuedMessage]) -> bool:
        """Store a batch, retrying storage errors; False only if the hub is stopping."""
        attempt = 0
        while True:
            try:
                ingestor.process_batch([m.raw for m in batch])
                self.stats.incr("batches")
                self._store_failures_in_row[name] = 0
                return True
            except Exception:
                # Only errors that say nothing about the data come here (database locked, disk
                # full): ingest rejects a message it cannot store. Not acknowledged, the batch
                # stays with the broker, so nothing is lost even if the hub never recovers; we
                # keep retrying while it runs, and /healthz reports it.
                self.stats.incr("store_errors")
                failures = self._store_failures_in_row.get(name, 0) + 1
                self._store_failures_in_row[name] = failures
                delay = _RETRY_DELAYS_S[min(attempt, len(_RETRY_DELAYS_S) - 1)]
                _LOGGER.exception("storing a batch of %d failed; retry in %ss", len(batch), delay)
                attempt += 1
                if self._stop.wait(delay):
                    return False

    # -- health ---------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Say whether the hub is doing its job: connected, storing, and not stuck on a batch.

        Unhealthy when the broker link (or the urgent lane, when set) is down, when a received
        message has waited longer than `ingest_stall_s` unacknowledged, or when
        `store_error_limit` store attempts in a row failed. A supervisor (systemd's watchdog
        script, a load balancer) restarts or alerts.
        """
        now = self.clock.now()
        problems: list[str] = []
        if not self.link.connected.is_set():
            problems.append("broker_disconnected")
        if self.urgent_lane is not None and not self.urgent_lane.connected.is_set():
            problems.append("urgent_lane_disconnected")
        in_hand = list(self._in_hand_since.values())
        oldest = min(in_hand) if in_hand else None
        for inbox in (self.inbox, self.urgent_inbox):
            with inbox.mutex:
                if inbox.queue:
                    head = inbox.queue[0].raw.received_at
                    oldest = head if oldest is None else min(oldest, head)
        waiting_s = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        if waiting_s > self.settings.ingest_stall_s:
            problems.append("ingest_stalled")
        failures = max(self._store_failures_in_row.values(), default=0)
        if failures >= self.settings.store_error_limit:
            problems.append("store_errors")
        return {
            "ok": not problems,
            "problems": problems,
            "oldest_unacked_s": round(waiting_s, 3),
            "store_failures_in_row": failures,
        }

    # -- stats endpoint -------------------------------------------------------------------------

    def _start_http(self) -> None:
        stats = self.stats
        link = self.link
        lane = self.urgent_lane
        health = self.health
        influx = self.influx
        ownership = self.ownership
        # The hub's own Prometheus endpoint: in the two-service layout the web app's /metrics
        # runs in another process and cannot see these counters.
        registry = build_hub_registry(
            stats, health, {"influx": influx.pending} if influx is not None else None
        )

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    data = generate_latest(registry)
                    self.send_response(200)
                    self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif self.path == "/stats":
                    body: dict[str, Any] = {
                        **stats.snapshot(),
                        "broker_connected": link.connected.is_set(),
                        # None: no lane configured (mqtt_urgent_username unset).
                        "urgent_lane_connected": (
                            lane.connected.is_set() if lane is not None else None
                        ),
                        "partitions_held": sorted(ownership.held()),
                    }
                    self._send(200, body)
                elif self.path == "/healthz":
                    state = health()
                    self._send(200 if state["ok"] else 503, state)
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                _LOGGER.debug("stats http: %s", format % args)

        self._http = ThreadingHTTPServer(
            (self.settings.stats_host, self.settings.stats_port), Handler
        )
        threading.Thread(target=self._http.serve_forever, name="hub-stats", daemon=True).start()


class _StartupHeap:
    """Leaves what a hub holds at start (every kit, the alert contacts, the homes' state) out of
    the garbage collector's full passes, for as long as a hub of the process runs.

    A full pass walks every object with every thread stopped; at 100,000 homes each took
    ~360 ms and came about once a minute, holding ingest (docs/benchmarks.md). What is frozen
    is still freed by reference counting when dropped; only a reference cycle among frozen
    objects would stay, and the start-up structures are kept for the hub's life. Several hubs
    in one process (the web app with its hub, tests) share the freeze: the last to stop lifts it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hubs = 0

    def freeze(self) -> None:
        """Collect once and freeze what is left (the caller `release`s at its stop)."""
        with self._lock:
            gc.collect()  # the start's garbage is freed first, not frozen
            gc.freeze()
            self._hubs += 1

    def release(self) -> None:
        """One hub stopped: the last one lets the collector see everything again."""
        with self._lock:
            self._hubs -= 1
            if self._hubs == 0:
                gc.unfreeze()


_STARTUP_HEAP = _StartupHeap()


def _prepare_writer(store: SqlStore, ingestor: Ingestor, bulk: bool) -> None:
    """Ready one ingest worker's connection and, for the bulk worker, its kits."""
    # Checkpoints run in their own thread (_run_checkpoints), not inside an ingest commit:
    # copying the WAL into a large database file and fsyncing it held batches for ~1 s.
    if isinstance(store, SqliteStore):
        disable_auto_checkpoint(store.connection)
    if bulk:
        waits = ingestor.stats.writer_waits
        if isinstance(store, SqliteStore):  # on PostgreSQL BEGIN takes no lock to wait for
            store.on_lock_wait = partial(waits.record, WaitCause.LOCK)
        store.on_commit = partial(waits.record, WaitCause.COMMIT)
        _warm_kits(ingestor)  # before the link connects: it waits for `ready`


def _warm_kits(ingestor: Ingestor) -> None:
    """Every kit in the bulk writer's memory at once, before the first message."""
    started = time.monotonic()
    try:
        kits = ingestor.warm_kits()
    except Exception:
        # Not fatal: each kit is then read at its first message, as before.
        _LOGGER.exception("could not read the kits ahead; reading each as it speaks")
        return
    _LOGGER.info("%d kits read in %.1f s", kits, time.monotonic() - started)


def _collect_batch(
    inbox: queue.Queue[QueuedMessage], first: QueuedMessage, batch_max: int, linger_s: float
) -> list[QueuedMessage]:
    """`first` and whatever else arrives within `linger_s` of it, up to `batch_max` messages."""
    batch = [first]
    # Measured on the monotonic clock: a wait for the queue, not the hub's time.
    close_at = time.monotonic() + linger_s
    while len(batch) < batch_max:
        try:
            batch.append(inbox.get_nowait())
            continue
        except queue.Empty:
            pass
        left = close_at - time.monotonic()
        if left <= 0:
            break
        try:
            batch.append(inbox.get(timeout=left))
        except queue.Empty:
            break
    return batch
