"""The several-hubs topology of the capacity benchmark (`bench/capacity.py --hubs K --database
postgresql --broker rabbitmq-cluster`): what differs from one hub on Mosquitto and SQLite.

- The database: a PostgreSQL server from the OS packages on a free loopback port, fsync on
  (mehr_app/services/postgres.py), one fresh database; the same homes and history rows as the
  SQLite preparation, written by COPY (bench/capacity_history.py), routines learned by the
  hub's own scanner on that database.
- The broker: the 3-node RabbitMQ cluster of bench/hubs_cluster.py (RabbitMQ 3.10,
  rabbitmq_mqtt, quorum-queue sessions; mehr_app/services/broker_cluster.py) with the hubs' user
  and one load user that may write every home's kit topics (the fleet publishes many homes per
  connection, as on Mosquitto), its connections dealt over the three nodes.
- The hubs: K `mehr hub` processes with the settings bench/hubs_cluster.py gives them
  (mehr_app/services/cluster_hubs.py: hub_id, leases, own node first and the others as
  fallbacks, MQTT 3.1.1), each with its own stats port.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.capacity_history import (
    HistorySpec,
    home_ids,
    load_fleet_homes_postgres,
    prelearn_routines,
)
from bench.db_query import query
from mehr_app.services.broker_cluster import (
    KIT_WRITES,
    ClusterUser,
    RabbitCluster,
    hub_user,
)
from mehr_app.services.cluster_hubs import (
    cluster_hub_settings,
    homes_per_hub,
    lease_holders,
)
from mehr_app.services.postgres import running_postgres

__all__ = [
    "LEASE_PARTITIONS",
    "Cluster",
    "cluster_hub_part",
    "database_bytes",
    "fleet_homes_per_hub",
    "max_event_id",
    "postgres_database",
    "prepare_postgres",
    "rabbit_cluster",
    "rabbit_log_counts",
    "wait_leases_shared",
]

LEASE_PARTITIONS = 64  # as bench/hubs_cluster.py and the shipped default


@dataclass(frozen=True)
class Cluster:
    """A running RabbitMQ cluster and the accounts the hubs and the load use on it."""

    rabbit: RabbitCluster
    hub: ClusterUser
    load: ClusterUser

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each node's MQTT listener."""
        return self.rabbit.mqtt_addresses


def load_user(password: str) -> ClusterUser:
    """Writes every home's kit topics (events, heartbeats, availability); reads nothing."""
    return ClusterUser(
        username="fleet-load",
        password=password,
        publish=tuple(f"mehr.v1.homes.*.kits.*.{kind}" for kind in KIT_WRITES),
        subscribe=(),
    )


@contextlib.contextmanager
def rabbit_cluster(workdir: Path) -> Iterator[Cluster]:
    """Start the 3-node cluster (stopped on the way out, also on a failure)."""
    hub = hub_user(secrets.token_urlsafe(16))
    load = load_user(secrets.token_urlsafe(16))
    rabbit = RabbitCluster(workdir / "rabbit", [hub, load])
    try:
        rabbit.start()
        rabbit.wait_ready()
        yield Cluster(rabbit, hub, load)
    finally:
        rabbit.stop()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on a PostgreSQL server of our own (fsync on, as in production)."""
    with running_postgres(fsync=True) as server:
        yield server.fresh_database()


def prepare_postgres(url: str, homes: int, end: datetime, spec: HistorySpec, workers: int) -> int:
    """Homes and history into the database, routines learned by the hub's scanner; rows."""
    rows = load_fleet_homes_postgres(url, homes, end, spec, workers=workers)
    prelearn_routines(url, end)
    return rows


def database_bytes(url: str) -> int:
    """The database's size on disk as PostgreSQL counts it."""
    return int(query(url, "SELECT pg_database_size(current_database())")[0][0])


def max_event_id(database: Path | str) -> int:
    """The highest event id stored so far (0 if none)."""
    return int(query(database, "SELECT COALESCE(MAX(id), 0) FROM events")[0][0])


def cluster_hub_part(index: int, cluster: Cluster, database: Path | str) -> dict[str, Any]:
    """Hub `index`'s broker, database and lease settings, as bench/hubs_cluster.py starts it."""
    return cluster_hub_settings(
        index, cluster.addresses, cluster.hub.username, cluster.hub.password, database,
        partitions=LEASE_PARTITIONS,
    )  # fmt: skip


def rabbit_log_counts(rabbit_dir: Path) -> dict[str, int]:
    """What the nodes' logs say: publishes the broker refused (`basic.nack`, on which RabbitMQ
    3.10's MQTT processor crashes: docs/benchmarks.md) and error reports (a report spans many
    `[error]` lines with one time stamp and process)."""
    nacks = 0
    reports: set[str] = set()
    for log in rabbit_dir.glob("r*/log/*.log"):
        with log.open(errors="replace") as lines:
            for line in lines:
                nacks += "basic.nack" in line
                if " [error] " in line:
                    stamp, rest = line.split(" [error] ", 1)
                    reports.add(f"{log.name} {stamp} {rest.split(' ', 1)[0]}")
    return {"broker_drop_warnings": nacks, "broker_error_reports": len(reports)}


def wait_leases_shared(database: Path | str, hubs: int, timeout_s: float) -> None:
    """Wait until every partition is held and each of the `hubs` hubs holds some."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        holders = lease_holders(database)
        if len(holders) == LEASE_PARTITIONS and len(set(holders.values())) == hubs:
            return
        time.sleep(0.5)  # the hubs renew their leases every few seconds
    raise TimeoutError(f"the {hubs} hubs did not share the partitions within {timeout_s:.0f} s")


def fleet_homes_per_hub(database: Path | str, homes: int) -> dict[str, int]:
    """Hub id -> fleet homes whose partition it holds now (from the leases)."""
    return homes_per_hub(
        lease_holders(database), (home_ids(i)[0] for i in range(homes)), LEASE_PARTITIONS
    )
