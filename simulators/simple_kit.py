"""A hardware-free kit: publishes one home's events through the contract, like a real kit would.

It has no outbox (the real edge agent in edge/ does); it exists to drive the hub in the demo,
tests and benchmarks. Every topic and payload comes from mehr.contract.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from pydantic import BaseModel

from mehr.clock import Clock, SystemClock
from mehr.contract import (
    PROTOCOL_VERSION,
    QOS,
    AccelWindow,
    Availability,
    AvailabilityState,
    Heartbeat,
    SensorKind,
    TopicKind,
    availability_offline_payload,
    encode,
    event_topic,
    make_event,
    topic_for,
)

__all__ = ["SimpleKit"]

_LOGGER = logging.getLogger(__name__)


class SimpleKit:
    """One simulated kit connected to a broker."""

    def __init__(
        self,
        home_id: str,
        kit_id: str,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        mqtt_v5: bool = False,
        clock: Clock | None = None,
        epoch: int | None = None,
    ) -> None:
        self.home_id = home_id
        self.kit_id = kit_id
        self.clock: Clock = clock or SystemClock()
        self.epoch = epoch if epoch is not None else secrets.randbelow(2**62) + 1
        self.seq = 0
        self._started = self.clock.now()
        self._host, self._port = host, port
        self._pending: list[mqtt.MQTTMessageInfo] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"kit-sim-{kit_id}",
            protocol=MQTTProtocolVersion.MQTTv5 if mqtt_v5 else MQTTProtocolVersion.MQTTv311,
        )
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        if username:
            self.client.username_pw_set(username, password)
        self.client.will_set(
            topic_for(home_id, kit_id, TopicKind.AVAILABILITY),
            availability_offline_payload(kit_id),
            qos=QOS,
            retain=True,
        )
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if rc.is_failure:
            _LOGGER.error("kit %s refused by broker: %s", self.kit_id, rc)
            return
        # Birth after the will is registered: the retained state is 'online' while we live.
        birth = Availability(
            v=PROTOCOL_VERSION, kit=self.kit_id, state=AvailabilityState.ONLINE, ts=self.clock.now()
        )
        self._publish(TopicKind.AVAILABILITY, encode(birth), retain=True)
        self.connected.set()

    def connect(self, timeout: float = 10.0) -> None:
        """Connect and wait for the broker's answer."""
        self.client.connect(self._host, self._port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            raise TimeoutError(f"kit {self.kit_id} could not connect to the broker")

    def close(self, graceful: bool = True) -> None:
        """Disconnect; graceful publishes 'offline' first, otherwise the will does it later."""
        if graceful:
            offline = Availability(
                v=PROTOCOL_VERSION,
                kit=self.kit_id,
                state=AvailabilityState.OFFLINE,
                ts=self.clock.now(),
            )
            self._publish(TopicKind.AVAILABILITY, encode(offline), retain=True)
            self.flush()
        self.client.disconnect()
        self.client.loop_stop()

    def _publish(self, kind: TopicKind, payload: bytes, retain: bool = False) -> None:
        info = self.client.publish(
            topic_for(self.home_id, self.kit_id, kind), payload, qos=QOS, retain=retain
        )
        with self._lock:
            self._pending.append(info)

    def event(
        self, sensor: str, kind: SensorKind, value: bool | float | str, ts: datetime | None = None
    ) -> int:
        """Publish one sensor event with the next sequence number; return that number."""
        with self._lock:
            self.seq += 1
            seq = self.seq
        message = make_event(
            kit=self.kit_id,
            epoch=self.epoch,
            seq=seq,
            sensor=sensor,
            kind=kind,
            value=value,
            ts=ts or self.clock.now(),
        )
        self._publish(event_topic(kind), encode(message))
        return seq

    def accel_window(
        self,
        sensor: str,
        samples: Sequence[tuple[float, float, float]],
        rate_hz: float,
        start: datetime,
        trigger_index: int,
        ts: datetime | None = None,
    ) -> int:
        """Publish an accelerometer window with the next sequence number; return that number."""
        with self._lock:
            self.seq += 1
            seq = self.seq
        window = AccelWindow(
            v=PROTOCOL_VERSION,
            kit=self.kit_id,
            epoch=self.epoch,
            seq=seq,
            sensor=sensor,
            ts=ts or self.clock.now(),
            rate_hz=rate_hz,
            start=start,
            trigger_index=trigger_index,
            samples=list(samples),
        )
        self._publish(TopicKind.ACCEL, encode(window))
        return seq

    def power_loss(self) -> None:
        """Drop the connection as a power cut does: no DISCONNECT, so the broker sends the will."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def resend(self, message: BaseModel) -> None:
        """Publish an already-built event again (what a kit does after a lost PUBACK)."""
        kind = getattr(message, "kind", None)
        topic = event_topic(kind) if isinstance(kind, SensorKind) else TopicKind.EVENTS
        self._publish(topic, encode(message))

    def heartbeat(self, sensors: dict[str, datetime | None] | None = None) -> None:
        """Publish a heartbeat."""
        now = self.clock.now()
        beat = Heartbeat(
            v=PROTOCOL_VERSION,
            kit=self.kit_id,
            ts=now,
            uptime_s=max(0.0, (now - self._started).total_seconds()),
            outbox_depth=0,
            dropped=0,
            sensors=sensors or {},
        )
        self._publish(TopicKind.HEARTBEAT, encode(beat))

    def publish_raw(self, topic: str, payload: bytes) -> None:
        """Publish arbitrary bytes (tests of malformed input)."""
        info = self.client.publish(topic, payload, qos=QOS)
        with self._lock:
            self._pending.append(info)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until the broker has acknowledged everything published so far."""
        with self._lock:
            pending, self._pending = self._pending, []
        for info in pending:
            info.wait_for_publish(timeout)
