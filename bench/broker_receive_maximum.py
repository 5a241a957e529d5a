"""Does the broker keep to a subscriber's receive_maximum while that subscriber acknowledges?

    .venv/bin/python bench/broker_receive_maximum.py [--receive-maximum 100] [--messages 20000]

A Mosquitto with the shipped settings on loopback; a subscriber that asks for
`--receive-maximum` in-flight messages (MQTT 5, manual acknowledgement, like the hub) and
acknowledges 500 a second (a hub that has fallen behind); a publisher sending `--messages` QoS 1
messages as fast as the broker takes them. A broker that keeps to the limit has at most that many
unacknowledged messages at the subscriber; the last line is a JSON object with the most seen.
Mosquitto 2.0.11 (Debian 12) kept to it exactly while nothing was acknowledged, and went past it
(246 at a limit of 100) once acknowledgements flowed; under the capacity run's load at 100,000
homes the hub received 3 million unacknowledged messages (docs/benchmarks.md). The hub bounds
its own inbox for that reason (`inbox_max`).
"""

from __future__ import annotations

import argparse
import json
import queue
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

_ROOT = Path(__file__).resolve().parents[1]
sys.path = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

from hub.broker_auth import BrokerUser  # noqa: E402 - after the sys.path fix above
from mehr_app.services.mosquitto import Mosquitto  # noqa: E402

_CLIENTS = ("bench-sub", "bench-pub")
_ACKS_PER_TICK = 50  # every 0.1 s: 500 acknowledgements a second


def run(receive_maximum: int, messages: int) -> dict[str, object]:
    """Publish, acknowledge slowly, and report the most unacknowledged messages seen."""
    password = secrets.token_urlsafe(12)
    # One user per client: the shipped config ties each client id to its user name.
    users = [BrokerUser(name, password, ("topic readwrite bench/#",)) for name in _CLIENTS]
    with tempfile.TemporaryDirectory(prefix="mehr-rmax-") as work:
        broker = Mosquitto(Path(work), users)
        broker.start()
        try:
            return _measure(broker, password, receive_maximum, messages)
        finally:
            broker.stop()


def _client(client_id: str, password: str, manual_ack: bool) -> mqtt.Client:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=manual_ack,
    )
    client.username_pw_set(client_id, password)
    return client


def _measure(
    broker: Mosquitto, password: str, receive_maximum: int, messages: int
) -> dict[str, object]:
    waiting: queue.Queue[tuple[int, int]] = queue.Queue()
    acked = 0
    most_unacked = 0
    subscribed = threading.Event()
    sub = _client("bench-sub", password, manual_ack=True)
    sub.on_message = lambda c, u, m: waiting.put((m.mid, m.qos))
    sub.on_subscribe = lambda *args: subscribed.set()
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = receive_maximum
    sub.connect(broker.host, broker.port, clean_start=False, properties=props)
    sub.loop_start()
    sub.subscribe([("bench/+/x", 1), ("bench/+/y", 1)])
    subscribed.wait(10)
    pub = _client("bench-pub", password, manual_ack=False)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    sent: list[mqtt.MQTTMessageInfo] = []

    def publish() -> None:
        # 1,000 at a time, 5 bursts a second: a district's kits, faster than the subscriber.
        for i in range(messages):
            sent.append(pub.publish(f"bench/{i % 50}/{'xy'[i % 2]}", b"x" * 100, qos=1))
            if i % 1000 == 999:
                time.sleep(0.2)

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    deadline = time.monotonic() + 120
    while acked < messages and time.monotonic() < deadline:
        time.sleep(0.1)  # the pace of a hub that stores 500 messages a second
        most_unacked = max(most_unacked, waiting.qsize())
        for _ in range(_ACKS_PER_TICK):
            try:
                mid, qos = waiting.get_nowait()
            except queue.Empty:
                break
            sub.ack(mid, qos)
            acked += 1
    publisher.join(timeout=10)
    pub.loop_stop()
    sub.loop_stop()
    return {
        "receive_maximum": receive_maximum,
        "messages": messages,
        "published_ok": sum(1 for info in sent if info.rc == 0),
        "acknowledged": acked,
        "most_unacknowledged_at_subscriber": most_unacked,
        "kept_to_limit": most_unacked <= receive_maximum,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--receive-maximum", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    print(json.dumps(run(args.receive_maximum, args.messages)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
