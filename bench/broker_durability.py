"""What the shipped broker durability costs, and what it still loses, on a real Mosquitto.

Compares the shipped `firmware_configs/mosquitto/mehr.conf` (snapshot after every event-loop pass
that changed anything: `autosave_on_changes true`, `autosave_interval 1`) with the old setting
(`autosave_interval 60`: a snapshot every minute), side by side in one run:

- rate: QoS 1 messages/s acknowledged to `--kits` kit connections (each its own broker user, as
  the shipped `use_username_as_clientid` requires; window 10 each; ~300-byte events), with the
  hub's persistent session connected and draining, and with the hub away (the queue grows and
  so does every snapshot), and on top of `--retained` retained availability messages (a district
  has one per kit, and every snapshot rewrites them all);
- crash window: SIGKILL at once after the last PUBACK of a burst, restart, count what reaches
  the hub's session.

Usage: .venv/bin/python bench/broker_durability.py [--events 20000] [--kits 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import statistics
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.broker_auth import BrokerUser, hub_acl_rules, kit_acl_rules
from mehr.contract import TopicKind, topic_for
from mehr_app.services.mosquitto import Mosquitto
from simulators.fleet import QosOnePublisher

HUB, HUB_PW = "mehr-hub", "bench-hub-password"
LOAD_PW = "bench-load-password"
PAYLOAD = b"x" * 300
VARIANTS = {
    "autosave_interval 60 (before)": {"autosave_on_changes": "false", "autosave_interval": "60"},
    "shipped (on changes, 1)": {},
}


def _client(client_id: str, user: str, password: str) -> mqtt.Client:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(user, password)
    return client


def _kit(n: int) -> str:
    return f"kit-{n:05d}"


def _topic(n: int, kind: TopicKind = TopicKind.EVENTS) -> bytes:
    name = topic_for(f"home-{n:05d}", _kit(n), kind).encode()
    return len(name).to_bytes(2, "big") + name


def _publish(host: str, port: int, kits: int, count: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Child process: `count` QoS 1 events over `kits` connections, seconds to the last PUBACK."""
    pubs = [QosOnePublisher(host, port, _kit(n), username=_kit(n), password=LOAD_PW, window=10)
            for n in range(kits)]
    topics = [_topic(n) for n in range(kits)]
    start = time.perf_counter()
    for i in range(count):
        pubs[i % kits].publish(topics[i % kits], PAYLOAD)
        if i % kits == kits - 1:
            for pub in pubs:
                pub.pump(0.0)
    for pub in pubs:
        pub.drain(600)
    out.put(time.perf_counter() - start)
    for pub in pubs:
        pub.close()


def _publish_in_child(broker: Mosquitto, kits: int, count: int) -> float:
    out: mp.Queue[float] = mp.Queue()
    proc = mp.Process(target=_publish, args=(broker.host, broker.port, kits, count, out))
    proc.start()
    seconds = out.get(timeout=900)
    proc.join(timeout=60)
    return float(seconds)


def _retain(broker: Mosquitto, count: int) -> None:
    """`count` retained messages, one per kit availability topic, as a district holds."""
    client = _client(HUB, HUB, HUB_PW)
    client.max_inflight_messages_set(1000)
    client.connect(broker.host, broker.port)
    client.loop_start()
    infos = [client.publish(f"mehr/v1/homes/retained-{n}/kits/k/commands", PAYLOAD[:150], qos=1,
                            retain=True) for n in range(count)]
    for info in infos:
        info.wait_for_publish(600)
    client.disconnect()
    client.loop_stop()


class _Hub:
    """The hub's session: persistent (v5, clean_start False, a week's expiry), automatic acks."""

    def __init__(self, broker: Mosquitto) -> None:
        self.received = 0
        self.ready: queue.Queue[bool] = queue.Queue()
        self.client = _client(HUB, HUB, HUB_PW)
        self.client.on_connect = lambda c, *_: c.subscribe("mehr/v1/#", qos=1)
        self.client.on_subscribe = lambda *_: self.ready.put(True)
        self.client.on_message = self._count
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 7 * 24 * 3600
        self.client.connect(broker.host, broker.port, clean_start=False, properties=props)
        self.client.loop_start()
        self.ready.get(timeout=10)

    def _count(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.received += 1

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _broker(workdir: Path, overrides: dict[str, str], kits: int) -> Mosquitto:
    users = [BrokerUser(HUB, HUB_PW, hub_acl_rules())] + [
        BrokerUser(_kit(n), LOAD_PW, kit_acl_rules(f"home-{n:05d}", _kit(n)))
        for n in range(kits)
    ]
    broker = Mosquitto(workdir, users, overrides=overrides)
    broker.start()
    return broker


def rate_round(workdir: Path, overrides: dict[str, str], kits: int, events: int, retained: int,
               hub_connected: bool) -> float:
    """Messages/s acknowledged to the kits, with the hub draining or away."""
    broker = _broker(workdir, overrides, kits)
    try:
        if retained:
            _retain(broker, retained)
        hub = _Hub(broker)
        if not hub_connected:
            hub.stop()
        seconds = _publish_in_child(broker, kits, events)
        if hub_connected:
            deadline = time.monotonic() + 120
            while hub.received < events and time.monotonic() < deadline:
                time.sleep(0.05)  # the bench waits for the subscriber to drain, bounded
            hub.stop()
        return events / seconds
    finally:
        broker.stop()


def crash_round(workdir: Path, overrides: dict[str, str], kits: int, events: int) -> int:
    """Publish a burst with the hub away, SIGKILL at the last PUBACK, count what survives."""
    broker = _broker(workdir, overrides, kits)
    try:
        _Hub(broker).stop()
        _publish_in_child(broker, kits, events)
        broker.kill()
        broker.start()
        hub = _Hub(broker)
        deadline = time.monotonic() + 3
        last = -1
        while time.monotonic() < deadline and hub.received != last:
            last = hub.received
            time.sleep(0.5)  # until the redelivered session stops growing
        hub.stop()
        return hub.received
    finally:
        broker.stop()


def main() -> None:
    """Run the rounds and print a JSON summary (medians and each round)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--kits", type=int, default=100, help="kit connections publishing")
    parser.add_argument("--retained", type=int, default=10_000,
                        help="retained availability-like messages in the broker's database")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--crash-events", type=int, default=2_000)
    parser.add_argument("--crash-rounds", type=int, default=5)
    args = parser.parse_args()
    result: dict[str, dict[str, object]] = {name: {} for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for scenario, connected, retained in (
            ("hub connected, msgs/s", True, 0),
            (f"hub connected, {args.retained} retained, msgs/s", True, args.retained),
            ("hub away, msgs/s", False, 0),
        ):
            runs: dict[str, list[float]] = {name: [] for name in VARIANTS}
            for r in range(args.rounds):
                for name, overrides in VARIANTS.items():  # alternate, side by side
                    work = base / f"{len(runs[name])}-{r}-{abs(hash((scenario, name)))}"
                    runs[name].append(rate_round(work, overrides, args.kits, args.events,
                                                 retained, connected))
            for name in VARIANTS:
                result[name][scenario] = {
                    "median": round(statistics.median(runs[name])),
                    "rounds": [round(x) for x in runs[name]],
                }
        for name, overrides in VARIANTS.items():
            survived = [
                crash_round(base / f"crash-{abs(hash(name))}-{r}", overrides, args.kits,
                            args.crash_events)
                for r in range(args.crash_rounds)
            ]
            result[name][f"SIGKILL at the last PUBACK: survivors of {args.crash_events}"] = survived
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
