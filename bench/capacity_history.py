"""Fleet homes for the capacity benchmark: registered, with days of history and learned routines,
written into the hub's SQLite file before the hub starts.

Homes, kits and sensors go in through the store's public `register_home`; learned routines come
from the hub's own `RoutineScanner.scan()` run once on a manual clock (then its alerts are
deleted: they were raised at a moment that never happened live). Only the history rows take a
direct path: `INSERT`s of exactly the columns `SqliteStore.store_events` writes, in one
transaction per chunk of homes, sorted by home and time so both event indexes grow at their
right edge. Going through `store_events` (a Python round trip and a `sensor_state` upsert per
row) would take about an hour for 10,000 homes; the rows it would write are the same.

The history follows the fleet model's own residents (simulators/fleet.py `FleetModel`: the same
seeded wake and bed times per home, the same five PIRs and front door, motion reported as ON
then OFF 8 s later, nights quiet, the door only while awake) so the routines learned from it fit
what the fleet then sends live. Its density is that of the two real homes in the Ordóñez data
(about 30-110 sensor activations a day), not the fleet's one movement a minute, which is a load
model: 15 days at the fleet's rate would be ~290 million rows (~45 GB) for 10,000 homes.
"""

from __future__ import annotations

import logging
import multiprocessing
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from hub.coordination import partition_of
from hub.persistence.sqlite_store import open_store
from hub.registry import HomeSpec, KitSpec, Place, SensorSpec
from hub.routine_scan import RoutineScanner
from hub.stats import HubStats
from mehr.clock import ManualClock
from mehr.contract import SensorKind
from simulators.fleet import TASHKENT_UTC_OFFSET_S, FleetModel

__all__ = [
    "HistorySpec",
    "expire_routines_at",
    "home_ids",
    "load_fleet_homes",
    "load_fleet_homes_postgres",
    "prelearn_routines",
]

_LOGGER = logging.getLogger(__name__)

# The fleet model's sensors (simulators/fleet.py `_PIRS`, "door-front") with the rooms and the
# places the routine detectors know them by; plus the help button the benchmark presses.
_PIRS = (
    ("pir-bed", "Yotoqxona", Place.BEDROOM),
    ("pir-bath", "Hammom", Place.BATHROOM),
    ("pir-kitchen", "Oshxona", Place.KITCHEN),
    ("pir-living", "Mehmonxona", Place.LIVING),
    ("pir-hall", "Yo'lak", Place.OTHER),
)
HELP_SENSOR = "help"
_ASLEEP_BURSTS_PER_H = 2.0  # the fleet model's _ASLEEP_PER_S
_DOOR_PER_AWAKE_H = 8.0 / 24.0  # the fleet model's _DOOR_PER_S, opening and closing
_PIR_OFF_AFTER_S = 8.0
_HISTORY_EPOCH = 9  # the kit's earlier outbox: live fleet messages use epoch 1, presses epoch 2


@dataclass(frozen=True, slots=True)
class HistorySpec:
    """How much history each home gets and how dense it is."""

    days: float = 15.0
    bursts_per_awake_hour: float = 6.0  # ~100 activations a day, as in the Ordóñez homes
    seed: int = 0
    utc_offset_s: float = TASHKENT_UTC_OFFSET_S  # the residents' local time, as the fleet's


def home_ids(i: int, prefix: str = "fleet") -> tuple[str, str]:
    """Home and kit id of fleet home number `i` (as `FleetModel` names them)."""
    return f"{prefix}-{i:05d}", f"{prefix}-kit-{i:05d}"


def _home_spec(i: int, prefix: str) -> HomeSpec:
    home, kit = home_ids(i, prefix)
    sensors = [
        SensorSpec(id=sid, kind=SensorKind.MOTION, room=room, place=place)
        for sid, room, place in _PIRS
    ]
    sensors.append(
        SensorSpec(id="door-front", kind=SensorKind.DOOR, room="Yo'lak", place=Place.ENTRANCE)
    )
    sensors.append(SensorSpec(id=HELP_SENSOR, kind=SensorKind.HELP_BUTTON, room="Yotoqxona"))
    return HomeSpec(
        id=home,
        name=f"Uy {i}",
        mahalla=f"Mahalla {i % 40:02d}",
        kits=[KitSpec(id=kit, sensors=sensors)],
    )


