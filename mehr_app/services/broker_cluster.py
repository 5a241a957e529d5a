"""Real 3-node MQTT broker clusters on loopback, with one broker user per kit.

`RabbitCluster` is the clustered broker chosen for Mehr (docs/scale.md, "Choosing the clustered
broker"): three rabbitmq-server nodes with rabbitmq_mqtt, persistent MQTT sessions in quorum
queues. `NatsCluster` (three nats-server nodes, JetStream R3, MQTT on each) is the candidate
that was measured against it and is kept so the comparison can be re-run.

Each node is a process of our own in a temporary directory, on free 127.0.0.1 ports. Kits and
the hub get the same rules as the Mosquitto ACL (hub/broker_auth.py), written once as NATS-style
subjects (`ClusterUser`): the MQTT topic `mehr/v1/homes/h/kits/k/events` is the subject / AMQP
routing key `mehr.v1.homes.h.kits.k.events` inside either broker.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mehr_app.services.ports import free_port

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"

# The topic kinds a kit may publish (as in hub/broker_auth.kit_acl_rules) and the one it reads.
KIT_WRITES = ("events", "urgent", "accel", "heartbeat", "availability")
KIT_READS = ("commands",)
ACCOUNT = "MEHR"


@dataclass(frozen=True, slots=True)
class ClusterUser:
    """One broker account, with NATS subjects it may publish and subscribe to."""

    username: str
    password: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def kit_user(home_id: str, kit_id: str, password: str) -> ClusterUser:
    """A kit: publish only its own home's kit topics, subscribe only to its own commands."""
    base = f"mehr.v1.homes.{home_id}.kits.{kit_id}"
    return ClusterUser(
        username=f"kit-{home_id}-{kit_id}",
        password=password,
        publish=tuple(f"{base}.{kind}" for kind in KIT_WRITES),
        subscribe=tuple(f"{base}.{kind}" for kind in KIT_READS),
    )


def hub_user(password: str, username: str = "hub") -> ClusterUser:
    """The hub: read every kit topic, send commands to any kit."""
    return ClusterUser(
        username=username,
        password=password,
        publish=("mehr.v1.homes.*.kits.*.commands",),
        subscribe=("mehr.v1.homes.>",),
    )


