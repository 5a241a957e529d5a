"""Ingest benchmark: events/s stored by the hub and publish-to-stored latency, next to the rate a
bare paho subscriber receives the same stream (the ceiling), all through a real Mosquitto.

    .venv/bin/python bench/ingest.py [--events 20000] [--rounds 3] [--paced-rate 500]

A separate publisher process floods N QoS-1 events; rounds alternate the bare subscriber, the
hub with its broker connections in its own process, and the hub with them in a link process
(`link_process`), so all see the same machine noise. Paced runs measure latency at a steady,
realistic rate. The hub here is the `Hub` class (ingest, registry, dedup, SQLite, ack after
commit) without the scan and the alert engine: the ingest path's ceiling, not a district's
figure (that is bench/capacity.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import secrets
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.broker_auth import BrokerUser, hub_acl_rules, kit_acl_rules
from hub.config import HubSettings, MqttProtocol
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.service import Hub
from mehr.contract import SensorKind, TopicKind, topic_for
from mehr_app.services.mosquitto import Mosquitto
from simulators.fleet import QosOnePublisher, event_payload, topic_field, wire_time

HOME, KIT = "home-bench", "kit-bench"


def publisher(host: str, port: int, password: str, n: int, rate: float, epoch: int) -> None:
    """Publish n events as fast as possible (rate 0) or at `rate` per second, through the
    fleet's raw QoS-1 publisher: a paho publisher sends ~2,000 msg/s here, slower than the hub
    it is meant to flood."""
    pub = QosOnePublisher(host, port, f"pub-{epoch}", username=KIT, password=password)
    topic = topic_field(topic_for(HOME, KIT, TopicKind.EVENTS))
    start = time.perf_counter()
    for seq in range(1, n + 1):
        if rate:
            due = start + (seq - 1) / rate
            delay = due - time.perf_counter()
            if delay > 0:
                pub.pump(delay)  # pacing a load generator, reading acks meanwhile
        ts = wire_time(datetime.now(UTC))
        pub.publish(topic, event_payload(KIT, epoch, seq, "pir", SensorKind.MOTION, True, ts))
        if seq % 100 == 0:
            pub.pump(0.0)
    pub.drain(120)
    pub.close()


def run_publisher(broker: Mosquitto, password: str, n: int, rate: float, epoch: int) -> mp.Process:
    proc = mp.Process(target=publisher, args=(broker.host, broker.port, password, n, rate, epoch))
    proc.start()
    return proc


def bare_subscriber_rate(broker: Mosquitto, hub_password: str, kit_password: str, n: int) -> float:
    """Messages/s a plain paho subscriber (QoS 1, auto-ack) receives from the flood."""
    got = 0
    first = last = 0.0
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal got, first, last
        now = time.perf_counter()
        if got == 0:
            first = now
        got += 1
        last = now
        if got >= n:
            done.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bare-{secrets.token_hex(3)}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set("mehr-hub", hub_password)
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect(broker.host, broker.port)
    client.subscribe(topic_for(HOME, KIT, TopicKind.EVENTS), qos=1)
    client.loop_start()
    subscribed.wait(10)
    proc = run_publisher(broker, kit_password, n, 0, secrets.randbelow(2**40) + 1)
    done.wait(180)
    proc.join()
    client.disconnect()
    client.loop_stop()
    return (got - 1) / (last - first) if got > 1 else 0.0


def hub_run(
    broker: Mosquitto,
    hub_password: str,
    kit_password: str,
    n: int,
    rate: float,
    workdir: Path,
    link_process: bool = False,
) -> dict[str, float]:
    """Run the real hub against a flood (rate 0) or paced stream; return rate and latencies."""
    db = workdir / f"hub-{secrets.token_hex(4)}.db"
    store = SqliteStore(db)
    sensors = [SensorSpec(id="pir", kind=SensorKind.MOTION, room="Kitchen")]
    store.register_home(
        HomeSpec(id=HOME, kits=[KitSpec(id=KIT, sensors=sensors)]), datetime.now(UTC)
    )
    store.close()
    settings = HubSettings(
        mqtt_url=broker.url,
        mqtt_username="mehr-hub",
        mqtt_password=hub_password,
        mqtt_protocol=MqttProtocol.V5,
        mqtt_client_id=f"hub-{secrets.token_hex(3)}",
        db_path=db,
        stats_port=0,
        link_process=link_process,
    )
    hub = Hub(settings)
    hub.start()
    hub.link.connected.wait(10)
    time.sleep(0.3)  # let the subscription settle before the publisher starts
    proc = run_publisher(broker, kit_password, n, rate, secrets.randbelow(2**40) + 1)
    deadline = time.monotonic() + 300
    while hub.stats.get("stored") < n and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.join()
    hub.stop()
    store = SqliteStore(db)
    events = store.events(HOME)
    store.close()
    received = sorted(e.received_at.timestamp() for e in events)
    stored = sorted(e.stored_at.timestamp() for e in events)
    span = stored[-1] - received[0]
    # Publish (kit clock = this machine's clock) to committed, measured by the hub after COMMIT.
    latency = hub.stats.latency_quantiles()
    return {
        "stored": len(events),
        "rate": (len(events) - 1) / span if span > 0 else 0.0,
        "p50_ms": latency["p50_ms"],
        "p99_ms": latency["p99_ms"],
    }


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced-rate", type=float, default=500.0)
    parser.add_argument(
        "--broker-autosave-interval-s", type=int, default=None,
        help="Mosquitto saves its database every N s instead of on every change (the shipped "
        "setting, which holds the broker near 2,000 msg/s here, below the hub it is to flood)",
    )  # fmt: skip
    args = parser.parse_args()
    hub_pw, kit_pw = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(
            Path(tmp) / "mosquitto",
            users=[
                BrokerUser("mehr-hub", hub_pw, hub_acl_rules()),
                BrokerUser(KIT, kit_pw, kit_acl_rules(HOME, KIT)),
            ],
            overrides=(
                {
                    "autosave_on_changes": "false",
                    "autosave_interval": str(args.broker_autosave_interval_s),
                }
                if args.broker_autosave_interval_s is not None
                else None
            ),
        )
        broker.start()
        try:
            bare: list[float] = []
            hubs: list[dict[str, float]] = []
            linked: list[dict[str, float]] = []
            for _ in range(args.rounds):
                bare.append(bare_subscriber_rate(broker, hub_pw, kit_pw, args.events))
                hubs.append(hub_run(broker, hub_pw, kit_pw, args.events, 0, Path(tmp)))
                linked.append(hub_run(broker, hub_pw, kit_pw, args.events, 0, Path(tmp), True))
            paced = hub_run(
                broker, hub_pw, kit_pw, int(args.paced_rate * 10), args.paced_rate, Path(tmp)
            )
            paced_linked = hub_run(
                broker, hub_pw, kit_pw, int(args.paced_rate * 10), args.paced_rate, Path(tmp),
                True,
            )  # fmt: skip
        finally:
            broker.stop()
    bare_med = statistics.median(bare)
    hub_med = statistics.median(h["rate"] for h in hubs)
    linked_med = statistics.median(h["rate"] for h in linked)
    result = {
        "events_per_round": args.events,
        "rounds": args.rounds,
        "bare_subscriber_msgs_per_s": [round(x) for x in bare],
        "hub_stored_events_per_s": [round(h["rate"]) for h in hubs],
        "hub_link_process_stored_events_per_s": [round(h["rate"]) for h in linked],
        "bare_median": round(bare_med),
        "hub_median": round(hub_med),
        "hub_link_process_median": round(linked_med),
        "hub_over_bare": round(hub_med / bare_med, 2),
        "hub_link_process_over_hub": round(linked_med / hub_med, 2),
        "flood_latency_ms_p50": round(statistics.median(h["p50_ms"] for h in hubs), 1),
        "flood_latency_ms_p99": round(statistics.median(h["p99_ms"] for h in hubs), 1),
        "all_stored": all(h["stored"] == args.events for h in hubs + linked),
        "paced_rate_per_s": args.paced_rate,
        "paced_latency_ms_p50": round(paced["p50_ms"], 1),
        "paced_latency_ms_p99": round(paced["p99_ms"], 1),
        "paced_link_process_latency_ms_p50": round(paced_linked["p50_ms"], 1),
        "paced_link_process_latency_ms_p99": round(paced_linked["p99_ms"], 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
