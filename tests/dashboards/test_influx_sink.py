"""The InfluxDB sink against a real InfluxDB v2 write API (victoria-metrics), read back."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import HubSettings
from hub.influx_sink import InfluxSettings, InfluxSink
from hub.service import Hub
from mehr.clock import ManualClock
from tests.dashboards.conftest import START, build_world

VM = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
pytestmark = pytest.mark.skipif(not Path(VM).exists(), reason="needs victoria-metrics")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[str]:
    """A victoria-metrics server on a free loopback port."""
    port = _port()
    proc = subprocess.Popen(
        [
            VM,
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={tmp_path / 'vm'}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=0.5)
            break
        except OSError:
            proc.poll()
            assert proc.returncode is None, "victoria-metrics exited"
            threading.Event().wait(0.05)  # the server is still starting: poll its health again
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _export(url: str, match: str) -> list[dict[str, object]]:
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=5)
    with urllib.request.urlopen(f"{url}/api/v1/export?match[]={match}&start=0", timeout=5) as r:
        return [json.loads(line) for line in r.read().decode().splitlines() if line]


def test_sink_writes_events_and_heartbeats_that_read_back(victoria: str, tmp_path: Path) -> None:
    """New events after start() arrive in InfluxDB (as victoria-metrics series) with their tags."""
    world = build_world(tmp_path, ManualClock(START))
    sink = InfluxSink(
        str(world.db_path),
        InfluxSettings(url=victoria, org="mehr", bucket="mehr", flush_interval_ms=100, poll_s=3600),
    )
    sink._last_event = 0  # replay everything seeded, to have data to read back
    sink._last_beat = 0.0
    handed = sink.poll_once()
    sink.stop()  # flushes the batching writer
    assert handed > 0
    assert sink.counts["written"] == handed and sink.counts["failed"] == 0
    series = _export(victoria, '{__name__="mehr_event_count",home="home-a"}')
    assert series, "nothing read back"
    total = sum(len(s["values"]) for s in series)  # type: ignore[arg-type]
    assert total > 100
    beats = _export(victoria, '{__name__="mehr_heartbeat_outbox_depth"}')
    assert {s["metric"]["kit"] for s in beats} == {"kit-a", "kit-b"}  # type: ignore[index]


def test_sink_counts_failures_when_influx_is_down(tmp_path: Path) -> None:
    """A dead server does not block poll_once; the points are counted as failed after retries."""
    world = build_world(tmp_path, ManualClock(START))
    sink = InfluxSink(
        str(world.db_path),
        InfluxSettings(
            url=f"http://127.0.0.1:{_port()}",
            org="o",
            bucket="b",
            flush_interval_ms=50,
            retry_interval_ms=50,  # give up quickly: the point is counting, not waiting
            max_retry_time_ms=500,
        ),
    )
    sink._last_event = 0
    handed = sink.poll_once()  # returns at once: writing happens in the batching thread
    assert handed > 0 and sink.pending() > 0
    sink.stop()
    assert sink.counts["written"] == 0
    assert sink.counts["failed"] == handed


def test_hub_starts_and_stops_the_sink_only_when_configured(victoria: str, tmp_path: Path) -> None:
    """Off by default; with influx_url set the hub's sink writes what the hub stored."""
    world = build_world(tmp_path, ManualClock(START))
    off = Hub(HubSettings(db_path=world.db_path, stats_port=0))
    off._start_influx()
    assert off.influx is None
    token = tmp_path / "influx.token"
    token.write_text("not-checked-by-victoria\n")
    hub = Hub(
        HubSettings(
            db_path=world.db_path,
            stats_port=0,
            influx_url=victoria,
            influx_bucket="mehr",
            influx_token_file=token,
        )
    )
    hub._start_influx()
    sink = hub.influx
    assert sink is not None and sink.settings.token == "not-checked-by-victoria"
    assert sink._thread is not None and sink._thread.is_alive()
    # Park the tailer thread and poll here, so the test does not wait on its timer.
    sink._stop.set()
    sink._thread.join(timeout=10)
    sink._last_event = 0  # replay the seeded events rather than wait for new ones
    handed = sink.poll_once()
    hub.stop()  # stops the sink too, which flushes it
    assert handed > 0 and sink.counts["written"] == handed
    assert _export(victoria, '{__name__="mehr_event_count",home="home-b"}')
