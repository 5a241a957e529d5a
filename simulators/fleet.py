"""A fleet of homes for load tests: thousands of kits publishing through the contract, fast.

Per home the model is deliberately light (one numpy pass over all homes per time slice): each
resident has a seeded wake and bed time; awake, PIRs fire at about one movement a minute, asleep
rarely; the front door now and then; every kit sends a heartbeat every 60 s. Events are built and
serialised by mehr.contract and published at QoS 1 over a few MQTT connections (a broker ACL that
confines each kit to its own topics needs one connection per kit; a load test uses a user that
may write all homes). Time runs `speed` times faster than the wall clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from mehr.contract import (
    PROTOCOL_VERSION,
    QOS,
    Heartbeat,
    SensorKind,
    TopicKind,
    encode,
    make_event,
    topic_for,
)

__all__ = ["Fleet", "FleetResult"]

_LOGGER = logging.getLogger(__name__)

_PIRS = ("pir-bed", "pir-bath", "pir-kitchen", "pir-living", "pir-hall")
_AWAKE_PER_S = 1.0 / 60.0  # movement bursts a PIR reports (ON, then OFF 8 s later)
_ASLEEP_PER_S = 1.0 / 1800.0
_DOOR_PER_S = 4.0 / 86_400.0 * 2  # two outings a day, door open+close each way
_OFFSET_S = 5 * 3600.0  # Asia/Tashkent, no daylight saving


@dataclass
class FleetResult:
    """What a fleet run reached."""

    homes: int
    speed: float
    wall_s: float
    virtual_s: float
    events: int
    heartbeats: int
    acked: int
    max_lag_s: float  # worst virtual-time lag behind the schedule
    connections: int
    per_second: list[int] = field(default_factory=list)

    @property
    def messages_per_s(self) -> float:
        """Messages published per wall second."""
        return (self.events + self.heartbeats) / self.wall_s if self.wall_s else 0.0

    @property
    def events_per_s(self) -> float:
        """Sensor events published per wall second."""
        return self.events / self.wall_s if self.wall_s else 0.0

    @property
    def achieved_speed(self) -> float:
        """Virtual seconds played per wall second."""
        return self.virtual_s / self.wall_s if self.wall_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly figures."""
        return {
            "homes": self.homes,
            "speed_target": self.speed,
            "speed_achieved": round(self.achieved_speed, 2),
            "wall_s": round(self.wall_s, 2),
            "virtual_s": round(self.virtual_s, 1),
            "events": self.events,
            "heartbeats": self.heartbeats,
            "acked_by_broker": self.acked,
            "events_per_s": round(self.events_per_s),
            "messages_per_s": round(self.messages_per_s),
            "max_lag_virtual_s": round(self.max_lag_s, 1),
            "connections": self.connections,
        }


