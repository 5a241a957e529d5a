"""The kit's broker link: TLS transport, will and birth, and the outbox pump.

Two threads: the network thread runs paho's loop and reconnects with backoff and jitter; the pump
thread hands queued outbox messages to paho (critical first, at most `inflight` at a time) and
deletes them from the outbox when their PUBACK arrives. paho calls `on_publish` with its own lock
held, so that callback only records the packet id and wakes the pump; the pump does the rest.

Help, "I'm OK" and fall events (the outbox's critical rows on `events`) go on the urgent topic,
chosen when handed to paho (MQTT 5 only; the outbox keeps `events`, so older firmware can still
read it). When the broker answers that no one subscribes to `urgent` (a hub that does not read it)
or that the kit may not publish there (an ACL written before the topic existed), the event is sent
again at once on `events`, and so are the kit's urgent events for the next few minutes. A
critical message the broker took with no subscriber at all on `events` either is kept and sent
again later, never deleted: no hub has it yet.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from edge.backoff import Backoff
from edge.config import KitConfig
from edge.outbox import Outbox, OutboxRow
from mehr.contract import (
    PROTOCOL_VERSION,
    QOS,
    Availability,
    AvailabilityState,
    Command,
    ContractError,
    TopicKind,
    availability_offline_payload,
    encode,
    parse_message,
    topic_for,
)

__all__ = ["BrokerLink", "EdgeError", "TransportConfigError"]

_LOGGER = logging.getLogger(__name__)
# A message the broker refused (v5 reason code) is tried again after this long, not in a loop.
_REFUSED_RETRY_S = 30.0
# MQTT 5 PUBACK reason "No matching subscribers": the broker took the message, no one gets it.
_NO_MATCHING_SUBSCRIBERS: Final = 0x10
# After a fallback, urgent events go on `events` this long before `urgent` is tried again (an ACL
# rewritten and reloaded, a hub upgraded: neither disconnects the kit).
_URGENT_RETRY_S = 300.0


class _Ack(Enum):
    """What a PUBACK said about one message."""

    DONE = "done"
    REFUSED = "refused"  # a v5 failure reason code (0x80 and above)
    UNHEARD = "unheard"  # accepted, but no subscriber


_WHY: Final = {
    _Ack.REFUSED: "was refused by the broker",
    _Ack.UNHEARD: "reached no subscriber (no hub has it)",
}


class EdgeError(Exception):
    """Root of the edge agent's errors."""


class TransportConfigError(EdgeError, ValueError):
    """The broker settings cannot be used (missing password file, unreadable certificate)."""


