"""A fleet of homes for load tests: thousands of kits publishing contract messages, fast.

Per home the model is deliberately light (one numpy pass over a shard of homes per time slice):
each resident has a seeded wake and bed time; awake, PIRs fire at about one movement a minute,
asleep rarely; the front door now and then; every kit sends a heartbeat every 60 s (the
contract's kit interval). Time runs `speed` times faster than the wall clock.

Two things make 10,000 homes at 60x possible on a small machine (about 30,000 messages/s):
- Payloads come from templates (`event_payload`, `heartbeat_payload`), not from a pydantic model
  per message. tests/simulators/test_fleet_encoding.py proves the bytes are identical to
  `mehr.contract.encode(make_event(...))` / `encode(Heartbeat(...))` and parse with
  `mehr.contract.parse_message`; topics still come from `mehr.contract.topic_for`.
- `run_fleet` splits the homes over worker processes, each with its own connection(s). A worker
  publishes through `QosOnePublisher`, a minimal QoS-1 PUBLISH/PUBACK pipe on a socket (MQTT
  3.1.1 or 5): paho spends about 80 µs per QoS-1 message in Python on this machine (~12,000/s
  from one process with the payload already built), so paho alone would need more cores than
  the machine has. The pipe only counts a message as sent when the broker's PUBACK for its
  packet id comes back (with MQTT 5, a PUBACK reason code >= 0x80 counts as refused), and it
  never has more than `window` messages unacknowledged. `transport="paho"` keeps the paho path
  for comparison.

A broker ACL that confines each kit to its own topics needs one connection per kit; a load test
uses a user that may write all homes.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from mehr.contract import (
    PROTOCOL_VERSION,
    QOS,
    Heartbeat,
    SensorKind,
    TopicKind,
    encode,
    topic_for,
    validate_id,
)

__all__ = [
    "TASHKENT_UTC_OFFSET_S",
    "FleetModel",
    "FleetResult",
    "QosOnePublisher",
    "event_payload",
    "heartbeat_payload",
    "run_fleet",
    "topic_field",
    "wire_time",
    "wire_times",
]

_LOGGER = logging.getLogger(__name__)

_PIRS = ("pir-bed", "pir-bath", "pir-kitchen", "pir-living", "pir-hall")
_AWAKE_PER_S = 1.0 / 60.0  # movement bursts a PIR reports (ON, then OFF 8 s later)
_ASLEEP_PER_S = 1.0 / 1800.0
_DOOR_PER_S = 4.0 / 86_400.0 * 2  # two outings a day, door open+close each way
TASHKENT_UTC_OFFSET_S = 5 * 3600.0  # Asia/Tashkent, no daylight saving: the default district
_DEFAULT_START = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 08:00 in Tashkent: all awake

Transport = Literal["raw", "paho"]

# -- the fast encoding path ---------------------------------------------------------------------
# pydantic serialises an aware UTC datetime as ISO 8601 with "Z", microseconds as six digits and
# left out when zero; these functions write exactly that.


def wire_time(moment: datetime) -> str:
    """A UTC datetime as the contract's JSON writes it (e.g. 2026-03-02T03:00:00.123456Z)."""
    utc = moment.astimezone(UTC)
    text = utc.replace(tzinfo=None).isoformat()
    return text + "Z"


def wire_times(micros: npt.NDArray[np.int64]) -> list[str]:
    """Vectorised `wire_time` of microseconds since the Unix epoch (UTC)."""
    text = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
    whole = micros % 1_000_000 == 0
    out: list[str] = []
    for s, w in zip(text.tolist(), whole.tolist(), strict=True):
        out.append((s[:-7] if w else s) + "Z")
    return out