@dataclass(slots=True)
class NatsNode:
    """One nats-server process of the cluster."""

    name: str
    client_port: int
    cluster_port: int
    mqtt_port: int
    monitor_port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class NatsCluster:
    """Three nats-server nodes in one cluster with JetStream (R3) and MQTT on each."""

    def __init__(self, workdir: Path, users: Iterable[ClusterUser], size: int = 3) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.users = list(users)
        self.nodes = [
            NatsNode(
                name=f"n{i + 1}",
                client_port=free_port(),
                cluster_port=free_port(),
                mqtt_port=free_port(),
                monitor_port=free_port(),
                workdir=workdir / f"n{i + 1}",
            )
            for i in range(size)
        ]

    @property
    def mqtt_addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each node's MQTT listener, in node order."""
        return [("127.0.0.1", node.mqtt_port) for node in self.nodes]

    def _users_conf(self) -> str:
        entries = []
        for user in self.users:
            entries.append(
                {
                    "user": user.username,
                    "password": user.password,
                    "permissions": {
                        "publish": {"allow": list(user.publish)},
                        # QoS 1 deliveries reach an MQTT client through a JetStream consumer
                        # whose deliver subject is $MQTT.sub.<random>; without it no QoS 1
                        # subscription can be made.
                        "subscribe": {"allow": [*user.subscribe, "$MQTT.sub.>"]},
                    },
                    # MQTT only: with a plain NATS connection, "$MQTT.sub.>" would let a kit
                    # read the deliveries of every other client.
                    "allowed_connection_types": ["MQTT"],
                }
            )
        # NATS configuration accepts JSON values.
        return json.dumps(entries)

    def _write_config(self, node: NatsNode) -> Path:
        node.workdir.mkdir(parents=True, exist_ok=True)
        routes = ", ".join(
            f'"nats-route://127.0.0.1:{other.cluster_port}"'
            for other in self.nodes
            if other is not node
        )
        conf = node.workdir / "nats.conf"
        conf.write_text(
            f"""server_name: {node.name}
host: 127.0.0.1
port: {node.client_port}
http: "127.0.0.1:{node.monitor_port}"
log_file: "{node.workdir}/nats.log"
jetstream {{
  store_dir: "{node.workdir}/js"
  max_memory_store: 256MB
  max_file_store: 2GB
}}
cluster {{
  name: mehr
  host: 127.0.0.1
  port: {node.cluster_port}
  routes: [{routes}]
}}
mqtt {{
  host: 127.0.0.1
  port: {node.mqtt_port}
  # Redeliver to the hub what it has not acknowledged (its database commit failed or it died).
  ack_wait: "30s"
  max_ack_pending: 1000
  # Sessions, retained messages and QoS 1 messages are replicated to all three nodes.
  stream_replicas: 3
}}
accounts {{
  {ACCOUNT}: {{
    jetstream: enabled
    users: {self._users_conf()}
  }}
}}
"""
        )
        return conf

    def start(self, timeout: float = 30.0) -> None:
        """Start every node and wait until the cluster's MQTT listeners accept work."""
        for node in self.nodes:
            self.start_node(node, wait=False)
        for node in self.nodes:
            self._wait_listening(node, timeout)
        self.wait_ready(timeout)

    def start_node(self, node: NatsNode, wait: bool = True) -> None:
        """(Re)start one node on its own ports and store directory."""
        conf = self._write_config(node)
        node.proc = subprocess.Popen(
            [NATS_SERVER, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if wait:
            self._wait_listening(node, 30.0)

    def _wait_listening(self, node: NatsNode, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                log = (node.workdir / "nats.log").read_text(errors="replace")[-4000:]
                raise RuntimeError(f"nats-server {node.name} exited: {log}")
            try:
                with socket.create_connection(("127.0.0.1", node.mqtt_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)  # waiting for a real process to listen
        raise RuntimeError(f"nats-server {node.name} did not listen within {timeout} s")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until an MQTT client can connect and subscribe at QoS 1 through each node.

        The MQTT listener opens before JetStream has a meta leader; a QoS 1 subscription
        needs the streams, so this is the real readiness check.
        """
        hub = next((u for u in self.users if "mehr.v1.homes.>" in u.subscribe), None)
        if hub is None:
            return
        deadline = time.monotonic() + timeout
        for host, port in self.mqtt_addresses:
            while not _qos1_subscription_granted(host, port, hub):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"NATS MQTT on port {port} not ready within {timeout} s")
                time.sleep(0.2)  # JetStream is electing leaders in the real servers

    def kill(self, node: NatsNode) -> None:
        """SIGKILL one node: no goodbye to clients or peers, as a power cut."""
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(timeout=10)

    def kill_index(self, index: int) -> None:
        """SIGKILL the node at `index` (node order = mqtt_addresses order)."""
        self.kill(self.nodes[index])

    def restart_index(self, index: int) -> None:
        """Start the node at `index` again on its ports and store."""
        self.start_node(self.nodes[index])

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL if it lingers)."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()
        for node in self.nodes:
            if node.proc is not None:
                try:
                    node.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(timeout=10)
            node.proc = None


def _qos1_subscription_granted(host: str, port: int, user: ClusterUser) -> bool:
    """Connect as `user`, subscribe at QoS 1 and say whether the broker granted it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    granted: list[int] = []

    def on_subscribe(c: mqtt.Client, u: object, mid: int, codes: list[Any], p: object) -> None:
        granted.extend(int(getattr(code, "value", code)) for code in codes)

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"ready-{port}",
        protocol=mqtt.MQTTv311,
        clean_session=True,
    )
    client.username_pw_set(user.username, user.password)
    client.on_subscribe = on_subscribe
    try:
        client.connect(host, port, keepalive=10)
        client.subscribe("mehr/v1/homes/ready/#", qos=1)
        end = time.monotonic() + 5
        while not granted and time.monotonic() < end:
            client.loop(0.1)
        client.disconnect()
    except OSError:
        return False
    return bool(granted) and granted[0] < 0x80


# ---------------------------------------------------------------------------------------------
# RabbitMQ 3.10 with rabbitmq_mqtt: the MQTT topic a/b/c is the routing key a.b.c on amq.topic,
# so the same subject patterns become topic-permission regexes.

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


def rabbit_password_hash(password: str) -> str:
    """rabbit_password_hashing_sha256: base64(salt4 + sha256(salt4 + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _subject_regex(subject: str) -> str:
    """A NATS-style subject pattern as a regex over AMQP routing keys (same dots)."""
    return subject.replace(".", r"\.").replace("*", r"[^.]+").replace(">", ".*")


@dataclass(slots=True)
class RabbitNode:
    """One Erlang node of the RabbitMQ cluster."""

    name: str
    amqp_port: int
    dist_port: int
    mqtt_port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None


class RabbitCluster:
    """Three rabbitmq-server nodes (rabbitmq_mqtt, quorum queues) on loopback.

    Clustered at first boot by classic_config peer discovery; their own epmd port and Erlang
    cookie, so nothing else on the machine is joined. Users, vhost permissions and topic
    permissions come from a definitions file loaded at boot (one rabbitmqctl call per user
    would take a second each).
    """

    def __init__(
        self, workdir: Path, users: Iterable[ClusterUser], session_queue_type: str = "quorum"
    ) -> None:
        # "quorum": persistent sessions replicated on all three nodes (Raft); "classic" (the
        # plugin's default) keeps a session's queue on one node only, kept here to show why not.
        self.session_queue_type = session_queue_type
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.users = list(users)
        self.epmd_port = free_port()
        self.cookie = secrets.token_hex(16)
        self.nodes = [
            RabbitNode(
                name=f"mehr{i + 1}@localhost",
                amqp_port=free_port(),
                dist_port=free_port(),
                mqtt_port=free_port(),
                workdir=workdir / f"r{i + 1}",
            )
            for i in range(3)
        ]
        self.vhost_restarts: list[str] = []
        (workdir / ".erlang.cookie").write_text(self.cookie)
        os.chmod(workdir / ".erlang.cookie", 0o400)

    @property
    def mqtt_addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", node.mqtt_port) for node in self.nodes]

    def _env(self, node: RabbitNode) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            HOME=str(self.workdir),
            ERL_EPMD_PORT=str(self.epmd_port),
            RABBITMQ_NODENAME=node.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(node.amqp_port),
            RABBITMQ_DIST_PORT=str(node.dist_port),
            RABBITMQ_MNESIA_BASE=str(node.workdir / "mnesia"),
            RABBITMQ_LOG_BASE=str(node.workdir / "log"),
            RABBITMQ_CONFIG_FILE=str(node.workdir / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(node.workdir / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(node.workdir / "pid"),
        )
        return env

    def _definitions(self) -> Path:
        users = []
        permissions = []
        topic_permissions = []
        for user in self.users:
            users.append(
                {
                    "name": user.username,
                    "password_hash": rabbit_password_hash(user.password),
                    "hashing_algorithm": "rabbit_password_hashing_sha256",
                    "tags": [],
                }
            )
            # A user may only declare, bind and read its own session queue (client id = user).
            own_queue = rf"^mqtt-subscription-{user.username}qos[01]$"
            if user.username.startswith("kit-"):
                configure = own_queue
                rw = rf"^(amq\.topic|mqtt-subscription-{user.username}qos[01])$"
            else:
                configure = r"^mqtt-subscription-.*"
                rw = r"^(amq\.topic|mqtt-subscription-.*)$"
            permissions.append(
                {
                    "user": user.username,
                    "vhost": "/",
                    "configure": configure,
                    "write": rw,
                    "read": rw,
                }
            )
            topic_permissions.append(
                {
                    "user": user.username,
                    "vhost": "/",
                    "exchange": "amq.topic",
                    "write": "^(" + "|".join(_subject_regex(s) for s in user.publish) + ")$",
                    "read": "^(" + "|".join(_subject_regex(s) for s in user.subscribe) + ")$",
                }
            )
        defs = {
            "users": users,
            "vhosts": [{"name": "/"}],
            "permissions": permissions,
            "topic_permissions": topic_permissions,
        }
        path = self.workdir / "definitions.json"
        path.write_text(json.dumps(defs))
        return path

    def start(self, timeout: float = 180.0) -> None:
        defs = self._definitions()
        peers = "\n".join(
            f"cluster_formation.classic_config.nodes.{i + 1} = {n.name}"
            for i, n in enumerate(self.nodes)
        )
        for node in self.nodes:
            node.workdir.mkdir(parents=True, exist_ok=True)
            (node.workdir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
            (node.workdir / "rabbitmq.conf").write_text(
                f"""listeners.tcp.default = 127.0.0.1:{node.amqp_port}
mqtt.listeners.tcp.default = 127.0.0.1:{node.mqtt_port}
mqtt.allow_anonymous = false
mqtt.vhost = /
mqtt.exchange = amq.topic
mqtt.durable_queue_type = {self.session_queue_type}
mqtt.prefetch = 1000
load_definitions = {defs}
cluster_formation.peer_discovery_backend = classic_config
{peers}
loopback_users = none
log.file.level = warning
"""
            )
        for node in self.nodes:
            self._spawn(node)
        for node in self.nodes:
            self._wait_listening(node, timeout)
        self._wait_clustered(timeout)

    def wait_ready(self, timeout: float = 120.0, restart_vhost_after_s: float = 20.0) -> None:
        """Wait until an MQTT client can connect and subscribe at QoS 1 through each node.

        A node's MQTT listener accepts TCP before its MQTT service answers CONNECT: measured
        with the capacity benchmark, a hub started then was refused with "Server unavailable"
        and, as for any refusal at start, stopped. Worse, a node that lost the boot-time race
        of peer discovery (`Could not auto-cluster ...: {error,tables_not_present}` in its log)
        can keep its vhost down for good, refusing every CONNECT with `vhost_is_down`: after
        `restart_vhost_after_s` its vhost is restarted once (`rabbitmqctl restart_vhost`, the
        operator's remedy; measured: the node served MQTT at once), and `vhost_restarts` says
        on which nodes.
        """
        hub = next((u for u in self.users if "mehr.v1.homes.>" in u.subscribe), None)
        if hub is None:
            return
        deadline = time.monotonic() + timeout
        for node, (host, port) in zip(self.nodes, self.mqtt_addresses, strict=True):
            restart_at = time.monotonic() + restart_vhost_after_s
            restarted = False
            while not _qos1_subscription_granted(host, port, hub):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"RabbitMQ MQTT on port {port} not ready within {timeout} s")
                if not restarted and time.monotonic() > restart_at:
                    self.restart_vhost(node)
                    restarted = True
                time.sleep(0.5)  # the node is still starting its MQTT service

    def restart_vhost(self, node: RabbitNode) -> None:
        """Restart the vhost "/" on one node (its queues and message stores there)."""
        subprocess.run(
            [RABBITMQCTL, "-n", node.name, "restart_vhost", "-p", "/"],
            env=self._env(node),
            capture_output=True,
            timeout=60,
            check=False,
        )
        self.vhost_restarts.append(node.name)

    def _spawn(self, node: RabbitNode) -> None:
        log = open(node.workdir / "stdout.log", "ab")  # noqa: SIM115 - the child owns it
        node.proc = subprocess.Popen(
            [RABBITMQ_SERVER],
            env=self._env(node),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait_listening(self, node: RabbitNode, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                tail = (node.workdir / "stdout.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"rabbitmq {node.name} exited: {tail}")
            try:
                with socket.create_connection(("127.0.0.1", node.mqtt_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.2)  # waiting for a real Erlang node to boot
        raise RuntimeError(f"rabbitmq {node.name} did not listen within {timeout} s")

    def _wait_clustered(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = subprocess.run(
                [
                    RABBITMQCTL,
                    "-n",
                    self.nodes[0].name,
                    "cluster_status",
                    "--formatter",
                    "json",
                ],
                env=self._env(self.nodes[0]),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            try:
                running = json.loads(out.stdout).get("running_nodes", [])
            except json.JSONDecodeError:
                running = []
            if len(running) == len(self.nodes):
                return
            time.sleep(1)  # the nodes are still joining
        raise RuntimeError("rabbitmq nodes did not form a 3-node cluster in time")

    def kill_index(self, index: int) -> None:
        """SIGKILL the node's Erlang VM (the whole process group: the script and beam)."""
        node = self.nodes[index]
        if node.proc is not None and node.proc.poll() is None:
            os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait(timeout=10)

    def node_alive(self, index: int) -> bool:
        proc = self.nodes[index].proc
        return proc is not None and proc.poll() is None

    def restart_index(self, index: int) -> None:
        node = self.nodes[index]
        self._spawn(node)
        self._wait_listening(node, 120)

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                os.killpg(node.proc.pid, signal.SIGTERM)
        for node in self.nodes:
            if node.proc is not None:
                try:
                    node.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(node.proc.pid, signal.SIGKILL)
                    node.proc.wait(timeout=10)
            node.proc = None
        # epmd of our own port outlives the nodes: end it by its port, not by name.
        subprocess.run(
            ["epmd", "-port", str(self.epmd_port), "-kill"],
            capture_output=True,
            timeout=10,
            check=False,
        )
