"""Hostile payloads for every kit topic through the real Ingestor and a real SQLite file:
nothing invalid is stored, every message gets an outcome, and valid events still go in."""

from __future__ import annotations

import json
import random
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.ingest import Ingestor, Outcome, RawMessage, TimeLimits
from hub.persistence.sqlite_store import SqliteStore
from hub.stats import HubStats
from mehr.clock import ManualClock
from mehr.contract import SensorKind, TopicKind, encode, make_event, parse_message, topic_for
from simulators.hostile import HOSTILE_TOPIC_KINDS, hostile_payload, wire_time
from tests.hub.factories import T0, home_spec

LIMITS = TimeLimits()


def _stored_rows_revalidate(store: SqliteStore) -> int:
    """Re-read every stored event and kit state and put each back through the contract."""
    events = store.events()
    for ev in events:
        assert T0 - timedelta(seconds=LIMITS.max_age_s) <= ev.occurred_at
        assert ev.occurred_at <= T0 + timedelta(seconds=LIMITS.max_ahead_s)
        body: dict[str, Any] = {
            "v": 1, "kit": ev.kit_id, "epoch": ev.epoch, "seq": ev.seq,
            "sensor": ev.sensor_id, "kind": ev.kind, "ts": wire_time(ev.occurred_at),
        }  # fmt: skip
        if ev.kind == "accel_window":
            body.update(ev.value)
            topic = topic_for(ev.home_id, ev.kit_id, TopicKind.ACCEL)
        else:
            body["value"] = ev.value
            topic = topic_for(ev.home_id, ev.kit_id, TopicKind.EVENTS)
        parse_message(topic, json.dumps(body).encode())  # raises if anything invalid was stored
    for kit in store.kits():
        if kit.last_heartbeat is not None:
            body = {k: v for k, v in kit.last_heartbeat.items() if k != "hub_offset_s"}
            topic = topic_for(kit.home_id, kit.id, TopicKind.HEARTBEAT)
            parse_message(topic, json.dumps(body).encode())
            assert abs(kit.last_heartbeat["hub_offset_s"]) <= LIMITS.max_ahead_s
    return len(events)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False), size=st.integers(min_value=1, max_value=40))
def test_nothing_invalid_is_stored_and_valid_events_still_are(
    rng: random.Random, size: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "hub.db", synchronous="NORMAL")
        store.register_home(home_spec("home-1", "kit-1"), T0)
        ingestor = Ingestor(store, ManualClock(T0), HubStats(), time_limits=LIMITS)
        batch: list[RawMessage] = []
        valid_seqs = []
        for i in range(size):
            kind = rng.choice(HOSTILE_TOPIC_KINDS)
            _, payload = hostile_payload(kind, "kit-1", 10_000 + i, T0, rng)
            batch.append(RawMessage(topic_for("home-1", "kit-1", kind), payload, T0))
            if rng.random() < 0.3:  # valid events interleaved, on their own epoch
                valid_seqs.append(i + 1)
                event = make_event(
                    kit="kit-1", epoch=2, seq=i + 1, sensor="pir-kitchen",
                    kind=SensorKind.MOTION, value=True, ts=T0,
                )  # fmt: skip
                batch.append(
                    RawMessage(topic_for("home-1", "kit-1", TopicKind.EVENTS), encode(event), T0)
                )
        result = ingestor.process_batch(batch)
        assert len(result.outcomes) == len(batch)
        rejected = sum(1 for o, _ in result.outcomes if o is Outcome.REJECTED)
        assert ingestor.stats.rejected() == rejected
        _stored_rows_revalidate(store)
        stored_valid = [e.seq for e in store.events() if e.epoch == 2]
        assert stored_valid == valid_seqs  # hostile neighbours never cost a valid event
        store.close()