class Fleet:
    """`homes` simulated kits (home-00001/kit-00001, ...) publishing through a few connections."""

    def __init__(
        self,
        homes: int,
        host: str,
        port: int,
        *,
        seed: int = 0,
        connections: int = 4,
        username: str | None = None,
        password: str | None = None,
        mqtt_v5: bool = True,
        heartbeat_s: float = 60.0,
        prefix: str = "fleet",
    ) -> None:
        self.n = homes
        self.rng = np.random.default_rng(seed)
        self.homes = [f"{prefix}-{i:05d}" for i in range(homes)]
        self.kits = [f"{prefix}-kit-{i:05d}" for i in range(homes)]
        self.event_topics = [
            topic_for(h, k, TopicKind.EVENTS) for h, k in zip(self.homes, self.kits, strict=True)
        ]
        self.beat_topics = [
            topic_for(h, k, TopicKind.HEARTBEAT) for h, k in zip(self.homes, self.kits, strict=True)
        ]
        self.wake_s = self.rng.normal(7.0, 0.7, homes) * 3600.0
        self.bed_s = self.rng.normal(22.5, 0.7, homes) * 3600.0
        self.seq = np.zeros(homes, dtype=np.int64)
        self.heartbeat_s = heartbeat_s
        self.next_beat = self.rng.uniform(0, heartbeat_s, homes)  # staggered, seconds from start
        self.acked = 0
        self.published = 0
        self._ack_lock = threading.Lock()
        self.clients: list[mqtt.Client] = []
        for c in range(connections):
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=f"{prefix}-driver-{c}",
                protocol=MQTTProtocolVersion.MQTTv5 if mqtt_v5 else MQTTProtocolVersion.MQTTv311,
            )
            client.max_inflight_messages_set(1000)
            client.max_queued_messages_set(0)
            if username:
                client.username_pw_set(username, password)
            client.on_publish = self._on_publish
            self.clients.append(client)
        self._host, self._port = host, port

    def _on_publish(self, client: Any, userdata: Any, mid: Any, rc: Any, props: Any) -> None:
        with self._ack_lock:
            self.acked += 1

    def connect(self) -> None:
        """Connect every driver connection."""
        for client in self.clients:
            client.connect(self._host, self._port, keepalive=60)
            client.loop_start()

    def close(self, timeout: float = 60.0) -> None:
        """Wait for outstanding acknowledgements (bounded), then disconnect."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.acked < self.published:
            time.sleep(0.05)  # waiting for the broker's PUBACKs, not for time to pass
        for client in self.clients:
            client.disconnect()
            client.loop_stop()

    def _send(self, home: int, topic: str, payload: bytes) -> None:
        self.clients[home % len(self.clients)].publish(topic, payload, qos=QOS)
        self.published += 1

    def slice(self, t0: float, t1: float, start: datetime) -> tuple[int, int]:
        """Publish everything of virtual seconds [t0, t1) since `start`; return (events, beats)."""
        dt = t1 - t0
        tod = (start.timestamp() + _OFFSET_S + t0) % 86_400.0
        awake = (tod >= self.wake_s) & (tod < self.bed_s)
        rate = np.where(awake, _AWAKE_PER_S * 2, _ASLEEP_PER_S * 2)  # ON and OFF
        counts = self.rng.poisson(rate * dt)
        doors = self.rng.poisson(np.where(awake, _DOOR_PER_S, 0.0) * dt)
        events = 0
        for home in np.flatnonzero(counts + doors):
            n_motion, n_door = int(counts[home]), int(doors[home])
            offsets = np.sort(self.rng.uniform(t0, t1, n_motion + n_door))
            kinds = [SensorKind.MOTION] * n_motion + [SensorKind.DOOR] * n_door
            for k, off in enumerate(offsets):
                self.seq[home] += 1
                seq = int(self.seq[home])
                kind = kinds[k]
                # A load model: values alternate per kit, not per sensor.
                if kind is SensorKind.MOTION:
                    sensor: str = _PIRS[seq % len(_PIRS)]
                    value: bool | str = seq % 2 == 1
                else:
                    sensor, value = "door-front", ("open" if seq % 2 else "closed")
                ev = make_event(
                    kit=self.kits[home],
                    epoch=1,
                    seq=seq,
                    sensor=sensor,
                    kind=kind,
                    value=value,
                    ts=start + timedelta(seconds=float(off)),
                )
                self._send(int(home), self.event_topics[home], encode(ev))
                events += 1
        beats = 0
        due = np.flatnonzero(self.next_beat < t1)
        for home in due:
            at = start + timedelta(seconds=float(self.next_beat[home]))
            beat = Heartbeat(
                v=PROTOCOL_VERSION,
                kit=self.kits[home],
                ts=at,
                uptime_s=float(self.next_beat[home]),
                outbox_depth=0,
                dropped=0,
            )
            self._send(int(home), self.beat_topics[home], encode(beat))
            beats += 1
        self.next_beat[due] += self.heartbeat_s
        return events, beats

    def run(
        self,
        wall_seconds: float,
        speed: float = 60.0,
        start: datetime | None = None,
        slice_s: float = 0.1,
        progress: Callable[[int], object] | None = None,
    ) -> FleetResult:
        """Play `wall_seconds` of wall time at `speed` x; slices of `slice_s` wall seconds."""
        begin = start or datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 08:00 in Tashkent: all awake
        events = beats = 0
        done_v = 0.0
        max_lag = 0.0
        per_second: list[int] = []
        wall0 = time.monotonic()
        last_tick = wall0
        while True:
            now = time.monotonic()
            elapsed = now - wall0
            if elapsed >= wall_seconds:
                break
            target_v = elapsed * speed
            if target_v - done_v < slice_s * speed:
                time.sleep(max(0.0, slice_s - (target_v - done_v) / speed))  # ahead: wait
                continue
            max_lag = max(max_lag, target_v - done_v - slice_s * speed)
            e, b = self.slice(done_v, target_v, begin)
            events += e
            beats += b
            done_v = target_v
            if now - last_tick >= 1.0:
                per_second.append(events + beats)
                last_tick = now
                if progress is not None:
                    progress(1)
        wall = time.monotonic() - wall0
        return FleetResult(
            self.n,
            speed,
            wall,
            done_v,
            events,
            beats,
            self.acked,
            max_lag,
            len(self.clients),
            per_second,
        )