def _json_value(value: bool | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    # Only the contract's fixed words travel here ("open", "pressed", ...): nothing to escape.
    if not value.replace("_", "").isalnum():
        raise ValueError(f"value {value!r} needs JSON escaping; use mehr.contract.encode")
    return f'"{value}"'


def event_prefix(kit: str, epoch: int) -> str:
    """The constant start of every event payload of one kit (reused for each message)."""
    validate_id(kit, "kit id")
    return f'{{"v":{PROTOCOL_VERSION},"kit":"{kit}","epoch":{epoch},"seq":'


def event_payload(
    kit: str, epoch: int, seq: int, sensor: str, kind: SensorKind, value: bool | str, ts: str
) -> bytes:
    """The bytes `encode(make_event(...))` gives, without building a model (ts: `wire_time`)."""
    validate_id(sensor, "sensor id")
    return _event_bytes(event_prefix(kit, epoch), seq, sensor, kind.value, _json_value(value), ts)


def _event_bytes(prefix: str, seq: int, sensor: str, kind: str, value: str, ts: str) -> bytes:
    # Field order is the model's: v, kit, epoch, seq, sensor, ts, kind, value.
    return (
        f'{prefix}{seq},"sensor":"{sensor}","ts":"{ts}","kind":"{kind}","value":{value}}}'.encode()
    )


def heartbeat_payload(
    kit: str, ts: str, uptime_s: float, outbox_depth: int = 0, dropped: int = 0
) -> bytes:
    """The bytes `encode(Heartbeat(...))` gives for a kit without sensor details."""
    validate_id(kit, "kit id")
    number = repr(float(uptime_s))
    if "e" in number or "n" in number:
        # pydantic writes exponents as 1e-7 where Python writes 1e-07: take the model's path.
        return encode(
            Heartbeat(
                v=PROTOCOL_VERSION,
                kit=kit,
                ts=datetime.fromisoformat(ts.replace("Z", "+00:00")),
                uptime_s=uptime_s,
                outbox_depth=outbox_depth,
                dropped=dropped,
            )
        )
    return (
        f'{{"v":{PROTOCOL_VERSION},"kit":"{kit}","ts":"{ts}","uptime_s":{number},'
        f'"outbox_depth":{outbox_depth},"dropped":{dropped},"sensors":{{}}}}'
    ).encode()


# -- a QoS-1 publisher ------------------------------------------------------------------------


class PublishRefused(RuntimeError):
    """The broker refused the connection or a message, or closed the connection."""


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


# MQTT 5 property ids and the size of their values (-1: UTF-8 or binary with a 2-byte length,
# -2: a pair of strings), for skipping what CONNACK carries.
_PROPERTY_SIZES = {
    0x11: 4, 0x12: -1, 0x13: 2, 0x15: -1, 0x16: -1, 0x1A: -1, 0x1C: -1, 0x1F: -1,
    0x21: 2, 0x22: 2, 0x24: 1, 0x25: 1, 0x26: -2, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1,
}  # fmt: skip


class QosOnePublisher:
    """One MQTT connection that publishes at QoS 1 and counts the broker's PUBACKs.

    Publishing appends to a buffer; `pump()` writes it and reads acknowledgements without
    blocking. At most `window` messages are unacknowledged (MQTT 5: also at most the broker's
    Receive Maximum), so the sender can never run ahead of the broker by more than that.
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        mqtt_v5: bool = True,
        window: int = 1000,
        keepalive_s: int = 60,
    ) -> None:
        self.v5 = mqtt_v5
        self.window = max(1, min(window, 65_000))
        self.published = 0
        self.acked = 0
        self.refused = 0
        self._keepalive = keepalive_s
        self._out = bytearray()
        self._in = bytearray()
        self._open = bytearray(65_536)  # 1 where a packet id waits for its PUBACK
        self._pid = 0
        self._last_send = time.monotonic()
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connect(client_id, username, password)
        self.sock.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.sock, selectors.EVENT_READ)

    def _connect(self, client_id: str, username: str | None, password: str | None) -> None:
        flags = 0x02  # clean session / clean start: a load generator keeps no session
        payload = _utf8(client_id)
        if username is not None:
            flags |= 0x80
            payload += _utf8(username)
            if password is not None:
                flags |= 0x40
                payload += _utf8(password)
        level = 5 if self.v5 else 4
        variable = _utf8("MQTT") + bytes([level, flags]) + struct.pack("!H", self._keepalive)
        if self.v5:
            variable += b"\x00"  # no properties
        body = variable + payload
        self.sock.sendall(b"\x10" + _varint(len(body)) + body)
        kind, data = self._read_packet_blocking()
        if kind != 0x20:
            raise PublishRefused(f"expected CONNACK, got packet type {kind >> 4}")
        code = data[1]
        if code != 0:
            raise PublishRefused(f"connection refused by the broker (code {code:#x})")
        if self.v5 and len(data) > 2:
            self.window = min(self.window, self._receive_maximum(data))

    def _receive_maximum(self, data: bytes) -> int:
        length, i = self._read_varint(data, 2)
        end, limit = i + length, 65_535
        while i < end:
            prop = data[i]
            i += 1
            size = _PROPERTY_SIZES.get(prop)
            if size is None:
                break  # unknown property: keep our own window
            if prop == 0x21:
                limit = struct.unpack_from("!H", data, i)[0]
            if size >= 0:
                i += size
            else:
                for _ in range(-size):
                    i += 2 + struct.unpack_from("!H", data, i)[0]
        return int(limit)

    @staticmethod
    def _read_varint(data: bytes | bytearray, i: int) -> tuple[int, int]:
        value, shift = 0, 0
        while True:
            if i >= len(data):
                raise IndexError("incomplete length")
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value, i
            shift += 7

    def _read_packet_blocking(self) -> tuple[int, bytes]:
        while True:
            packet = self._take_packet()
            if packet is not None:
                return packet
            chunk = self.sock.recv(65_536)
            if not chunk:
                raise PublishRefused("the broker closed the connection")
            self._in += chunk

    def _take_packet(self) -> tuple[int, bytes] | None:
        buf = self._in
        if len(buf) < 2:
            return None
        try:
            length, start = self._read_varint(buf, 1)
        except IndexError:
            return None
        if len(buf) < start + length:
            return None
        kind, body = buf[0] & 0xF0, bytes(buf[start : start + length])
        del buf[: start + length]
        return kind, body

    def publish(self, topic: bytes, payload: bytes) -> None:
        """Queue one QoS-1 PUBLISH; `topic` is the UTF-8 topic with its 2-byte length."""
        while self.published - self.acked - self.refused >= self.window:
            self.pump(0.05)
        pid = self._pid % 65_535 + 1
        while self._open[pid]:
            self.pump(0.05)  # a packet id may only be reused once its PUBACK is in
        self._pid = pid
        self._open[pid] = 1
        extra = 3 if self.v5 else 2  # packet id (+ an empty property list in MQTT 5)
        out = self._out
        out.append(0x32)  # PUBLISH, QoS 1
        out += _varint(len(topic) + extra + len(payload))
        out += topic
        out += pid.to_bytes(2, "big")
        if self.v5:
            out.append(0)
        out += payload
        self.published += 1
        if len(out) >= 65_536:
            self.pump(0.0)

    def pump(self, timeout: float = 0.0) -> None:
        """Write what is buffered and read acknowledgements; wait at most `timeout` seconds."""
        if self._out:
            try:
                sent = self.sock.send(self._out)
                del self._out[:sent]
                self._last_send = time.monotonic()
            except BlockingIOError:
                pass
        elif time.monotonic() - self._last_send > self._keepalive / 2:
            self._out += b"\xc0\x00"  # PINGREQ: keep an idle connection alive
        wait = timeout if not self._out else min(timeout, 0.001)
        if self._sel.select(wait):
            try:
                chunk = self.sock.recv(262_144)
            except BlockingIOError:
                return
            if not chunk:
                raise PublishRefused("the broker closed the connection")
            self._in += chunk
            self._read_acks()

    def _read_acks(self) -> None:
        buf = self._in
        while True:
            # Fast path: a 3.1.1 PUBACK, or an MQTT 5 PUBACK with success implied, is 4 bytes.
            if len(buf) >= 4 and buf[0] == 0x40 and buf[1] == 2:
                pid = (buf[2] << 8) | buf[3]
                del buf[:4]
                self._ack(pid, 0)
                continue
            packet = self._take_packet()
            if packet is None:
                return
            kind, body = packet
            if kind == 0x40:
                self._ack((body[0] << 8) | body[1], body[2] if len(body) > 2 else 0)
            elif kind == 0xE0:  # DISCONNECT from the broker (MQTT 5)
                reason = body[0] if body else 0
                raise PublishRefused(f"the broker disconnected us (reason {reason:#x})")
            # PINGRESP and anything else: nothing to count.

    def _ack(self, pid: int, reason: int) -> None:
        if not self._open[pid]:
            return
        self._open[pid] = 0
        if reason >= 0x80:
            self.refused += 1
        else:
            self.acked += 1

    @property
    def outstanding(self) -> int:
        """Messages published and not yet acknowledged or refused."""
        return self.published - self.acked - self.refused

    def drain(self, timeout: float) -> bool:
        """Pump until every message is acknowledged (or refused); False if time ran out."""
        deadline = time.monotonic() + timeout
        while self.outstanding or self._out:
            if time.monotonic() > deadline:
                return False
            self.pump(0.05)
        return True

    def close(self) -> None:
        """Send DISCONNECT and close the socket."""
        try:
            self.sock.setblocking(True)
            self.sock.sendall(bytes(self._out) + (b"\xe0\x01\x00" if self.v5 else b"\xe0\x00"))
        except OSError:
            pass
        self._sel.close()
        self.sock.close()


class _PahoPublisher:
    """The same interface over paho (for comparison: ~12,000 QoS-1 messages/s per process)."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        mqtt_v5: bool = True,
        window: int = 1000,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if mqtt_v5 else MQTTProtocolVersion.MQTTv311,
        )
        self.client.max_inflight_messages_set(window)
        self.client.max_queued_messages_set(0)
        if username:
            self.client.username_pw_set(username, password)
        self.published = 0
        self.acked = 0
        self.refused = 0
        self._lock = threading.Lock()
        self.client.on_publish = self._on_publish
        self.client.connect(host, port, keepalive=60)
        self.client.loop_start()

    def _on_publish(self, client: Any, userdata: Any, mid: Any, rc: Any, props: Any) -> None:
        with self._lock:
            if getattr(rc, "is_failure", False):
                self.refused += 1
            else:
                self.acked += 1

    def publish(self, topic: bytes, payload: bytes) -> None:
        """Publish at QoS 1 (paho queues beyond its in-flight window)."""
        self.client.publish(topic[2:].decode(), payload, qos=QOS)
        self.published += 1

    def pump(self, timeout: float = 0.0) -> None:
        """paho's network thread does the work; wait a little when asked to."""
        if timeout:
            time.sleep(timeout)  # the loop thread is busy; this only yields to it

    @property
    def outstanding(self) -> int:
        """Messages published and not yet acknowledged or refused."""
        return self.published - self.acked - self.refused

    def drain(self, timeout: float) -> bool:
        """Wait for every PUBACK (bounded)."""
        deadline = time.monotonic() + timeout
        while self.outstanding:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)  # waiting for the broker's PUBACKs
        return True

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


