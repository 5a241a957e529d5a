"""The clustered broker (3 RabbitMQ nodes, MQTT sessions in quorum queues) loses nothing it
acknowledged to a kit when a node is SIGKILLed."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from mehr_app.services.broker_cluster import RABBITMQ_SERVER, RabbitCluster, hub_user, kit_user
from mehr_app.services.cluster_fleet import run_fleet

pytestmark = [
    pytest.mark.slow,
    pytest.mark.cluster,
    pytest.mark.skipif(
        not Path(RABBITMQ_SERVER).exists(),
        reason="rabbitmq-server is not installed (make system-deps)",
    ),
]

HOMES = 20
EVENTS_PER_HOME = 50


@pytest.fixture
def fleet_cluster(tmp_path: Path) -> Iterator[tuple[RabbitCluster, dict[str, object]]]:
    hub = hub_user(secrets.token_hex(8))
    kits = {f"h{i:02d}": kit_user(f"h{i:02d}", "k1", secrets.token_hex(8)) for i in range(HOMES)}
    cluster = RabbitCluster(tmp_path / "rabbitmq", [hub, *kits.values()])
    cluster.start(timeout=120)
    try:
        yield cluster, {"hub": hub, "kits": kits}
    finally:
        cluster.stop()


def test_no_event_acknowledged_to_a_kit_is_lost_when_the_hubs_broker_node_is_sigkilled(
    fleet_cluster: tuple[RabbitCluster, dict[str, object]],
) -> None:
    cluster, users = fleet_cluster
    hub = users["hub"]
    kits = users["kits"]
    assert isinstance(kits, dict)

    result = run_fleet(
        cluster.mqtt_addresses,
        hub,  # type: ignore[arg-type]
        kits,
        EVENTS_PER_HOME,
        kill_node=cluster.kill_index,
        kill_which="subscriber",
        budget_s=45,
        settle_s=20,
        # 5 events/s per kit: 10 s of traffic, so the kill lands mid-stream (at a third).
        rate_per_s=5,
    )

    assert result.killed_index is not None
    assert not cluster.node_alive(result.killed_index)
    # The hub lost its node and came back through another one, with its session.
    assert result.hub_reconnects, "the hub never noticed its node die"
    # The kill happened with a third of the events through: many were acknowledged after it.
    assert len(result.acked) > HOMES * EVENTS_PER_HOME // 2
    assert sorted(result.lost) == []
    # Every kit found a surviving node and got all its events acknowledged.
    assert result.kits_unfinished == 0, f"{result.kits_unfinished} kits never finished"
