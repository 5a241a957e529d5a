"""The hub's MQTT connection: persistent session, manual acknowledgement after storage.

A message is acknowledged (PUBACK) only after the batch holding it is committed to the store.
If the hub dies first, the broker still holds the message in the hub's session and sends it
again when the hub comes back; the store's (kit, epoch, seq) key then drops the second copy.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.config import HubSettings, MqttProtocol
from hub.ingest import RawMessage
from hub.triage import is_urgent
from hub.urgent_allowance import UrgentAllowance
from mehr.clock import Clock
from mehr.contract import (
    QOS,
    TOPIC_ROOT,
    TopicKind,
    subscriptions_for_hub,
    urgent_lane_subscriptions,
)

__all__ = ["Acknowledger", "MqttLink", "QueuedMessage"]

_LOGGER = logging.getLogger(__name__)


class Acknowledger(Protocol):
    """The connection a message came on: it acknowledges the message once stored."""

    # The urgent lane (which keeps only help, "I'm OK", falls and accelerometer windows).
    lane: bool

    def ack(self, message: QueuedMessage) -> None:
        """Acknowledge a stored message."""


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A received message waiting for storage, with what is needed to acknowledge it."""

    raw: RawMessage
    mid: int
    qos: int
    generation: int
    # The connection it came on, which acknowledges it (the hub's, or its urgent lane's; in
    # this process or in the link process, hub/link_process.py).
    via: Acknowledger | None = None


# CONNACK reasons that say "not now" rather than "never" (MQTT 5 codes; paho maps MQTT 3.1.1's
# "server unavailable" to 0x88): Server unavailable, Server busy, Quota exceeded, Use another
# server, Server moved, Connection rate exceeded. Any other refusal (bad user name or password,
# not authorised, banned, client id not valid) stops the hub's start with the reason.
_REFUSED_FOR_NOW: Final = frozenset({0x88, 0x89, 0x97, 0x9C, 0x9D, 0x9F})


