"""Several `mehr hub` processes on one database and a broker cluster, for the benchmarks.

One place for what bench/hubs_cluster.py and bench/capacity.py (`--hubs K`) both need: the
settings each hub of a cluster is started with (its own hub_id and persistent session, its
own broker node first and the others as fallbacks, MQTT 3.1.1, one shared database), and who
holds which partition, read from the leases as an operator would.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hub.coordination import partition_of
from hub.persistence.database import open_connection
from hub.persistence.leases import leases

__all__ = [
    "cluster_hub_settings",
    "homes_per_hub",
    "lease_holders",
]


def cluster_hub_settings(
    index: int,
    nodes: list[tuple[str, int]],
    username: str,
    password: str,
    database: Path | str,
    *,
    partitions: int = 64,
    ttl_s: float = 15.0,
    renew_s: float = 5.0,
) -> dict[str, Any]:
    """The cluster part of hub `index`'s config: node index % len(nodes) first, the others
    after it as fallbacks; `database` a SQLite file (Path) or a postgresql:// URL (str)."""
    urls = [f"mqtt://{host}:{port}" for host, port in nodes]
    first = index % len(urls)
    return {
        "mqtt_url": urls[first],
        "mqtt_fallback_urls": urls[first + 1 :] + urls[:first],
        "mqtt_username": username,
        "mqtt_password": password,
        # RabbitMQ 3.10's MQTT plugin speaks 3.1.1 only.
        "mqtt_protocol": "3.1.1",
        **({"database_url": database} if isinstance(database, str) else {"db_path": str(database)}),
        "hub_id": f"hub-{index}",
        "lease_partitions": partitions,
        "lease_ttl_s": ttl_s,
        "lease_renew_s": renew_s,
    }


def lease_holders(db: Path | str, now: float | None = None) -> dict[int, str]:
    """Partition -> the hub whose lease on it has not expired at `now` (Unix time; default the
    clock), read through the persistence layer's `leases` (a SQLite file or a URL)."""
    at = time.time() if now is None else now
    conn = open_connection(db)
    try:
        held = leases(conn)
    finally:
        conn.close()
    return {lease.partition: lease.holder for lease in held if lease.expires_at.timestamp() > at}


def homes_per_hub(holders: dict[int, str], homes: Iterable[str], partitions: int) -> dict[str, int]:
    """Hub id -> how many of `homes` fall in partitions it holds ("none": held by nobody)."""
    count = Counter(holders.get(partition_of(h, partitions), "none") for h in homes)
    return {hub_id: count[hub_id] for hub_id in sorted(count)}
