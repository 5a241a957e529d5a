"""Choose the clustered broker by measurement: loss, duplicates, msgs/s and failover per candidate.

For each candidate (NATS 2.9 with JetStream R3; RabbitMQ 3.10 with rabbitmq_mqtt and quorum
queues) this starts a 3-node cluster of our own processes on 127.0.0.1, with one broker user per
kit restricted to its own home's topics, and then, per scenario:

* a fleet of kits (one paho client per kit, each with its own user) publishes QoS 1 events at
  --rate events/s per kit (0: as fast as a window of 10 unacknowledged events allows),
  re-sending what was not acknowledged after a reconnect (as the kit firmware does), and
  reconnecting to the next node when its node dies or no PUBACK comes for 5 s;
* a hub-like subscriber with a persistent session (MQTT 3.1.1 clean_session=False; neither
  candidate speaks MQTT 5 here) acknowledges each message only after a simulated commit
  (paho manual ack), reconnecting to the next node when its node dies;
* one node is SIGKILLed once a third of the events arrived: the subscriber's node
  (`kill=subscriber`), or another node (`kill=other`), or none (`kill=none`).

Loss = events acknowledged to a kit that never reached the subscriber; duplicates = deliveries
beyond the first. Then: the ACL checks (another home's topic, another client's id), retained
availability and the last will across a node kill, and `$share` shared subscriptions.

    .venv/bin/python bench/broker_cluster.py --candidates nats,rabbitmq --homes 100 --events 100

prints one JSON line per candidate and scenario, one of checks per candidate, and a last
summary line. Bounded: every wait has a deadline (--budget per scenario, plus 60 s to settle).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mehr_app.services.broker_cluster import (
    ClusterUser,
    NatsCluster,
    RabbitCluster,
    hub_user,
    kit_user,
)
from mehr_app.services.cluster_fleet import HUB_CLIENT_ID, connect_any, new_client, run_fleet


class Cluster(Protocol):
    """What the measurement needs of a 3-node broker cluster."""

    @property
    def mqtt_addresses(self) -> list[tuple[str, int]]: ...

    def start(self, timeout: float = ...) -> None: ...

    def stop(self) -> None: ...

    def kill_index(self, index: int) -> None: ...

    def restart_index(self, index: int) -> None: ...


def run_scenario(
    candidate: str, kill: str, homes: int, events: int, budget_s: float, rate: float
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"mehr-{candidate}-"))
    hub = hub_user(secrets.token_hex(8))
    kits = {f"h{i:03d}": kit_user(f"h{i:03d}", "k1", secrets.token_hex(8)) for i in range(homes)}
    cluster: Cluster = (NatsCluster if candidate == "nats" else RabbitCluster)(
        workdir, [hub, *kits.values()]
    )
    t0 = time.monotonic()
    cluster.start()
    startup_s = time.monotonic() - t0
    try:
        r = run_fleet(
            cluster.mqtt_addresses,
            hub,
            kits,
            events,
            kill_node=None if kill == "none" else cluster.kill_index,
            kill_which=kill,
            budget_s=budget_s,
            rate_per_s=rate,
        )
        return {
            "candidate": candidate,
            "kill": kill,
            "homes": homes,
            "events": homes * events,
            "rate_per_kit": rate,
            "acked_to_kits": len(r.acked),
            "received_distinct": len(r.received),
            "lost_acked": len(r.lost),
            "duplicates": r.duplicates,
            "out_of_order_first_deliveries": r.out_of_order,
            "msgs_per_s": round(len(r.received) / max(1e-9, r.last_new - r.started), 1),
            "publish_s": round(r.publish_done - r.started, 2),
            "cluster_start_s": round(startup_s, 1),
            "killed_node": r.killed_index,
            "hub_reconnect_s": [round(x, 2) for x in r.hub_reconnects],
            "hub_first_message_after_kill_s": (
                round(r.hub_first_after_kill - r.killed_at, 2)
                if r.hub_first_after_kill is not None and r.killed_at is not None
                else None
            ),
            "kits_reconnects": len(r.kit_reconnects),
            "kits_unfinished": r.kits_unfinished,
            "kit_reconnect_median_s": (
                round(statistics.median(r.kit_reconnects), 2) if r.kit_reconnects else None
            ),
        }
    finally:
        cluster.stop()
        if not os.environ.get("MEHR_BENCH_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Security, retained availability + last will, shared subscriptions


def _collect(
    addresses: Sequence[tuple[str, int]],
    node: int,
    user: ClusterUser,
    client_id: str,
    topic: str,
    clean: bool = True,
    wait_s: float = 3.0,
) -> tuple[list[tuple[str, bytes, bool]], list[int]]:
    """Subscribe (QoS 1) through one node; return (topic, payload, retained) seen and SUBACK."""
    got: list[tuple[str, bytes, bool]] = []
    granted: list[int] = []
    c = new_client(client_id, user, clean=clean)

    def on_message(cl: mqtt.Client, u: Any, m: mqtt.MQTTMessage) -> None:
        got.append((m.topic, m.payload, bool(m.retain)))
        if not clean:
            cl.ack(m.mid, m.qos)

    c.on_message = on_message
    c.on_subscribe = lambda cl, u, mid, codes, p: granted.extend(
        int(getattr(x, "value", x)) for x in codes
    )
    connack: list[Any] = []
    c.on_connect = lambda cl, u, f, rc, p: connack.append(rc)
    host, port = addresses[node]
    c.connect(host, port, keepalive=5)
    c.loop_start()
    c.subscribe(topic, qos=1)
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        time.sleep(0.05)  # collecting what a real broker delivers in the window
    c.loop_stop()
    c.disconnect()
    if not connack or connack[0].is_failure:
        raise ConnectionRefusedError(f"CONNACK {connack[0] if connack else 'none'}")
    return got, granted


def run_checks(candidate: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"mehr-{candidate}-chk-"))
    hub = hub_user(secrets.token_hex(8))
    kit_a = kit_user("ha", "k1", secrets.token_hex(8))
    kit_b = kit_user("hb", "k1", secrets.token_hex(8))
    cluster: Cluster = (NatsCluster if candidate == "nats" else RabbitCluster)(
        workdir, [hub, kit_a, kit_b]
    )
    cluster.start()
    addr = cluster.mqtt_addresses
    result: dict[str, Any] = {"candidate": candidate, "checks": True}
    dead: set[int] = set()
    deadline = time.monotonic() + 120
    try:
        # Hub session exists (persistent) so that later messages queue for it.
        hub_c, _ = connect_any(
            lambda: new_client(HUB_CLIENT_ID, hub, clean=False), addr, 0, deadline, dead
        )
        hub_got: list[str] = []

        def hub_msg(c: mqtt.Client, u: Any, m: mqtt.MQTTMessage) -> None:
            hub_got.append(m.topic)
            c.ack(m.mid, m.qos)

        hub_c.on_message = hub_msg
        hub_c.subscribe("mehr/v1/homes/+/kits/+/events", qos=1)
        time.sleep(1.0)  # the subscription is being created in the real cluster

        # 1. Kit A publishes into home B's topic.
        a, _ = connect_any(
            lambda: new_client(kit_a.username, kit_a, clean=True), addr, 1, deadline, dead
        )
        info = a.publish("mehr/v1/homes/hb/kits/k1/events", b"forged", qos=1)
        info.wait_for_publish(3)
        result["foreign_publish_puback"] = info.is_published()
        result["foreign_publish_connected_after"] = a.is_connected()
        a.loop_stop()
        a.disconnect()
        # 2. Kit A subscribes to home B's commands and to everything.
        _, granted = _collect(
            addr, 1, kit_a, kit_a.username, "mehr/v1/homes/hb/kits/k1/commands", wait_s=1.5
        )
        result["foreign_subscribe_suback"] = granted
        _, granted_all = _collect(addr, 1, kit_a, kit_a.username, "mehr/v1/homes/#", wait_s=1.5)
        result["wildcard_subscribe_suback"] = granted_all
        time.sleep(1.0)
        result["hub_received_forged"] = sum(1 for t in hub_got if t.startswith("mehr/v1/homes/hb"))

        # 3. Kit A connects with the hub's client id and a persistent session.
        hub_c.loop_stop()
        hub_c.disconnect()
        b, _ = connect_any(
            lambda: new_client(kit_b.username, kit_b, clean=True), addr, 2, deadline, dead
        )
        for s in range(5):
            b.publish(
                "mehr/v1/homes/hb/kits/k1/events", json.dumps({"s": s}), qos=1
            ).wait_for_publish(3)
        b.loop_stop()
        b.disconnect()
        # Issue 10 finding 2: a clean-session connect with the hub's id wiped its queue.
        try:
            _, _ = _collect(
                addr,
                1,
                kit_a,
                HUB_CLIENT_ID,
                "mehr/v1/homes/ha/kits/k1/commands",
                clean=True,
                wait_s=2,
            )
            result["kit_with_hub_client_id_connected"] = True
        except Exception as exc:
            result["kit_with_hub_client_id_connected"] = f"refused: {exc}"
        back, _ = _collect(
            addr, 0, hub, HUB_CLIENT_ID, "mehr/v1/homes/+/kits/+/events", clean=False, wait_s=3
        )
        result["hub_queued_5_received_after_kit_used_its_id"] = len(back)
        # Kit A with kit B's client id while B is connected: is B knocked off?
        b_lost = threading.Event()
        b, _ = connect_any(
            lambda: new_client(kit_b.username, kit_b, clean=True), addr, 2, deadline, dead
        )
        b.on_disconnect = lambda *a: b_lost.set()
        with contextlib.suppress(Exception):
            _collect(
                addr, 1, kit_a, kit_b.username, "mehr/v1/homes/ha/kits/k1/commands", wait_s=1.5
            )
        result["kit_b_knocked_off_by_kit_a_using_its_id"] = b_lost.wait(2)
        b.loop_stop()
        b.disconnect()

        # 4. Retained availability and last will across a node kill.
        avail_a = "mehr/v1/homes/ha/kits/k1/availability"
        avail_b = "mehr/v1/homes/hb/kits/k1/availability"
        wa = new_client(kit_a.username, kit_a, clean=True)
        wa.will_set(avail_a, b"offline", qos=1, retain=True)
        wa.connect(*addr[0], keepalive=5)
        wa.loop_start()
        wa.publish(avail_a, b"online", qos=1, retain=True).wait_for_publish(5)
        wb = new_client(kit_b.username, kit_b, clean=True)
        wb.will_set(avail_b, b"offline", qos=1, retain=True)
        wb.connect(*addr[1], keepalive=5)
        wb.loop_start()
        wb.publish(avail_b, b"online", qos=1, retain=True).wait_for_publish(5)
        time.sleep(1.0)  # retained copies are being replicated by the real cluster
        cluster.kill_index(0)  # kit A's node dies: no one is left to publish A's will
        dead.add(0)
        time.sleep(2.0)
        # Kit B's link breaks uncleanly (power cut): its node (alive) must publish the will.
        sock = wb.socket()
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        wb.loop_stop()
        time.sleep(12.0)  # > 1.5 x keepalive: the broker's own detection of a dead link
        seen, _ = _collect(addr, 2, hub, "checker", "mehr/v1/homes/+/kits/+/availability", wait_s=3)
        retained = {t: p.decode() for t, p, r in seen if r}
        result["retained_after_kill"] = retained
        result["retained_online_of_killed_nodes_kit"] = retained.get(avail_a)
        result["will_of_unclean_kit_on_live_node"] = retained.get(avail_b)
        wa.loop_stop()
        cluster.restart_index(0)
        dead.discard(0)
        time.sleep(5.0)  # the restarted node is catching up with its peers
        try:
            seen0, _ = _collect(
                addr, 0, hub, "checker0", "mehr/v1/homes/+/kits/+/availability", wait_s=3
            )
            result["retained_on_restarted_node"] = {t: p.decode() for t, p, r in seen0 if r}
        except OSError as exc:
            result["retained_on_restarted_node"] = f"error: {exc}"

        # 5. Shared subscriptions: two hub workers on $share/g/...; 20 events of one home.
        shared: dict[str, list[int]] = {"w1": [], "w2": []}
        granted_share: dict[str, list[int]] = {}
        workers = []
        for name, node in (("w1", 1), ("w2", 2)):
            w = new_client(f"{HUB_CLIENT_ID}-{name}", hub, clean=True)
            w.on_message = lambda c, u, m, name=name: shared[name].append(
                json.loads(m.payload)["s"]
            )
            w.on_subscribe = lambda c, u, mid, codes, p, name=name: granted_share.setdefault(
                name, [int(getattr(x, "value", x)) for x in codes]
            )
            w.connect(*addr[node], keepalive=5)
            w.loop_start()
            w.subscribe("$share/hubs/mehr/v1/homes/+/kits/+/events", qos=1)
            workers.append(w)
        time.sleep(1.5)
        b, _ = connect_any(
            lambda: new_client(kit_b.username, kit_b, clean=True), addr, 1, deadline, dead
        )
        for s in range(20):
            b.publish(
                "mehr/v1/homes/hb/kits/k1/events", json.dumps({"s": s}), qos=1
            ).wait_for_publish(3)
        time.sleep(2.0)
        b.loop_stop()
        b.disconnect()
        for w in workers:
            w.loop_stop()
            w.disconnect()
        result["share_suback"] = granted_share
        result["share_delivered"] = {k: len(v) for k, v in shared.items()}
        return result
    finally:
        cluster.stop()
        if not os.environ.get("MEHR_BENCH_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", default="nats,rabbitmq")
    parser.add_argument("--scenarios", default="none,subscriber,other")
    parser.add_argument("--homes", type=int, default=100)
    parser.add_argument("--events", type=int, default=100, help="events per home")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per scenario")
    parser.add_argument(
        "--rate", type=float, default=5.0, help="events/s per kit (0: as fast as acknowledged)"
    )
    parser.add_argument("--no-checks", action="store_true")
    args = parser.parse_args(argv)
    summary: dict[str, dict[str, Any]] = {}
    for candidate in args.candidates.split(","):
        rows = []
        for kill in args.scenarios.split(","):
            row = run_scenario(candidate, kill, args.homes, args.events, args.budget, args.rate)
            rows.append(row)
            print(json.dumps(row), flush=True)
        if not args.no_checks:
            print(json.dumps(run_checks(candidate), default=str), flush=True)
        summary[candidate] = {
            "lost_acked": sum(r["lost_acked"] for r in rows),
            "least_acked_fraction": min(r["acked_to_kits"] / r["events"] for r in rows),
            "hub_first_message_after_kill_s": [
                r["hub_first_message_after_kill_s"] for r in rows if r["kill"] == "subscriber"
            ],
        }
    # The last line: one verdict per candidate, for a reader in a hurry.
    print(json.dumps({"broker_cluster": summary}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