class MqttLink:
    """Owns the paho client; received messages go to `inbox` (urgent ones to `urgent`, when
    given: help, "I'm OK", falls), acks come back via `ack`."""

    def __init__(
        self,
        settings: HubSettings,
        clock: Clock,
        inbox: queue.Queue[QueuedMessage],
        on_connection_change: Callable[[bool], None] | None = None,
        urgent: queue.Queue[QueuedMessage] | None = None,
        on_inbox_full: Callable[[], None] | None = None,
        lane: bool = False,
        on_urgent_full: Callable[[], None] | None = None,
        on_urgent_over_rate: Callable[[str, int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.inbox = inbox
        self.urgent = urgent
        self.on_inbox_full = on_inbox_full
        self.on_urgent_full = on_urgent_full
        # Called with the topic (the kit and kind) of an urgent message past its allowance
        # (hub/urgent_allowance.py) that went the routine way, and how many (1).
        self.on_urgent_over_rate = on_urgent_over_rate
        self._allowance = UrgentAllowance(
            settings.urgent_per_kit_burst, settings.urgent_per_kit_per_s
        )
        # The urgent lane (`mqtt_urgent_username`): a second connection of the hub's own, with
        # its own broker queue, that keeps only help, "I'm OK", fall and accelerometer messages
        # and acknowledges everything else at once (the main connection stores all of it).
        self.lane = lane
        self.on_connection_change = on_connection_change
        self.connected = threading.Event()
        # Set at the broker's first answer; `refused` holds its reason when it said no.
        self.answered = threading.Event()
        self.refused: str | None = None
        # The lane: routine messages it was sent and let go (0 unless it reads `events`).
        self.routine_let_go = 0
        # Bumped on every (re)connect: a packet id from an earlier connection must not be
        # acknowledged on a later one, where the same id may name another message.
        self._generation = 0
        self._gen_lock = threading.Lock()
        v5 = settings.mqtt_protocol is MqttProtocol.V5
        # Brokers that bind client ids to users (the shipped Mosquitto) give the lane its own
        # session under its own user, whose name is its client id.
        username = settings.mqtt_urgent_username if lane else settings.mqtt_username
        client_id = (settings.mqtt_urgent_username or "") if lane else settings.mqtt_client_id
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        if username:
            self.client.username_pw_set(username, settings.broker_password())
        host, port, tls = settings.broker_address()
        if tls:
            self.client.tls_set(
                ca_certs=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        self._host, self._port = host, port
        # The broker's nodes (one, or a cluster's): on a failure the hub goes to the next.
        self._nodes = settings.broker_nodes()
        self._node = 0
        self._had_connack = False
        # This connection attempt has already moved the hub on (paho reports a failed attempt
        # both to on_connect_fail and to on_disconnect: one failure is one step).
        self._moved_on = False
        self._stopping = False
        self._subscribe_mid: int | None = None
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_pre_connect = self._on_pre_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    @property
    def generation(self) -> int:
        """The current connection's number."""
        with self._gen_lock:
            return self._generation

    @property
    def node(self) -> tuple[str, int]:
        """The broker node the hub is using or trying now."""
        return self._nodes[self._node]

    def start(self) -> None:
        """Connect (retrying in the background) and start the network thread."""
        self._connect_async_to(self._nodes[0])
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly (the session stays at the broker) and stop the network thread."""
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()

    def _connect_async_to(self, node: tuple[str, int]) -> None:
        host, port = node
        if self.settings.mqtt_protocol is MqttProtocol.V5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.settings.session_expiry_s
            props.ReceiveMaximum = self.settings.receive_maximum
            self.client.connect_async(host, port, keepalive=30, clean_start=False, properties=props)
        else:
            self.client.connect_async(host, port, keepalive=30)

    def _next_node(self, why: str) -> None:
        """Point paho's next reconnect at the next node (a no-op with one node).

        paho reconnects to the host it was given; `connect_async` is its way to change that
        host, and called from its own callbacks it only sets where the next attempt goes (the
        reconnect delay and loop stay paho's). Never while stopping: that would undo the
        disconnect.
        """
        if len(self._nodes) == 1 or self._stopping:
            return
        failed = self._nodes[self._node]
        self._node = (self._node + 1) % len(self._nodes)
        _LOGGER.warning(
            "broker node %s:%s %s; next try %s:%s", *failed, why, *self._nodes[self._node]
        )
        self._connect_async_to(self._nodes[self._node])

    def ack(self, message: QueuedMessage) -> None:
        """Acknowledge a stored message, if it belongs to the current connection."""
        self.ack_id(message.mid, message.qos, message.generation)

    def ack_id(self, mid: int, qos: int, generation: int) -> None:
        """Acknowledge packet `mid` if it was received on the current connection: after a
        reconnect the same id may name another message."""
        if qos == 0 or generation != self.generation:
            return
        self.client.ack(mid, qos)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish at QoS 1 (commands to kits)."""
        self.client.publish(topic, payload, qos=QOS, retain=retain)

    # -- paho callbacks (network thread) --------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: Any,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            if reason_code.value in _REFUSED_FOR_NOW:
                # A node still starting or overloaded (RabbitMQ answers "Server unavailable"
                # while its vhost is down): not the hub's credentials; try the next node.
                _LOGGER.warning(
                    "broker %s:%s cannot take the hub now: %s; trying again",
                    *self.node, reason_code,
                )  # fmt: skip
                self._move_on(str(reason_code))
                return
            _LOGGER.error("broker refused the hub: %s", reason_code)
            self.refused = str(reason_code)
            self.answered.set()
            return
        self.refused = None
        self._had_connack = True
        with self._gen_lock:
            self._generation += 1
        session = getattr(flags, "session_present", False)
        _LOGGER.info("connected to broker %s:%s (session present: %s)", *self.node, session)
        # "Connected" only once the broker granted the subscriptions (SUBACK): before that, a
        # stop would leave a persistent session without them, and what kits publish meanwhile
        # would be queued for nobody.
        _, self._subscribe_mid = client.subscribe(
            [(topic, QOS) for topic in self._filters()]
        )
        if self.lane and not self.settings.urgent_lane_reads_events:
            # A persistent session keeps the filters of earlier connections: the lane's `events`
            # (before the urgent topic, or with urgent_lane_reads_events) would go on bringing
            # it every event. Harmless when there is none (0x11, no subscription existed).
            client.unsubscribe(f"{TOPIC_ROOT}/+/kits/+/{TopicKind.EVENTS.value}")
        self.answered.set()

    def _filters(self) -> list[str]:
        if self.lane:
            return urgent_lane_subscriptions(self.settings.urgent_lane_reads_events)
        return subscriptions_for_hub(self.settings.shared_group)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any
    ) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            _LOGGER.error("broker refused the hub's subscriptions: %s", refused)
        self.connected.set()
        if self.on_connection_change:
            self.on_connection_change(True)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: Any,
        properties: Any,
    ) -> None:
        self.connected.clear()
        _LOGGER.warning("disconnected from broker: %s", reason_code)
        # A node that was up and is lost, or one that took the TCP connection and closed it
        # before accepting the hub (a cluster node still starting): either way the next one.
        self._move_on("lost" if self._had_connack else "closed the connection before CONNACK")
        self._had_connack = False
        if self.on_connection_change:
            self.on_connection_change(False)

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        self._moved_on = False

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._move_on("unreachable")

    def _move_on(self, why: str) -> None:
        if not self._moved_on:
            self._moved_on = True
            self._next_node(why)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # Nothing here may raise: an exception in a paho callback ends the network thread. A
        # topic that is not UTF-8 (paho's `topic` would raise) still goes to the inbox, so
        # ingest rejects it as a bad topic and it is acknowledged like any other message.
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = bytes(msg._topic).decode("utf-8", errors="replace")
        payload = bytes(msg.payload)
        raw = RawMessage(topic=topic, payload=payload, received_at=self.clock.now())
        queued = QueuedMessage(raw, msg.mid, msg.qos, self.generation, self)
        if self.urgent is not None and is_urgent(topic, payload) and self._urgent_taken(queued):
            return
        if self.lane:
            # Routine traffic: the main connection stores it; this copy is only let go.
            self.routine_let_go += 1
            if msg.qos > 0:
                self.client.ack(msg.mid, msg.qos)
            return
        # A full (bounded) inbox blocks this network thread: the hub stops reading the socket
        # and the broker queues what follows, as receive_maximum should have made it do. Acks
        # sent meanwhile by the writer go out when the thread resumes. Not acknowledged, a
        # message left here at a stop is delivered again at the next connection.
        try:
            self.inbox.put_nowait(queued)
            return
        except queue.Full:
            if self.on_inbox_full is not None:
                self.on_inbox_full()
        while not self._stopping:
            try:
                self.inbox.put(queued, timeout=0.5)
                return
            except queue.Full:
                continue

    def _urgent_taken(self, queued: QueuedMessage) -> bool:
        """Put an urgent message in the urgent inbox; False when it is full (a flood, see
        urgent_inbox_max): memory stays bounded and nothing is lost. The main connection then
        stores its copy with the routine traffic; the lane lets its copy go, as it does
        routine traffic (the main connection has one). So does a message past its kit's urgent
        allowance: one kit's flood does not fill the inbox that others' presses share."""
        assert self.urgent is not None
        if not self._allowance.take(queued.raw.topic):
            if self.on_urgent_over_rate is not None and not self.lane:
                # Counted by the main connection, which stores it; the lane's own allowance
                # may differ by a message or two (redeliveries, `events` it does not read).
                self.on_urgent_over_rate(queued.raw.topic, 1)
            return False
        try:
            self.urgent.put_nowait(queued)
        except queue.Full:
            if self.on_urgent_full is not None:
                self.on_urgent_full()
            return False
        return True
