"""Optional InfluxDB sink: events, heartbeats and detector scores as series, never blocking ingest.

A tailer thread reads what ingest committed (events by id, kits by heartbeat time, alerts with
detector evidence) and hands points to influxdb-client's batching write API, which buffers and
flushes in its own thread. Ingest never waits: a slow or dead InfluxDB only grows counted
buffers, and failed batches are counted, not retried forever.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

import influxdb_client as _influx

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

    def __init__(self, db_path: str, settings: InfluxSettings) -> None:
        self.db_path = db_path
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
            self._last_event = conn.execute("SELECT COALESCE(MAX(id),0) FROM events").fetchone()[0]
            self._last_alert = conn.execute("SELECT COALESCE(MAX(id),0) FROM alerts").fetchone()[0]
            self._last_beat = conn.execute(
                "SELECT COALESCE(MAX(last_heartbeat_at),0) FROM kits"
            ).fetchone()[0]
        finally:
            conn.close()
        self._thread = threading.Thread(target=self._run, name="hub-influx", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop tailing, flush what is buffered and close."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._write.close()
        self._client.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=30)
        conn.row_factory = sqlite3.Row
        return conn

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
            for r in conn.execute(
                "SELECT id, home_id, kit_id, sensor_id, kind, value, room, occurred_at FROM events "
                "WHERE id>? ORDER BY id LIMIT 50000",
                (self._last_event,),
            ):
                self._last_event = r["id"]
                value = json.loads(r["value"])
                p = (
                    Point("mehr_event")
                    .tag("home", r["home_id"])
                    .tag("kit", r["kit_id"])
                    .tag("sensor", r["sensor_id"])
                    .tag("kind", r["kind"])
                    .tag("room", r["room"] or "")
                    .field("count", 1)
                    .time(int(r["occurred_at"] * 1000), WritePrecision.MS)
                )
                if isinstance(value, bool | int | float):
                    p = p.field("value", float(value))
                points.append(p)
            for r in conn.execute(
                "SELECT id, home_id, last_heartbeat, last_heartbeat_at FROM kits "
                "WHERE last_heartbeat_at>?",
                (self._last_beat,),
            ):
                self._last_beat = max(self._last_beat, r["last_heartbeat_at"])
                beat = json.loads(r["last_heartbeat"] or "{}")
                p = Point("mehr_heartbeat").tag("home", r["home_id"]).tag("kit", r["id"])
                for key in ("outbox_depth", "dropped", "uptime_s", "cpu_temp_c", "clock_offset_s"):
                    if isinstance(beat.get(key), int | float):
                        p = p.field(key, float(beat[key]))
                points.append(p.time(int(r["last_heartbeat_at"] * 1000), WritePrecision.MS))
            for r in conn.execute(
                "SELECT id, home_id, kind, detail, raised_at FROM alerts WHERE id>? ORDER BY id",
                (self._last_alert,),
            ):
                self._last_alert = r["id"]
                verdict = json.loads(r["detail"]).get("fall_detector")
                p = (
                    Point("mehr_alert")
                    .tag("home", r["home_id"])
                    .tag("kind", r["kind"])
                    .field("count", 1)
                )
                if isinstance(verdict, dict) and isinstance(verdict.get("probability"), float):
                    p = p.field("fall_probability", verdict["probability"])
                points.append(p.time(int(r["raised_at"] * 1000), WritePrecision.MS))
        finally:
            conn.close()
        if points:
            with self._lock:
                self.counts["queued"] += len(points)
            self._write.write(bucket=self.settings.bucket, record=points)
        return len(points)