class Publisher(Protocol):
    """What a fleet worker needs of a connection."""

    published: int
    acked: int
    refused: int

    def publish(self, topic: bytes, payload: bytes) -> None:
        """Queue one QoS-1 message."""
        ...

    def pump(self, timeout: float = 0.0) -> None:
        """Move bytes and acknowledgements."""
        ...

    @property
    def outstanding(self) -> int:
        """Messages not yet acknowledged."""
        ...

    def drain(self, timeout: float) -> bool:
        """Wait (bounded) until every message is acknowledged."""
        ...

    def close(self) -> None:
        """Disconnect."""
        ...


# -- the model of a shard of homes ----------------------------------------------------------


def topic_field(topic: str) -> bytes:
    """A topic as a PUBLISH carries it: its 2-byte length, then its UTF-8 bytes."""
    return _utf8(topic)


class FleetModel:
    """The homes `indices` of a fleet: what they publish in each slice of virtual time."""

    def __init__(
        self,
        indices: Sequence[int],
        *,
        seed: int = 0,
        heartbeat_s: float = 60.0,
        prefix: str = "fleet",
        epoch: int = 1,
        utc_offset_s: float = TASHKENT_UTC_OFFSET_S,
    ) -> None:
        self.indices = list(indices)
        # The residents' local time: when they sleep and when they are up (a benchmark run at
        # night in Tashkent can play a district whose afternoon it is).
        self.utc_offset_s = utc_offset_s
        n = len(self.indices)
        self.rng = np.random.default_rng([seed, *self.indices[:1], n])
        self.homes = [f"{prefix}-{i:05d}" for i in self.indices]
        self.kits = [f"{prefix}-kit-{i:05d}" for i in self.indices]
        self.event_topics = [
            topic_field(topic_for(h, k, TopicKind.EVENTS))
            for h, k in zip(self.homes, self.kits, strict=True)
        ]
        self.beat_topics = [
            topic_field(topic_for(h, k, TopicKind.HEARTBEAT))
            for h, k in zip(self.homes, self.kits, strict=True)
        ]
        self.prefixes = [event_prefix(k, epoch) for k in self.kits]
        self.wake_s = self.rng.normal(7.0, 0.7, n) * 3600.0
        self.bed_s = self.rng.normal(22.5, 0.7, n) * 3600.0
        self.seq = np.zeros(n, dtype=np.int64)
        self.heartbeat_s = heartbeat_s
        self.next_beat = self.rng.uniform(0, heartbeat_s, n)  # staggered, seconds from start

    def slice(
        self, t0: float, t1: float, start: datetime, send: Callable[[int, bytes, bytes], object]
    ) -> tuple[int, int]:
        """Send everything of virtual seconds [t0, t1) since `start`; return (events, beats).

        `send(home, topic, payload)` gets the local home index, the topic (with its 2-byte
        length, as a PUBLISH carries it) and the payload.
        """
        dt = t1 - t0
        start_s = start.timestamp()
        start_us = round(start_s * 1e6)
        tod = (start_s + self.utc_offset_s + t0) % 86_400.0
        awake = (tod >= self.wake_s) & (tod < self.bed_s)
        motion = self.rng.poisson(np.where(awake, _AWAKE_PER_S * 2, _ASLEEP_PER_S * 2) * dt)
        doors = self.rng.poisson(np.where(awake, _DOOR_PER_S, 0.0) * dt)
        total = motion + doors
        homes = np.flatnonzero(total)
        events = 0
        if homes.size:
            reps = total[homes]
            home_of = np.repeat(homes, reps)
            firsts = np.cumsum(reps) - reps
            rank = np.arange(home_of.size) - np.repeat(firsts, reps)
            offsets = self.rng.uniform(t0, t1, home_of.size)
            # Within a home, time order decides the sequence; kinds keep their places (motion
            # first, then the door), as the earlier per-home loop did.
            order = np.lexsort((offsets, home_of))
            offsets = offsets[order]
            is_door = rank >= np.repeat(motion[homes], reps)
            seqs = self.seq[home_of] + rank + 1
            self.seq[homes] += reps
            micros = start_us + np.round(offsets * 1e6).astype(np.int64)
            stamps = wire_times(micros)
            prefixes, topics, pirs = self.prefixes, self.event_topics, _PIRS
            for home, seq, door, ts in zip(
                home_of.tolist(), seqs.tolist(), is_door.tolist(), stamps, strict=True
            ):
                # A load model: values alternate per kit, not per sensor.
                if door:
                    payload = _event_bytes(
                        prefixes[home], seq, "door-front", "door",
                        '"open"' if seq % 2 else '"closed"', ts,
                    )  # fmt: skip
                else:
                    payload = _event_bytes(
                        prefixes[home], seq, pirs[seq % 5], "motion",
                        "true" if seq % 2 == 1 else "false", ts,
                    )  # fmt: skip
                send(home, topics[home], payload)
            events = home_of.size
        due = np.flatnonzero(self.next_beat < t1)
        if due.size:
            at = self.next_beat[due]
            micros = start_us + np.round(at * 1e6).astype(np.int64)
            for home, ts, uptime in zip(due.tolist(), wire_times(micros), at.tolist(), strict=True):
                send(home, self.beat_topics[home], heartbeat_payload(self.kits[home], ts, uptime))
            self.next_beat[due] += self.heartbeat_s
        return int(events), int(due.size)