class BrokerLink:
    """Owns the paho client of one kit and pumps its outbox to the broker."""

    def __init__(
        self,
        config: KitConfig,
        outbox: Outbox,
        now: Callable[[], Any],
        on_command: Callable[[Command], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self._now = now
        self.on_command = on_command
        broker = config.broker
        self._host, self._port, tls = broker.address()
        # The broker's nodes (one, or a cluster's): after a failure the kit tries the next.
        self._nodes = broker.nodes()
        self._node = 0
        self.backoff = backoff or Backoff(broker.backoff_initial_s, broker.backoff_max_s)
        self._v5 = broker.protocol == "5"
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"mehr-kit-{config.kit_id}",
            protocol=MQTTProtocolVersion.MQTTv5 if self._v5 else MQTTProtocolVersion.MQTTv311,
            # No broker session: every unacknowledged event is in the outbox and is sent again.
            clean_session=None if self._v5 else True,
        )
        self.client.max_inflight_messages_set(broker.inflight)
        self.client.max_queued_messages_set(0)
        try:
            password = broker.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TransportConfigError(
                f"broker.password_file: cannot read {broker.password_file}: {exc.strerror}"
            ) from None
        self.client.username_pw_set(config.username, password)
        if tls:
            try:
                self.client.tls_set(
                    ca_certs=str(broker.ca_file) if broker.ca_file else None,
                    certfile=str(broker.client_cert) if broker.client_cert else None,
                    keyfile=str(broker.client_key) if broker.client_key else None,
                    cert_reqs=ssl.CERT_REQUIRED,
                    tls_version=ssl.PROTOCOL_TLS_CLIENT,
                )
            except (OSError, ssl.SSLError) as exc:
                raise TransportConfigError(f"broker: TLS files unusable: {exc}") from None
            # Hostname checking stays on (paho's default): a certificate for another name is
            # refused, so a kit never reports to a broker that merely has a CA-signed cert.
            self.client.tls_insecure_set(False)
        self._availability_topic = topic_for(config.home_id, config.kit_id, TopicKind.AVAILABILITY)
        self.client.will_set(
            self._availability_topic,
            availability_offline_payload(config.kit_id),
            qos=QOS,
            retain=True,
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._woken = False
        self._acks: deque[tuple[int, _Ack]] = deque()
        self._lock = threading.Lock()  # guards _inflight, the cursors and the retry lists
        # paho mid -> (outbox seq, topic used, critical)
        self._inflight: dict[int, tuple[int, TopicKind, bool]] = {}
        # Until when urgent events go on `events` after a fallback (see the module's text), by
        # the kit's clock (`now`, so a test can move it); None: urgent is on. MQTT 3.1.1 has no
        # PUBACK reason codes to fall back on, so there urgent is never on.
        self._urgent_off_until: datetime | None = None
        self._urgent_never = not self._v5
        self._cursor = {True: 0, False: 0}  # last seq handed to paho, per class
        self._refused: list[tuple[float, int]] = []  # (retry at, seq)
        self._threads: list[threading.Thread] = []
        self.connects = 0
        self.published = 0
        self.refused = 0
        self.urgent_fallbacks = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the network and pump threads; connecting happens in the background."""
        for name, target in (("mqtt-net", self._run_network), ("outbox-pump", self._run_pump)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Say 'offline' (retained) if connected, disconnect and join the threads."""
        if self.connected.is_set():
            offline = Availability(
                v=PROTOCOL_VERSION,
                kit=self.config.kit_id,
                state=AvailabilityState.OFFLINE,
                ts=self._now(),
            )
            info = self.client.publish(
                self._availability_topic, encode(offline), qos=QOS, retain=True
            )
            deadline = time.monotonic() + timeout
            while not info.is_published() and time.monotonic() < deadline:
                if self._stop.wait(0.02):  # the network thread delivers it; wait boundedly
                    break
        self._stop.set()
        self.wake()
        self.client.disconnect()
        for thread in self._threads:
            thread.join(timeout=timeout)

    def alive(self) -> bool:
        """True while both threads run (the systemd watchdog is fed only then)."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def wake(self) -> None:
        """Tell the pump there is something to do (a new event, an ack, a connection)."""
        with self._wake:
            self._woken = True
            self._wake.notify()

    def publish_now(self, kind: TopicKind, payload: bytes, retain: bool = False) -> bool:
        """Publish a message that is not outboxed (heartbeat); False when not connected."""
        if not self.connected.is_set():
            return False
        topic = topic_for(self.config.home_id, self.config.kit_id, kind)
        return self.client.publish(topic, payload, qos=QOS, retain=retain).rc == 0

    @property
    def inflight(self) -> int:
        """Outbox messages handed to the broker and not yet acknowledged."""
        with self._lock:
            return len(self._inflight)

    # -- network thread -------------------------------------------------------------------------

    def _run_network(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                if first:
                    keepalive = self.config.broker.keepalive_s
                    self.client.connect(self._host, self._port, keepalive=keepalive)
                    first = False
                else:
                    self.client.reconnect()
            except (OSError, ValueError) as exc:
                # ssl.SSLCertVerificationError is an OSError: a wrong certificate lands here and
                # is retried like an unreachable broker, never accepted.
                delay = self.backoff.next()
                level = logging.ERROR if isinstance(exc, ssl.SSLError) else logging.WARNING
                _LOGGER.log(
                    level,
                    "cannot reach broker %s:%s: %s; retry in %.1fs",
                    self._host,
                    self._port,
                    exc,
                    delay,
                )
                first = first and not isinstance(exc, ssl.SSLError)
                first = self._next_node() or first
                self._stop.wait(delay)
                continue
            rc = MQTTErrorCode.MQTT_ERR_SUCCESS
            while not self._stop.is_set() and rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                rc = self.client.loop(timeout=1.0)
            self.connected.clear()
            if self._stop.is_set():
                # Let paho flush the DISCONNECT packet queued by stop().
                self.client.loop(timeout=0.1)
                break
            delay = self.backoff.next()
            _LOGGER.warning("connection lost (%s); reconnect in %.1fs", rc, delay)
            first = self._next_node() or first
            self._stop.wait(delay)

    def _next_node(self) -> bool:
        """Go to the broker's next node; True when that means connecting anew (paho's
        `reconnect` goes back to the host it last connected to)."""
        if len(self._nodes) == 1:
            return False
        self._node = (self._node + 1) % len(self._nodes)
        self._host, self._port = self._nodes[self._node]
        return True

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            _LOGGER.error("broker refused kit %s: %s", self.config.kit_id, reason_code)
            return
        self.backoff.reset()
        self.connects += 1
        # Birth after the will is registered (at CONNECT): retained 'online' while we live.
        birth = Availability(
            v=PROTOCOL_VERSION,
            kit=self.config.kit_id,
            state=AvailabilityState.ONLINE,
            ts=self._now(),
        )
        client.publish(self._availability_topic, encode(birth), qos=QOS, retain=True)
        client.subscribe(
            topic_for(self.config.home_id, self.config.kit_id, TopicKind.COMMANDS), qos=QOS
        )
        _LOGGER.info("connected to %s:%s (connection %d)", self._host, self._port, self.connects)
        self.connected.set()
        self.wake()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self.connected.clear()

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any
    ) -> None:
        # Runs with paho's out-message lock held (not ours): record and wake, nothing more.
        if getattr(reason_code, "is_failure", False):
            ack = _Ack.REFUSED
        elif getattr(reason_code, "value", 0) == _NO_MATCHING_SUBSCRIBERS:
            ack = _Ack.UNHEARD
        else:
            ack = _Ack.DONE
        self._acks.append((mid, ack))
        self.wake()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            _, message = parse_message(msg.topic, bytes(msg.payload))
        except ContractError as exc:
            _LOGGER.warning("ignoring bad command on %s: %s", msg.topic, exc)
            return
        if isinstance(message, Command) and self.on_command is not None:
            try:
                self.on_command(message)
            except Exception:
                _LOGGER.exception("command %s failed", message.action)

    # -- pump thread ----------------------------------------------------------------------------

    def _run_pump(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                if not self._woken:
                    self._wake.wait(timeout=1.0)
                self._woken = False
            try:
                self.pump()
            except Exception:
                # A disk error must not kill the pump: the events stay on disk for the next try.
                _LOGGER.exception("outbox pump failed; retrying")
                self._stop.wait(1.0)

    def pump(self) -> None:
        """Delete acknowledged messages, then hand queued ones to paho up to the window."""
        done, unheard_urgent = self._take_acks()
        if done:
            self.outbox.delete(done)
        if unheard_urgent:
            _LOGGER.warning(
                "no hub hears the urgent topic (or this kit may not publish there): sending "
                "urgent messages %s on events, and urgent ones for the next %.0f s",
                unheard_urgent,
                _URGENT_RETRY_S,
            )
        if not self.connected.is_set():
            return
        window = self.config.broker.inflight
        with self._lock:
            room = window - len(self._inflight)
            now = time.monotonic()
            due = [seq for at, seq in self._refused if at <= now][: max(room, 0)]
            self._refused = [(at, s) for at, s in self._refused if s not in due]
        handed: set[int] = set()
        try:
            rows = self.outbox.get(due) if due else []
            room -= len(rows)
            for critical in (True, False):
                if room <= 0:
                    break
                batch = self.outbox.pending(
                    critical=critical, after_seq=self._cursor[critical], limit=room
                )
                rows.extend(batch)
                room -= len(batch)
            for row in rows:
                self._hand(row)
                handed.add(row.seq)
        except BaseException:
            # A disk error mid-way: the retries not handed stay due (the pump tries again).
            with self._lock:
                self._refused[:0] = [(0.0, seq) for seq in due if seq not in handed]
            raise

    def _take_acks(self) -> tuple[list[int], list[int]]:
        """Sort the PUBACKs received since the last pump: (seqs done, urgent seqs unheard)."""
        done: list[int] = []
        unheard_urgent: list[int] = []
        with self._lock:
            while self._acks:
                mid, ack = self._acks.popleft()
                handed = self._inflight.pop(mid, None)
                if handed is None:
                    continue  # a heartbeat or birth, not an outbox message
                seq, topic, critical = handed
                if topic is TopicKind.URGENT and ack is not _Ack.DONE:
                    unheard_urgent.append(seq)
                elif ack is _Ack.REFUSED or (ack is _Ack.UNHEARD and critical):
                    self.refused += 1
                    self._refused.append((time.monotonic() + _REFUSED_RETRY_S, seq))
                    _LOGGER.error("outbox message %d %s; will retry", seq, _WHY[ack])
                else:
                    done.append(seq)
            if unheard_urgent:
                self._urgent_off_until = self._now() + timedelta(seconds=_URGENT_RETRY_S)
                self.urgent_fallbacks += len(unheard_urgent)
                # Due again at once, first and in their order, now on `events`.
                self._refused[:0] = [(0.0, seq) for seq in sorted(unheard_urgent)]
        return done, unheard_urgent

    def _urgent_on(self) -> bool:
        """Whether urgent events go on `urgent` now (called with the lock held)."""
        if self._urgent_never:
            return False
        if self._urgent_off_until is not None and self._now() < self._urgent_off_until:
            return False
        self._urgent_off_until = None
        return True

    def _hand(self, row: OutboxRow) -> None:
        with self._lock:
            kind = row.topic
            # The outbox's critical events are help, "I'm OK" and fall (URGENT_EVENT_KINDS;
            # accelerometer windows have their own topic). A row stored as `urgent` (an earlier
            # build) is one of them too.
            if kind in (TopicKind.EVENTS, TopicKind.URGENT) and row.critical:
                kind = TopicKind.URGENT if self._urgent_on() else TopicKind.EVENTS
            topic = topic_for(self.config.home_id, self.config.kit_id, kind)
            info = self.client.publish(topic, row.payload, qos=QOS)
            # MQTT_ERR_NO_CONN still queues a QoS 1 message in paho: it goes on reconnect.
            self._inflight[info.mid] = (row.seq, kind, row.critical)
            self._cursor[row.critical] = max(self._cursor[row.critical], row.seq)
            self.published += 1
