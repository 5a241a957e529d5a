"""A kit fleet and a hub-like subscriber for a clustered MQTT broker, that survive node deaths.

Kits publish QoS 1 with their own broker users, re-sending what was not acknowledged after a
reconnect (as the kit firmware does); the hub keeps a persistent session (MQTT 3.1.1
clean_session=False) and acknowledges each message only after its simulated commit (paho
manual ack). Both reconnect to the next live node when theirs dies. Used by
bench/broker_cluster.py and tests/cluster/.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from mehr_app.services.broker_cluster import ClusterUser

HUB_CLIENT_ID = "mehr-hub"


def new_client(client_id: str, user: ClusterUser, clean: bool) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=clean,
        manual_ack=not clean,
        reconnect_on_failure=False,
    )
    client.username_pw_set(user.username, user.password)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    return client


def connect_any(
    make: Callable[[], mqtt.Client],
    addresses: Sequence[tuple[str, int]],
    start: int,
    deadline: float,
    dead: set[int],
) -> tuple[mqtt.Client, int]:
    """Connect to the first node that answers, starting at `start`; return client and node."""
    index = start
    while time.monotonic() < deadline:
        if index % len(addresses) in dead:
            index += 1
            continue
        host, port = addresses[index % len(addresses)]
        client = _try_connect(make, host, port)
        if client is not None:
            return client, index % len(addresses)
        index += 1
        time.sleep(0.1)  # the surviving nodes may still be electing leaders
    raise TimeoutError("no broker node accepted the connection before the deadline")


def _try_connect(make: Callable[[], mqtt.Client], host: str, port: int) -> mqtt.Client | None:
    """One connection attempt: the running client once the broker accepted it, else None."""
    client = make()
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(c: mqtt.Client, u: Any, f: Any, rc: Any, p: Any) -> None:
        if rc.is_failure:
            refused.append(str(rc))
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=5)
    except OSError:
        return None
    client.loop_start()
    if connected.wait(5) and not refused:
        return client
    client.loop_stop()
    client.disconnect()
    return None


@dataclass
class KitRecord:
    """What one kit saw: acknowledged sequence numbers, reconnect durations, done or not."""

    acked: set[int] = field(default_factory=set)
    finished: bool = False
    reconnects: list[float] = field(default_factory=list)


def run_kit(*args: Any, **kwargs: Any) -> None:
    """`_run_kit`, ending quietly when no node answered before the deadline."""
    try:
        _run_kit(*args, **kwargs)
    except TimeoutError:
        return  # what was acknowledged is in the record; the caller counts the rest


def _run_kit(  # noqa: C901, PLR0915 - moved as is; see the comment below
    home: str,
    user: ClusterUser,
    events: int,
    addresses: Sequence[tuple[str, int]],
    start_node: int,
    dead: set[int],
    record: KitRecord,
    deadline: float,
    window: int = 10,
    ack_timeout_s: float = 5.0,
    rate_per_s: float = 0.0,
    topic: str | None = None,
    payload: Callable[[int], bytes] | None = None,
) -> None:
    """Publish `events` QoS 1 events; re-send what was not acknowledged after a reconnect.

    By default a small JSON body per sequence number on kit k1's events topic; `topic` and
    `payload(seq)` make them real contract events (bench/hubs_cluster.py), the same bytes on
    every re-send of one sequence number.
    """
    # Moved unchanged from tests/cluster/ with the benches' other services; only the opt-in
    # `make test-cluster` (3 RabbitMQ nodes, ~70 s) exercises it, so it is split with that work
    # (issue 14), where each step can be checked against the cluster.
    topic = topic or f"mehr/v1/homes/{home}/kits/k1/events"

    def body(seq: int) -> bytes:
        return payload(seq) if payload is not None else json.dumps({"h": home, "s": seq}).encode()

    pending = deque(range(events))
    inflight: dict[int, int] = {}
    last_progress = [time.monotonic()]
    lock = threading.Condition()
    lost_connection = threading.Event()

    def on_publish(c: mqtt.Client, u: Any, mid: int, rc: Any, p: Any) -> None:
        with lock:
            seq = inflight.pop(mid, None)
            if seq is not None:
                record.acked.add(seq)
            last_progress[0] = time.monotonic()
            lock.notify_all()

    def on_disconnect(c: mqtt.Client, u: Any, f: Any, rc: Any, p: Any) -> None:
        lost_connection.set()
        with lock:
            lock.notify_all()

    def make() -> mqtt.Client:
        c = new_client(user.username, user, clean=True)
        c.on_publish = on_publish
        c.on_disconnect = on_disconnect
        return c

    client, node = connect_any(make, addresses, start_node, deadline, dead)
    started = time.monotonic()
    while time.monotonic() < deadline:
        with lock:
            if not pending and not inflight:
                record.finished = True
                break
            # No PUBACK for a while: MQTT 3.1.1 re-sends only on a new connection, so make one.
            if inflight and time.monotonic() - last_progress[0] > ack_timeout_s:
                lost_connection.set()
        if lost_connection.is_set():
            lost_at = time.monotonic()
            client.loop_stop()
            with lock:
                # What was not acknowledged goes again, in order (at least once).
                for seq in sorted(inflight.values(), reverse=True):
                    pending.appendleft(seq)
                inflight.clear()
            lost_connection.clear()
            client.disconnect()
            client, node = connect_any(make, addresses, node + 1, deadline, dead)
            record.reconnects.append(time.monotonic() - lost_at)
            last_progress[0] = time.monotonic()
            continue
        while not lost_connection.is_set():
            with lock:
                if not pending or len(inflight) >= window:
                    break
                # A kit sends events as life produces them: event `seq` is due at seq / rate.
                if rate_per_s and pending[0] / rate_per_s > time.monotonic() - started:
                    break
                seq = pending.popleft()
            # Not under our lock: paho's network thread takes its own lock, then ours.
            info = client.publish(topic, body(seq), qos=1)
            with lock:
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    pending.appendleft(seq)
                    lost_connection.set()
                    break
                if info.is_published():
                    record.acked.add(seq)
                else:
                    inflight[info.mid] = seq
        with lock:
            if not lost_connection.is_set():
                lock.wait(0.5 if inflight else 0.02)
    client.loop_stop()
    client.disconnect()


class HubSubscriber:
    """Persistent session; acknowledges each message only after its (simulated) commit."""

    def __init__(self, user: ClusterUser, addresses: Sequence[tuple[str, int]]) -> None:
        self.user = user
        self.addresses = addresses
        self.received: dict[tuple[str, int], int] = defaultdict(int)
        self.order: dict[str, list[int]] = defaultdict(list)
        self.lock = threading.Lock()
        self.node = 0
        self.client: mqtt.Client | None = None
        self.lost = threading.Event()
        self.first_after: float | None = None
        self.lost_at: float | None = None
        self.reconnects: list[float] = []
        self.last_new = 0.0

    def _on_message(self, c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        key = (body["h"], body["s"])
        with self.lock:  # the "commit": stored before the acknowledgement goes out
            if self.received[key] == 0:
                self.order[key[0]].append(key[1])
            self.received[key] += 1
            self.last_new = time.monotonic() if self.received[key] == 1 else self.last_new
            if self.lost_at is not None and self.first_after is None:
                self.first_after = time.monotonic()
        c.ack(msg.mid, msg.qos)

    def _make(self) -> mqtt.Client:
        c = new_client(HUB_CLIENT_ID, self.user, clean=False)
        c.on_message = self._on_message
        c.on_disconnect = lambda *a: self.lost.set()
        return c

    def connect(self, start: int, deadline: float, dead: set[int]) -> None:
        self.client, self.node = connect_any(self._make, self.addresses, start, deadline, dead)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.subscribe("mehr/v1/homes/+/kits/+/events", qos=1)
        # Events published before the SUBACK would precede the session's consumer.
        if not subscribed.wait(30):
            raise TimeoutError("no SUBACK for the hub's subscription within 30 s")

    def watch(self, deadline: float, dead: set[int], stop: threading.Event) -> None:
        """Reconnect to the next node whenever the connection drops, until `stop`."""
        while not stop.is_set() and time.monotonic() < deadline:
            if self.lost.wait(0.2):
                self.lost.clear()
                lost_at = time.monotonic()
                self.lost_at = lost_at
                if self.client is not None:
                    self.client.loop_stop()
                try:
                    self.connect(self.node + 1, deadline, dead)
                except TimeoutError:
                    # No node gave the session back (e.g. its queue lived on the dead node):
                    # the run ends with the hub disconnected, and the loss shows in the counts.
                    return
                self.reconnects.append(time.monotonic() - lost_at)

    def received_keys(self) -> set[tuple[str, int]]:
        with self.lock:
            return set(self.received)

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def close(self) -> None:
        if self.client is not None:
            self.client.loop_stop()
            self.client.disconnect()


@dataclass
class FleetResult:
    """What a fleet run saw: acknowledged events, deliveries, and the failover timings."""

    acked: set[tuple[str, int]]
    received: dict[tuple[str, int], int]
    order: dict[str, list[int]]
    started: float
    publish_done: float
    last_new: float
    killed_index: int | None
    killed_at: float | None
    hub_first_after_kill: float | None
    hub_reconnects: list[float]
    kit_reconnects: list[float]
    kits_unfinished: int

    @property
    def lost(self) -> set[tuple[str, int]]:
        """Events acknowledged to a kit that the hub never received."""
        return self.acked - set(self.received)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.received.values())

    @property
    def out_of_order(self) -> int:
        """First deliveries of a home that came after a later event of the same home."""
        return sum(
            sum(1 for a, b in itertools.pairwise(seqs) if b < a) for seqs in self.order.values()
        )


def run_fleet(
    addresses: Sequence[tuple[str, int]],
    hub: ClusterUser,
    kits: dict[str, ClusterUser],
    events: int,
    kill_node: Callable[[int], None] | None,
    kill_which: str = "subscriber",
    budget_s: float = 240.0,
    settle_s: float = 60.0,
    rate_per_s: float = 0.0,
) -> FleetResult:
    """Run the fleet and the hub; kill a node once a third of the events reached the hub.

    `kill_which` is "subscriber" (the node the hub is connected to) or "other". Each kit sends
    `rate_per_s` events a second (0: as fast as its window of unacknowledged events allows).
    """
    deadline = time.monotonic() + budget_s
    dead: set[int] = set()
    sub = HubSubscriber(hub, addresses)
    sub.connect(0, deadline, dead)
    stop = threading.Event()
    watcher = threading.Thread(target=sub.watch, args=(deadline, dead, stop), daemon=True)
    watcher.start()
    records = {home: KitRecord() for home in kits}
    started = time.monotonic()
    threads = [
        threading.Thread(
            target=run_kit,
            args=(home, user, events, addresses, i, dead, records[home], deadline),
            kwargs={"rate_per_s": rate_per_s},
            daemon=True,
        )
        for i, (home, user) in enumerate(kits.items())
    ]
    for t in threads:
        t.start()
    killed_at = None
    killed_index = None
    try:
        if kill_node is not None:
            while sub.count() < len(kits) * events // 3 and time.monotonic() < deadline:
                time.sleep(0.05)  # waiting for real traffic to flow
            killed_index = (
                sub.node if kill_which == "subscriber" else (sub.node + 1) % len(addresses)
            )
            dead.add(killed_index)
            killed_at = time.monotonic()
            kill_node(killed_index)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        publish_done = time.monotonic()
        acked = {(home, s) for home, r in records.items() for s in r.acked}
        # Let the redeliveries of what was acknowledged arrive (bounded).
        settle = min(deadline + settle_s, time.monotonic() + settle_s)
        while time.monotonic() < settle and not acked <= sub.received_keys():
            time.sleep(0.1)  # the real broker is redelivering
        stop.set()
        watcher.join(5)
    finally:
        sub.close()
    with sub.lock:
        received = dict(sub.received)
        order = {h: list(v) for h, v in sub.order.items()}
    return FleetResult(
        acked=acked,
        received=received,
        order=order,
        started=started,
        publish_done=publish_done,
        last_new=sub.last_new,
        killed_index=killed_index,
        killed_at=killed_at,
        hub_first_after_kill=sub.first_after,
        hub_reconnects=list(sub.reconnects),
        kit_reconnects=[x for r in records.values() for x in r.reconnects],
        kits_unfinished=sum(1 for r in records.values() if not r.finished),
    )