# -- results --------------------------------------------------------------------------------


def _per_second(amount: float, seconds: float) -> float:
    """A rate, 0 when no time has passed."""
    return amount / seconds if seconds else 0.0


@dataclass
class FleetResult:
    """What a fleet run reached (summed over workers)."""

    homes: int
    speed: float
    wall_s: float  # from the common start until the last worker stopped publishing
    virtual_s: float  # virtual seconds every worker played (the slowest one's)
    events: int
    heartbeats: int
    acked: int
    max_lag_s: float  # worst virtual-time lag behind the schedule, any worker
    connections: int
    refused: int = 0
    drain_s: float = 0.0  # after publishing stopped, until the last PUBACK
    workers: int = 1
    transport: str = "raw"
    cpu_s: float = 0.0  # the workers' CPU time (user + system)
    per_second: list[int] = field(default_factory=list)
    started_at: float = 0.0  # the common start, Unix time (wall clock)

    @property
    def messages(self) -> int:
        """Everything published: events and heartbeats."""
        return self.events + self.heartbeats

    @property
    def messages_per_s(self) -> float:
        """Messages published per wall second."""
        return _per_second(self.messages, self.wall_s)

    @property
    def acked_per_s(self) -> float:
        """Messages the broker acknowledged per second, counting the drain after the run."""
        return _per_second(self.acked, self.wall_s + self.drain_s)

    @property
    def events_per_s(self) -> float:
        """Sensor events published per wall second."""
        return _per_second(self.events, self.wall_s)

    @property
    def achieved_speed(self) -> float:
        """Virtual seconds played per wall second, up to the last PUBACK."""
        return _per_second(self.virtual_s, self.wall_s + self.drain_s)

    @property
    def sustained(self) -> bool:
        """The target speed held: every message acknowledged, within 2 % of the speed."""
        return (
            self.acked == self.messages
            and self.refused == 0
            and self.achieved_speed >= 0.98 * self.speed
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly figures."""
        return {
            "homes": self.homes,
            "speed_target": self.speed,
            "speed_achieved": round(self.achieved_speed, 2),
            "sustained": self.sustained,
            "wall_s": round(self.wall_s, 2),
            "drain_s": round(self.drain_s, 2),
            "virtual_s": round(self.virtual_s, 1),
            "events": self.events,
            "heartbeats": self.heartbeats,
            "acked_by_broker": self.acked,
            "refused_by_broker": self.refused,
            "events_per_s": round(self.events_per_s),
            "messages_per_s": round(self.messages_per_s),
            "acked_per_s": round(self.acked_per_s),
            "max_lag_virtual_s": round(self.max_lag_s, 1),
            "workers": self.workers,
            "connections": self.connections,
            "transport": self.transport,
            "workers_cpu_s": round(self.cpu_s, 1),
        }


# -- one worker's loop ------------------------------------------------------------------------


@dataclass(frozen=True)
class _WorkerSpec:
    index: int
    indices: list[int]
    host: str
    port: int
    seed: int
    connections: int
    username: str | None
    password: str | None
    mqtt_v5: bool
    heartbeat_s: float
    prefix: str
    transport: Transport
    window: int
    speed: float
    wall_seconds: float
    slice_s: float
    start: datetime | None  # None: the wall clock at the common start
    utc_offset_s: float
    # Other broker nodes of a cluster: the connections are dealt over (host, port) and these.
    more_nodes: tuple[tuple[str, int], ...] = ()


def _open(spec: _WorkerSpec, c: int) -> Publisher:
    make = QosOnePublisher if spec.transport == "raw" else _PahoPublisher
    nodes = ((spec.host, spec.port), *spec.more_nodes)
    host, port = nodes[(spec.index * spec.connections + c) % len(nodes)]
    return make(
        host,
        port,
        f"{spec.prefix}-driver-{spec.index}-{c}",
        username=spec.username,
        password=spec.password,
        mqtt_v5=spec.mqtt_v5,
        window=spec.window,
    )


def _play(
    spec: _WorkerSpec, model: FleetModel, pubs: list[Publisher], wall0: float, start: datetime
) -> dict[str, Any]:
    """Play the schedule from the common start `wall0` (monotonic); publish and pump."""
    n_pubs = len(pubs)

    def send(home: int, topic: bytes, payload: bytes) -> None:
        pubs[home % n_pubs].publish(topic, payload)

    speed, slice_s = spec.speed, spec.slice_s
    events = beats = 0
    done_v = max_lag = 0.0
    per_second: list[int] = []
    last_tick = wall0
    while True:
        now = time.monotonic()
        elapsed = now - wall0
        if elapsed >= spec.wall_seconds:
            break
        target_v = elapsed * speed
        if target_v - done_v < slice_s * speed:
            # Ahead of the schedule: read acknowledgements while waiting for the next slice.
            wait = max(0.0, slice_s - (target_v - done_v) / speed)
            for pub in pubs:
                pub.pump(wait / n_pubs)
            continue
        max_lag = max(max_lag, target_v - done_v - slice_s * speed)
        e, b = model.slice(done_v, target_v, start, send)
        events += e
        beats += b
        done_v = target_v
        for pub in pubs:
            pub.pump(0.0)
        if now - last_tick >= 1.0:
            per_second.append(events + beats)
            last_tick = now
    stopped = time.monotonic()
    drained = all(pub.drain(60.0) for pub in pubs)
    acked_at = time.monotonic()
    return {
        "events": events,
        "beats": beats,
        "virtual_s": done_v,
        "max_lag": max_lag,
        "wall_s": stopped - wall0,
        "drain_s": acked_at - stopped,  # bounded: 60 s at most, then acked < published
        "drained": drained,
        "acked": sum(p.acked for p in pubs),
        "refused": sum(p.refused for p in pubs),
        "published": sum(p.published for p in pubs),
        "per_second": per_second,
    }


def _worker_main(
    spec: _WorkerSpec, ready: Any, go: Any, start_at: Any, start_wall: Any, results: Any
) -> None:
    """A worker process: connect, say ready, wait for the common start, play, report."""
    try:
        model = FleetModel(
            spec.indices,
            seed=spec.seed,
            heartbeat_s=spec.heartbeat_s,
            prefix=spec.prefix,
            utc_offset_s=spec.utc_offset_s,
        )
        pubs = [_open(spec, c) for c in range(spec.connections)]
        ready.put(spec.index)
        go.wait()
        begin = spec.start or datetime.fromtimestamp(start_wall.value, UTC)
        cpu0 = os.times()
        out = _play(spec, model, pubs, start_at.value, begin)
        cpu1 = os.times()
        out["cpu_s"] = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        out["index"] = spec.index
        for pub in pubs:
            pub.close()
        results.put(out)
    except Exception as exc:  # reported to the parent, which raises
        _LOGGER.exception("fleet worker %d failed", spec.index)
        ready.put(spec.index)
        results.put({"index": spec.index, "error": repr(exc)})


def run_fleet(
    homes: int,
    host: str,
    port: int,
    *,
    workers: int = 2,
    connections: int = 1,
    speed: float = 60.0,
    wall_seconds: float = 60.0,
    seed: int = 0,
    username: str | None = None,
    password: str | None = None,
    mqtt_v5: bool = True,
    heartbeat_s: float = 60.0,
    prefix: str = "fleet",
    transport: Transport = "raw",
    window: int = 1000,
    slice_s: float = 0.1,
    start: datetime | None = None,
    wall_clock: bool = False,
    more_nodes: Sequence[tuple[str, int]] = (),
    utc_offset_s: float = TASHKENT_UTC_OFFSET_S,
) -> FleetResult:
    """Play `homes` homes for `wall_seconds` at `speed` x, split over `workers` processes.

    Each worker owns every `workers`-th home and `connections` connections of its own; all
    start on one monotonic instant. The result counts what the broker acknowledged.
    Virtual time starts at `start` (default: a Monday 08:00 in Tashkent), or with
    `wall_clock` at the wall clock's time of the common start, so that at speed 1 an event's
    time stamp is the moment it is published (give `slice_s` small: an event is stamped at
    most one slice before it is sent). With `more_nodes` (the other nodes of a broker cluster),
    the `workers` x `connections` connections are dealt over (host, port) and them in turn.
    """
    if wall_clock and start is not None:
        raise ValueError("give either start or wall_clock, not both")
    ctx = mp.get_context("spawn")  # no threads or sockets inherited from this process
    ready, results = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    start_wall = ctx.Value("d", 0.0)
    begin = None if wall_clock else (start or _DEFAULT_START)
    procs = []
    for w in range(workers):
        spec = _WorkerSpec(
            w, list(range(w, homes, workers)), host, port, seed, connections, username,
            password, mqtt_v5, heartbeat_s, prefix, transport, window, speed, wall_seconds,
            slice_s, begin, utc_offset_s, tuple(more_nodes),
        )  # fmt: skip
        proc = ctx.Process(
            target=_worker_main, args=(spec, ready, go, start_at, start_wall, results), daemon=True
        )
        proc.start()
        procs.append(proc)
    try:
        for _ in range(workers):
            ready.get(timeout=120)
        # Everyone connected: start together a moment from now.
        start_wall.value = time.time() + 0.2
        start_at.value = time.monotonic() + 0.2
        go.set()
        outs = [results.get(timeout=wall_seconds + 180) for _ in range(workers)]
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
    errors = [o["error"] for o in outs if "error" in o]
    if errors:
        raise RuntimeError(f"fleet worker failed: {errors[0]}")
    per_second = [sum(x) for x in zip(*(o["per_second"] for o in outs), strict=False)]
    return FleetResult(
        homes=homes,
        speed=speed,
        wall_s=max(o["wall_s"] for o in outs),
        virtual_s=min(o["virtual_s"] for o in outs),
        events=sum(o["events"] for o in outs),
        heartbeats=sum(o["beats"] for o in outs),
        acked=sum(o["acked"] for o in outs),
        max_lag_s=max(o["max_lag"] for o in outs),
        connections=workers * connections,
        refused=sum(o["refused"] for o in outs),
        drain_s=max(o["drain_s"] for o in outs),
        workers=workers,
        transport=transport,
        cpu_s=sum(o["cpu_s"] for o in outs),
        per_second=per_second,
        started_at=start_wall.value,
    )
