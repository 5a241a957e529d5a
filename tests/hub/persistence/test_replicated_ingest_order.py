"""Several hubs store the same events (replicated ingest), each batch in its own arrival order:
on PostgreSQL two batches holding one set of keys in opposite orders must not deadlock (found
by bench/capacity.py with 2 and 3 hubs: `deadlock detected`, the batch retried after PostgreSQL's
1 s deadlock check, publish->stored p99 0.8 s). Each event is stored once and each store's
returned ids still follow its own batch."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from hub.persistence.records import NewEvent
from hub.persistence.sqlite_store import SqlStore, open_store
from hub.registry import HomeSpec, KitSpec, SensorSpec
from mehr.contract import SensorKind
from tests.support.postgres import PostgresServer

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
KITS = 40
EVENTS_PER_KIT = 50


def _home(i: int) -> HomeSpec:
    sensors = [SensorSpec(id=f"pir-{s}", kind=SensorKind.MOTION, room="Oshxona") for s in range(3)]
    return HomeSpec(id=f"h{i:03d}", name=f"Uy {i}", kits=[KitSpec(id=f"k{i:03d}", sensors=sensors)])


def _events(round_no: int) -> list[NewEvent]:
    at = T0 + timedelta(minutes=round_no)
    return [
        NewEvent(
            home_id=f"h{k:03d}",
            kit_id=f"k{k:03d}",
            epoch=round_no + 1,
            seq=n + 1,
            sensor_id=f"pir-{n % 3}",
            kind="motion",
            value=n % 2 == 0,
            room="Oshxona",
            occurred_at=at + timedelta(seconds=n),
            received_at=at + timedelta(seconds=n),
        )
        for k in range(KITS)
        for n in range(EVENTS_PER_KIT)
    ]


def _race(
    hubs: list[SqlStore], orders: list[list[NewEvent]]
) -> tuple[list[list[int | None]], list[BaseException]]:
    """Each hub stores its order of the batch and commits, both starting at once."""
    results: list[list[int | None]] = [[] for _ in hubs]
    errors: list[BaseException] = []
    start = threading.Barrier(len(hubs))

    def store(j: int) -> None:
        try:
            start.wait()
            results[j] = hubs[j].store_events(orders[j], T0)
            hubs[j].commit()
        except BaseException as exc:  # reported by the test, with the other hub's outcome
            hubs[j].rollback()
            errors.append(exc)

    threads = [threading.Thread(target=store, args=(j,)) for j in range(len(hubs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def test_two_hubs_storing_one_batch_in_opposite_orders_store_each_event_once(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.fresh_database()
    setup = open_store(url)
    for i in range(KITS):
        setup.register_home(_home(i), T0)
    setup.close()
    hubs = [open_store(url), open_store(url)]
    try:
        for round_no in range(3):
            batch = _events(round_no)
            orders = [batch, batch[::-1]]  # the two hubs' queues delivered them differently
            results, errors = _race(hubs, orders)

            assert errors == []
            keys = [(e.kit_id, e.epoch, e.seq) for e in batch]
            won = [
                {(e.kit_id, e.epoch, e.seq) for e, i in zip(orders[j], results[j], strict=True)
                 if i is not None}
                for j in range(2)
            ]  # fmt: skip
            assert won[0].isdisjoint(won[1])
            assert won[0] | won[1] == set(keys)
            counted = hubs[0].count_events()
            assert counted == len(keys) * (round_no + 1)
    finally:
        for hub in hubs:
            hub.close()
