"""The gated routine scan (arrays in memory, one vectorised overdue decision, only flagged homes
read) raises exactly what the per-home scan raises, pass for pass, on the same inputs: two
copies of one database get the same events at the same moments, one scanned each way.

The homes live varied days (outings, long baths, naps on a chair mat, nights out of bed, days
without the kitchen, silences that should alert), and the run adds what a gate could miss: a
kit offline and back, events arriving late and stamped ahead, a home provisioned mid-run, a
risk level changed, alerts resolved (so a still-true finding is raised again), and a restart
of the gated scanner (its memory rebuilt from the database).
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.persistence.schema_alerts import migrate_alerts
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, Place, SensorSpec
from hub.routine_scan import RoutineScanner, ScanSettings
from hub.stats import HubStats
from hub.store.base import NewEvent
from mehr.clock import ManualClock
from mehr.contract import SensorKind

# Local midnight in Tashkent (UTC+5), 18 days before the live part of the run.
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC) - timedelta(hours=5)
HISTORY_DAYS = 18
LIVE_DAYS = 2
PASS = timedelta(minutes=10)
_ROOMS = {
    "pir-kitchen": ("Kitchen", Place.KITCHEN),
    "pir-bath": ("Bathroom", Place.BATHROOM),
    "pir-bed": ("Bedroom", Place.BEDROOM),
    "pir-living": ("Living room", Place.LIVING),
    "pir-hall": ("Hallway", Place.ENTRANCE),
    "door-front": ("Hallway", Place.ENTRANCE),
    "mat-chair": ("Living room", Place.LIVING),
}


def _spec(home_id: str) -> HomeSpec:
    sensors = [
        SensorSpec(
            id=sensor,
            kind=SensorKind.DOOR
            if sensor.startswith("door")
            else SensorKind.OCCUPANCY
            if sensor.startswith("mat")
            else SensorKind.MOTION,
            room=room,
            place=place,
        )
        for sensor, (room, place) in _ROOMS.items()
    ]
    kit = KitSpec(id=f"k-{home_id}", sensors=sensors)
    return HomeSpec(id=home_id, name=home_id, mahalla="Navbahor", kits=[kit])


@dataclass
class Ev:
    """One event of the plan: when it happens, when the hub gets it."""

    home: str
    at: datetime
    sensor: str
    kind: str
    value: object
    arrives: datetime


def _day(
    rng: random.Random, home: str, day: int, style: str
) -> list[tuple[float, str, str, object]]:
    """(hour, sensor, kind, value) of one day; `style` picks what makes the day unusual."""
    out: list[tuple[float, str, str, object]] = []
    wake = 6.5 + rng.random()
    bed = 21.5 + rng.random()
    h = wake
    out.append((h, "pir-bed", "motion", True))
    if style == "not_up":
        return out[:0]  # nothing from midnight on: still in bed, or fallen before getting up
    stop = bed
    if style == "silence":
        stop = 9.0 + 3 * rng.random()  # the last sign of life of the day
    while h < stop:
        r = rng.random()
        if r < 0.35 and style != "no_kitchen":
            sensor = "pir-kitchen"
        elif r < 0.5:
            sensor = "pir-bath"
        elif r < 0.75:
            sensor = "pir-living"
        elif r < 0.8:
            sensor = "pir-hall"
        else:
            sensor = "pir-bed"
        out.append((h, sensor, "motion", True))
        out.append((h + 8 / 3600, sensor, "motion", False))
        if style == "long_bath" and 11 < h < 11.5:
            out.append((h + 0.01, "pir-bath", "motion", True))
            h += 2.5  # in the bathroom for hours
            continue
        if style == "out" and 10 < h < 10.5:
            out.append((h + 0.02, "door-front", "door", "open"))
            out.append((h + 0.03, "door-front", "door", "closed"))
            h += 3 + 10 * rng.random()  # out for hours (sometimes too long)
            out.append((h, "door-front", "door", "open"))
            out.append((h + 0.01, "pir-hall", "motion", True))
            out.append((h + 0.02, "pir-kitchen", "motion", True))
            continue
        if style == "nap" and 14 < h < 14.5:
            out.append((h + 0.01, "mat-chair", "occupancy", True))
            h += 1.5 + 2 * rng.random()
            out.append((h, "mat-chair", "occupancy", False))
            if rng.random() < 0.5:
                h += 4  # got up and then nothing
            continue
        h += 0.1 + 0.5 * rng.random()
    if style == "night_door":
        out.append((2.5, "door-front", "door", "open"))
    return out


def _plan(rng: random.Random, homes: list[str], days: range, live_from: datetime) -> list[Ev]:
    styles = ["plain"] * 6 + ["silence", "long_bath", "out", "nap", "no_kitchen", "not_up"]
    styles += ["night_door"]
    events: list[Ev] = []
    for home in homes:
        for day in days:
            live = START + timedelta(days=day) >= live_from
            style = rng.choice(styles) if live or rng.random() < 0.05 else "plain"
            for hh, sensor, kind, value in _day(rng, home, day, style):
                at = START + timedelta(days=day, hours=hh)
                events.append(Ev(home, at, sensor, kind, value, at))
    return events


def _store(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    with sqlite3.connect(path) as conn:
        migrate_alerts(conn)  # outages are the alert engine's table: the scan reads them
    return store


def _write(stores: list[SqliteStore], evs: list[Ev], seqs: dict[str, int]) -> None:
    for store in stores:
        rows = []
        for n, ev in enumerate(evs):
            room = _ROOMS[ev.sensor][0]
            rows.append(
                NewEvent(ev.home, f"k-{ev.home}", 1, seqs["all"] + n + 1, ev.sensor,
                         ev.kind, ev.value, room, ev.at, ev.arrives)
            )  # fmt: skip
        store.store_events(rows, max((e.arrives for e in evs), default=START))
        store.commit()
    seqs["all"] += len(evs)


def _both(stores: list[SqliteStore], action: str, *args: object) -> None:
    for store in stores:
        getattr(store, action)(*args)
        store.commit()


def _raised(scanner: RoutineScanner) -> list[tuple[str, str, object]]:
    return sorted(
        (a.home_id, a.kind, {k: v for k, v in a.detail.items() if k != "explanation"}.__repr__())
        for a in scanner.scan()
    )


# The second run holds 3 of the 11 routines in memory: the others are read back from the
# store whenever their home is read (hub/routine_cache.py), and nothing it raises may differ.
# The runs with a memory file restart from the gate saved after the last pass
# (hub/scan_memory.py) instead of reading every home again.
@pytest.mark.parametrize(
    ("seed", "routine_cache_size", "saved"),
    [(1, None, False), (2, 3, False), (1, None, True), (2, 3, True)],
)
def test_the_gated_scan_raises_what_the_per_home_scan_raises(
    tmp_path: Path, seed: int, routine_cache_size: int | None, saved: bool
) -> None:
    rng = random.Random(seed)
    homes = [f"home-{i:02d}" for i in range(10)]
    live_from = START + timedelta(days=HISTORY_DAYS)
    gated_store, plain_store = _store(tmp_path / "gated.db"), _store(tmp_path / "plain.db")
    stores = [gated_store, plain_store]
    for home in homes:
        _both(stores, "register_home", _spec(home), START)
    plan = _plan(rng, homes, range(HISTORY_DAYS + LIVE_DAYS), live_from)
    seqs = {"all": 0}
    history = [e for e in plan if e.at < live_from]
    live = sorted((e for e in plan if e.at >= live_from), key=lambda e: e.arrives)
    # Late: an hour of one home's events held back by a network outage, delivered together.
    outage = (live_from + timedelta(hours=30), live_from + timedelta(hours=31))
    for ev in live:
        if ev.home == "home-03" and outage[0] <= ev.at < outage[1]:
            ev.arrives = live_from + timedelta(hours=33)
    # Ahead: a kit clock a day fast for one event.
    live.append(Ev("home-04", live_from + timedelta(days=1, hours=3), "pir-kitchen", "motion",
                   True, live_from + timedelta(hours=3)))  # fmt: skip
    live.sort(key=lambda e: e.arrives)
    _write(stores, history, seqs)

    clock = ManualClock(live_from)
    # No hourly net under the gate: its plans alone must find everything here.
    settings = ScanSettings(
        max_relearns_per_pass=4,
        full_check_every=timedelta(days=1000),
        routine_cache_size=routine_cache_size,
    )
    gated_stats = HubStats()
    memory = tmp_path / "scan-memory.npz" if saved else None
    gated = RoutineScanner(gated_store, clock, gated_stats, settings=settings, memory_file=memory)
    plain = RoutineScanner(
        plain_store, clock, HubStats(), settings=ScanSettings(max_relearns_per_pass=4, gated=False)
    )
    now = live_from
    end = live_from + timedelta(days=LIVE_DAYS)
    i = 0
    compared = raised = 0
    read_after_restart = -1
    while now < end:
        batch = []
        while i < len(live) and live[i].arrives <= now:
            batch.append(live[i])
            i += 1
        if batch:
            _write(stores, batch, seqs)
        hours = (now - live_from) / timedelta(hours=1)
        if hours == 5:
            _both(stores, "set_availability", "k-home-05", "offline", now)
        if hours == 8:
            _both(stores, "set_availability", "k-home-05", "online", now)
        if hours == 12:
            _both(stores, "set_risk_level", "home-06", "high")
        if hours == 20:
            _both(stores, "register_home", _spec("home-new"), now)
            _write(stores, [Ev("home-new", now - timedelta(minutes=5), "pir-kitchen", "motion",
                               True, now)], seqs)  # fmt: skip
        if hours == 26:
            # A worker resolves every open alert: still-true findings are raised again.
            for store in stores:
                store.connection.execute("UPDATE alerts SET state='resolved'")
        if hours == 30:
            # A restart: the gated scanner's memory is rebuilt from the database, or read back
            # from its file.
            gated = RoutineScanner(
                gated_store, clock, gated_stats, settings=settings, memory_file=memory
            )
        clock.set(now)
        read_before = gated_stats.get("scan_homes_read")
        got, want = _raised(gated), _raised(plain)
        assert got == want, f"at {now.isoformat()}"
        if hours == 30:
            read_after_restart = gated_stats.get("scan_homes_read") - read_before
        compared += 1
        raised += len(want)
        now += PASS
    assert compared == LIVE_DAYS * 144
    print(f"compared {compared} passes, {raised} alerts, read {gated_stats.get('scan_homes_read')}")
    assert raised >= 10, "the run must exercise the rules, not only quiet passes"
    assert gated_stats.get("scan_homes_read") < plain.stats.get("scans") * len(homes) / 2
    if saved:
        assert gated_stats.get("scan_memory_loaded") == 1
        assert read_after_restart < len(homes) + 1, "the restart must go on from its memory"
    else:
        assert read_after_restart == len(homes) + 1, "a rebuilt memory reads every home"
    if routine_cache_size is not None:
        assert len(gated.routines) <= routine_cache_size
        assert gated.routines.reads > 0, "routines must have been read back from the store"


def test_a_home_read_late_in_a_long_pass_keeps_events_stamped_after_its_start() -> None:
    """A long pass judges every home at its start; a home read late in it was read with events
    stored meanwhile but stamped after that start, which its plan does not include. The next
    tail brings them: they count as new (with the lead), not as seen, and not as late."""
    from detectors import CheckPlan
    from hub.persistence.activity_tail import TailRow
    from hub.scan_gate import HomeLook, ScanGate

    gate = ScanGate(timedelta(days=1000))  # no hourly net: the plan and the lead alone
    gate.sync_homes({"h": ()})
    gate.tail_id = 0
    plan = CheckPlan(50.0, 10_000.0, float("inf"))
    look = HomeLook(plan, 3000.0, 3000.0, 90.0, 90.0, float("nan"), False, 72_000.0, 0.0, 20, False)
    gate.looked("h", 100.0, look)
    gate.feed(
        [
            TailRow(9, "h", 90.0, "motion", "kitchen"),  # in the plan
            TailRow(10, "h", 105.0, "motion", "kitchen"),  # stored before the look, stamped after
            TailRow(21, "h", 110.0, "motion", "kitchen"),  # stored after the look
        ],
        now_s=160.0,
    )
    assert gate.new_since[0] == 105.0
    assert gate.new_deadline[0] == 105.0 + 3000.0
    assert not gate.immediate[0], "not older than what the look saw"
    assert gate.due(3104.0, recent_s=36 * 3600.0, relearn_budget=0) == []
    assert gate.due(3106.0, recent_s=36 * 3600.0, relearn_budget=0) == ["h"]


def test_a_changed_registration_flags_only_that_home_and_new_homes_grow_the_arrays() -> None:
    """The gate keeps a digest of each home's registration, not the registration itself: a
    home whose kits, sensors, availability, risk or zone changed is read at once; the others
    keep their plan; a home added later gets its own row, read at once."""
    from hub.scan_gate import ScanGate, _digest

    def sig(risk: str, sensors: tuple[str, ...]) -> tuple[object, ...]:
        return ("Asia/Tashkent", risk, False, (("kit", "online", sensors),))

    gate = ScanGate(timedelta(hours=1))
    gate.sync_homes({"a": sig("medium", ("pir",)), "b": sig("medium", ("pir",))})
    assert gate.immediate.tolist() == [True, True]
    gate.immediate[:] = False  # both looked at
    # Digests handed in one home at a time, as the scan does: same registrations, no flag.
    gate.sync_digests(
        iter([("a", _digest(sig("medium", ("pir",)))), ("b", _digest(sig("medium", ("pir",))))])
    )
    assert gate.immediate.tolist() == [False, False]
    gate.sync_homes({"a": sig("medium", ("pir",)), "b": sig("medium", ("pir", "door"))})
    assert gate.immediate.tolist() == [False, True]
    gate.immediate[:] = False
    gate.sync_homes({"a": sig("high", ("pir",)), "b": sig("medium", ("pir", "door"))})
    assert gate.immediate.tolist() == [True, False]
    gate.immediate[:] = False
    gate.sync_digests(
        iter([(h, _digest(r)) for h, r in [("c", sig("low", ())), ("a", sig("high", ("pir",)))]])
    )
    assert gate.immediate.tolist() == [False, False, True]
    assert all(getattr(gate, name).shape == (3,) for name in ("since", "limit", "seen_id"))
    assert gate._signature.shape == (3, 2)


def test_the_registration_digest_changes_with_every_part_of_a_homes_registration(
    tmp_path: Path,
) -> None:
    """What the scan reads each pass instead of every kit: one digest per home that moves when
    its zone, risk, a kit's availability, or a sensor's kind, room or place changes, and the
    homes whose kits are all offline; read in chunks smaller than the registry."""
    from hub.persistence.scan_registry import home_registrations, home_sensors

    store = _store(tmp_path / "hub.db")
    for i in range(5):
        store.register_home(_spec(f"home-{i}"), START)
    store.commit()

    def read() -> dict[str, tuple[bytes, bool]]:
        got = {r.home_id: (r.digest, r.offline) for r in home_registrations(store.connection, 2)}
        assert list(got) == sorted(got)
        return got

    before = read()
    assert len(before) == 5 and len({d for d, _ in before.values()}) == 5
    assert not any(off for _, off in before.values())
    store.set_availability("k-home-1", "offline", START)
    store.set_risk_level("home-2", "high")
    store.connection.execute(
        "UPDATE sensors SET place='bedroom' WHERE kit_id='k-home-3' AND id='pir-kitchen'"
    )
    store.commit()
    after = read()
    assert [h for h in after if after[h][0] != before[h][0]] == ["home-1", "home-2", "home-3"]
    assert [h for h, (_, off) in after.items() if off] == ["home-1"]
    sensors = home_sensors(store.connection, "home-0")
    assert [s[1] for s in sensors] == list(_ROOMS)  # registration order, as kits() lists them
    assert sensors[0] == ("k-home-0", "pir-kitchen", "motion", "Kitchen")
