"""The installer sees each kit's clock offset, measured by the hub from its heartbeats, before
the hub starts refusing its events for a clock far ahead."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient

from dashboards.i18n import translator
from hub.ingest import Ingestor, RawMessage
from hub.persistence.sqlite_store import SqliteStore
from hub.stats import HubStats
from mehr.contract import TopicKind, topic_for
from simulators.hostile import wire_time
from tests.dashboards.conftest import World


def test_the_installer_page_shows_the_kit_clock_offset_from_its_heartbeat(
    world: World, clients: dict[str, TestClient]
) -> None:
    now = world.clock.now()
    beat = {
        "v": 1, "kit": "kit-a", "ts": wire_time(now + timedelta(seconds=95)), "uptime_s": 60.0,
        "outbox_depth": 0, "dropped": 0, "clock_offset_s": 94.5,
    }  # fmt: skip
    store = SqliteStore(world.db_path)
    topic = topic_for("home-a", "kit-a", TopicKind.HEARTBEAT)
    Ingestor(store, world.clock, HubStats()).process_batch(
        [RawMessage(topic, json.dumps(beat).encode(), now)]
    )
    store.close()
    kit = clients["installer-a"].get("/api/v1/kits/kit-a").json()
    assert (kit["clock_offset_s"], kit["ntp_offset_s"]) == (95.0, 94.5)
    page = clients["installer-a"].get("/installer").text
    assert "+95.0 s" in page and "(NTP +94.5 s)" in page
    assert "clock offset" in page
    assert [translator(lang)("clock_offset") for lang in ("uz", "ru")] == [
        "soat farqi", "расхождение часов",
    ]  # fmt: skip
