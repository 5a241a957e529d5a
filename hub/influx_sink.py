"""Optional InfluxDB sink: events, heartbeats and detector scores as series, never blocking ingest.

A tailer thread reads what ingest committed (events by id, kits by heartbeat time, alerts with
detector evidence) and hands points to influxdb-client's batching write API, which buffers and
flushes in its own thread. Ingest never waits: a slow or dead InfluxDB only grows counted
buffers, and failed batches are counted, not retried forever.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import influxdb_client as _influx

from hub.persistence import outbox
from hub.persistence.connection import Connection
from hub.persistence.database import DatabaseUrl, open_connection

# influxdb-client is only partly typed; treat its classes as Any rather than scatter ignores.
_client_lib: Any = _influx
InfluxDBClient: Any = _client_lib.InfluxDBClient
Point: Any = _client_lib.Point
WriteOptions: Any = _client_lib.WriteOptions
WritePrecision: Any = _client_lib.WritePrecision

__all__ = ["InfluxSettings", "InfluxSink"]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    """Where to write and how to batch."""

    url: str
    org: str
    bucket: str
    token: str = ""
    batch_size: int = 500
    flush_interval_ms: int = 1000
    poll_s: float = 1.0
    retry_interval_ms: int = 1000
    max_retries: int = 2
    max_retry_time_ms: int = 10_000


class InfluxSink:
    """Tails the hub's database into InfluxDB; start() and stop()."""

    def __init__(self, db_path: DatabaseUrl | str | Path, settings: InfluxSettings) -> None:
        self.db_path = db_path  # a SQLite file or a database URL
        self.settings = settings
        self._lock = threading.Lock()
        self.counts = {"queued": 0, "written": 0, "failed": 0, "retried": 0}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = InfluxDBClient(url=settings.url, token=settings.token, org=settings.org)
        self._write = self._client.write_api(
            write_options=WriteOptions(
                batch_size=settings.batch_size,
                flush_interval=settings.flush_interval_ms,
                retry_interval=settings.retry_interval_ms,
                max_retries=settings.max_retries,
                max_retry_time=settings.max_retry_time_ms,
            ),
            success_callback=self._ok,
            error_callback=self._failed,
            retry_callback=self._retry,
        )
        self._last_event = 0
        self._last_beat = 0.0
        self._last_alert = 0

    # -- callbacks run in the write API's thread -------------------------------------------------

    @staticmethod
    def _lines(data: Any) -> int:
        text = data.decode() if isinstance(data, bytes) else str(data)
        return text.count("\n") + 1 if text else 0

    def _ok(self, conf: Any, data: Any) -> None:
        with self._lock:
            self.counts["written"] += self._lines(data)

    def _failed(self, conf: Any, data: Any, exc: Exception) -> None:
        with self._lock:
            self.counts["failed"] += self._lines(data)
        _LOGGER.warning("influx: a batch failed: %s", exc)

    def _retry(self, conf: Any, data: Any, exc: Exception) -> None:
        with self._lock:
            self.counts["retried"] += 1

    def pending(self) -> int:
        """Points handed over but not yet written or failed (the buffer's depth)."""
        with self._lock:
            return self.counts["queued"] - self.counts["written"] - self.counts["failed"]

    # -- tailing ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start tailing from the current end of the database (history is not replayed)."""
        conn = self._connect()
        try:
            position = outbox.tail_position(conn)
        finally:
            conn.close()
        self._last_event = position.last_event_id
        self._last_alert = position.last_alert_id
        self._last_beat = position.last_heartbeat_s
        self._thread = threading.Thread(target=self._run, name="hub-influx", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop tailing, flush what is buffered and close."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._write.close()
        self._client.close()

    def _connect(self) -> Connection:
        return open_connection(self.db_path)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                _LOGGER.exception("influx: tailing the database failed")
            self._stop.wait(self.settings.poll_s)  # pacing between polls, not a timed assertion

    def poll_once(self) -> int:
        """Hand new events, heartbeats and fall scores to the write API; return how many."""
        conn = self._connect()
        points: list[Any] = []
        try:
            for ev in outbox.events_after(conn, self._last_event):
                self._last_event = ev.id
                value = json.loads(ev.value_json)
                p = (
                    Point("mehr_event")
                    .tag("home", ev.home_id)
                    .tag("kit", ev.kit_id)
                    .tag("sensor", ev.sensor_id)
                    .tag("kind", ev.kind)
                    .tag("room", ev.room or "")
                    .field("count", 1)
                    .time(int(ev.occurred_s * 1000), WritePrecision.MS)
                )
                if isinstance(value, bool | int | float):
                    p = p.field("value", float(value))
                points.append(p)
            for hb in outbox.heartbeats_after(conn, self._last_beat):
                self._last_beat = max(self._last_beat, hb.at_s)
                beat = json.loads(hb.body_json or "{}")
                p = Point("mehr_heartbeat").tag("home", hb.home_id).tag("kit", hb.kit_id)
                for key in ("outbox_depth", "dropped", "uptime_s", "cpu_temp_c", "clock_offset_s"):
                    if isinstance(beat.get(key), int | float):
                        p = p.field(key, float(beat[key]))
                points.append(p.time(int(hb.at_s * 1000), WritePrecision.MS))
            for alert in outbox.alerts_after(conn, self._last_alert):
                self._last_alert = alert.id
                verdict = json.loads(alert.detail_json).get("fall_detector")
                p = (
                    Point("mehr_alert")
                    .tag("home", alert.home_id)
                    .tag("kind", alert.kind)
                    .field("count", 1)
                )
                if isinstance(verdict, dict) and isinstance(verdict.get("probability"), float):
                    p = p.field("fall_probability", verdict["probability"])
                points.append(p.time(int(alert.raised_s * 1000), WritePrecision.MS))
        finally:
            conn.close()
        if points:
            with self._lock:
                self.counts["queued"] += len(points)
            self._write.write(bucket=self.settings.bucket, record=points)
        return len(points)