def _sleep_times(homes: int, workers: int, seed: int, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Wake and bed time of day (local seconds) of every home, exactly as the fleet's workers
    draw them (each worker seeds its own shard)."""
    wake = np.zeros(homes)
    bed = np.zeros(homes)
    for w in range(workers):
        indices = list(range(w, homes, workers))
        if not indices:
            continue
        model = FleetModel(indices, seed=seed, prefix=prefix)
        wake[indices] = model.wake_s
        bed[indices] = model.bed_s
    return wake, bed


def _home_rows(
    i: int,
    wake_s: float,
    bed_s: float,
    start_s: float,
    end_s: float,
    spec: HistorySpec,
    rng: np.random.Generator,
    prefix: str,
) -> tuple[list[tuple[object, ...]], dict[str, tuple[str, str, float]]]:
    """One home's history rows (columns of `events`) and its sensors' last (kind, value, time)."""
    home, kit = home_ids(i, prefix)
    span = end_s - start_s
    top = max(spec.bursts_per_awake_hour, _ASLEEP_BURSTS_PER_H) / 3600.0
    # Thinning of a Poisson process: candidates at the top rate, kept at the hour's own rate.
    times = np.sort(rng.uniform(start_s, end_s, rng.poisson(top * span)))
    tod = (times + spec.utc_offset_s) % 86_400.0
    awake = (tod >= wake_s) & (tod < bed_s)
    rate = np.where(awake, spec.bursts_per_awake_hour, _ASLEEP_BURSTS_PER_H) / 3600.0
    motion = times[rng.uniform(0, 1, times.size) < rate / top]
    doors = np.sort(rng.uniform(start_s, end_s, rng.poisson(_DOOR_PER_AWAKE_H / 3600 * span)))
    door_tod = (doors + spec.utc_offset_s) % 86_400.0
    doors = doors[(door_tod >= wake_s) & (door_tod < bed_s)]
    pir = rng.integers(0, len(_PIRS), motion.size)
    # (time, sensor, kind, value, room): ON, its OFF, and the door's alternating open/closed.
    raw: list[tuple[float, str, str, str, str]] = []
    for t, p in zip(motion.tolist(), pir.tolist(), strict=True):
        sid, room, _ = _PIRS[p]
        raw.append((t, sid, "motion", "true", room))
        raw.append((t + _PIR_OFF_AFTER_S, sid, "motion", "false", room))
    for n, t in enumerate(doors.tolist()):
        raw.append((t, "door-front", "door", '"open"' if n % 2 == 0 else '"closed"', "Yo'lak"))
    raw = [r for r in raw if r[0] < end_s]
    raw.sort(key=lambda r: r[0])
    rows: list[tuple[object, ...]] = []
    last: dict[str, tuple[str, str, float]] = {}
    for seq, (t, sid, kind, value, room) in enumerate(raw, start=1):
        # received and stored a few milliseconds after the event, as a healthy hub does.
        rows.append((home, kit, _HISTORY_EPOCH, seq, sid, kind, value, room, t, t + 0.02, t + 0.05))
        last[sid] = (kind, value, t)
    return rows, last


def _chunks(homes: int, size: int) -> Iterator[range]:
    for first in range(0, homes, size):
        yield range(first, min(homes, first + size))


def _history_chunks(
    homes: int, end: datetime, spec: HistorySpec, workers: int, prefix: str
) -> Iterator[tuple[range, list[tuple[object, ...]], list[tuple[object, ...]]]]:
    """Each chunk of 200 homes with its `events` rows and `sensor_state` rows, in one order and
    from one random stream, whichever database they are written to."""
    wake, bed = _sleep_times(homes, workers, spec.seed, prefix)
    end_s = end.timestamp()
    start_s = end_s - spec.days * 86_400.0
    rng = np.random.default_rng([spec.seed, homes, 15])
    room_of = {sid: room for sid, room, _ in _PIRS} | {"door-front": "Yo'lak"}
    for chunk in _chunks(homes, 200):
        events: list[tuple[object, ...]] = []
        states: list[tuple[object, ...]] = []
        for i in chunk:
            rows, last = _home_rows(
                i, float(wake[i]), float(bed[i]), start_s, end_s, spec, rng, prefix
            )
            events.extend(rows)
            home, kit = home_ids(i, prefix)
            states.extend(
                (kit, sid, home, kind, room_of[sid], value, t)
                for sid, (kind, value, t) in last.items()
            )
        yield chunk, events, states


def _register_homes(database: Path | str, homes: int, prefix: str) -> None:
    """Homes, kits and sensors through the store's public `register_home`."""
    store = open_store(database, "NORMAL")
    now = datetime.now(UTC)
    try:
        for i in range(homes):
            store.register_home(_home_spec(i, prefix), now)
    finally:
        store.close()


def load_fleet_homes(
    db_path: Path,
    homes: int,
    end: datetime,
    spec: HistorySpec,
    *,
    workers: int,
    prefix: str = "fleet",
    progress_every_s: float = 10.0,
) -> int:
    """Register `homes` fleet homes and write `spec.days` of history ending at `end`.

    `workers` and `spec.seed` must be those the fleet will run with (they decide each home's
    wake and bed times). Returns the number of history rows written.
    """
    _register_homes(db_path, homes, prefix)
    db = sqlite3.connect(db_path, isolation_level=None)
    # A throwaway load: nothing here needs to survive a power cut until it is committed once.
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")  # 256 MiB
    written = 0
    last_report = time.monotonic()
    try:
        for chunk, events, states in _history_chunks(homes, end, spec, workers, prefix):
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO events(home_id, kit_id, epoch, seq, sensor_id, kind, value, room, "
                "occurred_at, received_at, stored_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                events,
            )
            db.executemany(
                "INSERT INTO sensor_state(kit_id, sensor_id, home_id, kind, room, value, "
                "occurred_at) VALUES (?,?,?,?,?,?,?)",
                states,
            )
            db.execute("COMMIT")
            written += len(events)
            if time.monotonic() - last_report >= progress_every_s:
                last_report = time.monotonic()
                _LOGGER.info("history: %d of %d homes, %d rows", chunk.stop, homes, written)
        db.execute("PRAGMA journal_mode=WAL")  # what the hub runs with
    finally:
        db.close()
    return written


def load_fleet_homes_postgres(
    url: str,
    homes: int,
    end: datetime,
    spec: HistorySpec,
    *,
    workers: int,
    prefix: str = "fleet",
) -> int:
    """The same homes and the same rows as `load_fleet_homes`, into the PostgreSQL database at
    `url` (migrated by the store first): rows by COPY, the bulk load PostgreSQL offers, one
    transaction per chunk, then ANALYZE so the hubs' first plans see the real table sizes."""
    import psycopg

    _register_homes(url, homes, prefix)
    written = 0
    with psycopg.connect(url) as db:
        for _, events, states in _history_chunks(homes, end, spec, workers, prefix):
            with db.transaction(), db.cursor() as cur:
                with cur.copy(
                    "COPY events(home_id, kit_id, epoch, seq, sensor_id, kind, value, room, "
                    "occurred_at, received_at, stored_at) FROM STDIN"
                ) as copy:
                    for row in events:
                        copy.write_row(row)
                with cur.copy(
                    "COPY sensor_state(kit_id, sensor_id, home_id, kind, room, value, "
                    "occurred_at) FROM STDIN"
                ) as copy:
                    for row in states:
                        copy.write_row(row)
            written += len(events)
        db.commit()
        db.autocommit = True
        db.execute("ANALYZE")
    return written


class _ShareOfHomes:
    """The homes one preparing process learns: those whose partition of `count` is `index`
    (the scanner's own ownership hook, as several hubs split the homes)."""

    def __init__(self, index: int, count: int) -> None:
        self.index = index
        self.count = count

    def owns(self, key: str) -> bool:
        return partition_of(key, self.count) == self.index

    def held(self) -> dict[int, int]:
        return {}

    def partition(self, key: str) -> int | None:
        return None


def _learn_share(database: Path | str, learned_at: datetime, index: int, count: int) -> int:
    store = open_store(database, "NORMAL")
    stats = HubStats()
    try:
        RoutineScanner(
            store, ManualClock(learned_at), stats, ownership=_ShareOfHomes(index, count)
        ).scan()
    finally:
        store.close()
    return stats.get("routines_learned")


def prelearn_routines(database: Path | str, learned_at: datetime, processes: int = 2) -> int:
    """Learn every home's routine with the hub's own scanner as of `learned_at`, and keep only
    the routines (the alerts that pass raised are deleted). Returns how many were learned.

    `processes` scanners each learn a share of the homes (100,000 homes take about an hour on
    one core); they write their routines in the scanner's own short transactions.
    `database`: the SQLite file, or a postgresql:// URL."""
    if processes <= 1:
        learned = _learn_share(database, learned_at, 0, 1)
    else:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            learned = sum(
                pool.starmap(
                    _learn_share,
                    [(database, learned_at, index, processes) for index in range(processes)],
                )
            )
    store = open_store(database, "NORMAL")
    try:
        store.connection.execute("DELETE FROM alerts")
    finally:
        store.close()
    return learned


def expire_routines_at(database: Path | str, expire_at: datetime, relearn_every: timedelta) -> None:
    """Date every stored routine so the hub finds them all stale at `expire_at` at once, as
    routines learned in one pass do in production (`ScanSettings.relearn_every` after it)."""
    learned_at = (expire_at - relearn_every).timestamp()
    if isinstance(database, str):
        import psycopg

        with psycopg.connect(database, autocommit=True) as pg:
            pg.execute("UPDATE routines SET learned_at = %s", (learned_at,))
        return
    db = sqlite3.connect(database, isolation_level=None, timeout=30)
    try:
        db.execute("UPDATE routines SET learned_at=?", (learned_at,))
    finally:
        db.close()


def age_scan_memory(path: Path, expire_at: datetime, relearn_every: timedelta) -> None:
    """`expire_routines_at` for a hub's saved scan memory (hub/scan_memory.py): its copy of
    every routine's age, which the hub trusts after a restart instead of reading every home."""
    import numpy as np

    from mehr.files import replace_file

    with np.load(path, allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    learned_at = arrays["learned_at"]
    aged = (expire_at - relearn_every).timestamp()
    arrays["learned_at"] = np.where(np.isnan(learned_at), learned_at, aged)  # no routine: none
    replace_file(path, lambda out: np.savez(out, **arrays))
