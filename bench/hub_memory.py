"""Bytes per home held by the hub's in-memory structures, by structure, for the hub process and
the scan process (issue 12: ≤ 10 KB RSS per home at 100,000 homes).

The structures are the real ones, built the way the hub builds them, from a database prepared
as `bench/capacity.py` prepares one (fleet homes, 15 days of history, routines learned by the
hub's own scanner):

- scan process: a `RoutineScanner` (gated, as `hub/scan_process.py` runs it) after its first
  pass (every home read) and after a steady pass a minute later: its routine cache, the
  per-pass kit map, the gate's arrays, index and signatures;
- hub process: the ingest's kit cache as the hub fills it at its start (`Ingestor.warm_kits`),
  and as each kit's first message would fill it (`Ingestor._kit` for every kit: a kit
  provisioned while the hub runs, and the hub before it read every kit at start).

Each measure runs in a fresh process (spawned), so its RSS is its own: `tracemalloc`'s traced
bytes, a deep size per structure (every object reachable from it counted once) and the RSS
growth over the process before the scanner existed. Variants (e.g. the routine cache's size)
run one after the other in the same invocation, on the same database and the same clock.

    .venv/bin/python bench/hub_memory.py --homes 3000 --db /tmp/hub_memory/hub.db
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import sqlite3
import sys
import time
import tracemalloc
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parent.parent
# No project import at module level: a measure's process may import the project from another
# source tree (`--baseline-src`, the code before a change) and must not have ours loaded first.

# Where the scans are judged: shortly after the history ends, so every routine is fresh (the
# capacity run's situation between re-learns).
_SCAN_AFTER = timedelta(minutes=5)


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def deep_size(roots: Iterable[object], exclude: set[int] | None = None) -> int:
    """Bytes of every object reachable from `roots`, each counted once (types, modules,
    functions and the objects in `exclude` not followed: they are not the structure's)."""
    seen: set[int] = set(exclude or ())
    total = 0
    stack = list(roots)
    skip = (type, type(sys), type(deep_size))
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def prepare(db: Path, homes: int, days: float) -> datetime:
    """Register the homes, write their history and learn their routines (as capacity.py)."""
    sys.path.insert(0, str(_REPO))
    from bench.capacity_history import HistorySpec, load_fleet_homes, prelearn_routines

    db.parent.mkdir(parents=True, exist_ok=True)
    end = datetime.now(UTC)
    t0 = time.monotonic()
    rows = load_fleet_homes(db, homes, end, HistorySpec(days=days), workers=2)
    learned = prelearn_routines(db, end)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    meta = {"homes": homes, "rows": rows, "learned": learned, "history_end": end.isoformat()}
    db.with_suffix(".json").write_text(json.dumps(meta))
    print(f"prepared {homes} homes, {rows} rows, {learned} routines in "
          f"{time.monotonic() - t0:.0f} s", file=sys.stderr)  # fmt: skip
    return end


def _reset(db: Path) -> None:
    # Every measure starts from the same database: no alert from an earlier measure open.
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM alerts")


def measure_scan(
    db: Path, now: datetime, variant: dict[str, Any], trace: bool
) -> dict[str, Any]:
    """The scan process's structures after a first and a steady pass (run in a fresh process).

    `trace`: with tracemalloc (its own bookkeeping inflates RSS and time: RSS and pass times
    come from the run without it)."""
    from hub.persistence.sqlite_store import SqliteStore
    from hub.routine_scan import RoutineScanner, ScanSettings
    from hub.stats import HubStats
    from mehr.clock import ManualClock

    store = SqliteStore(db, "NORMAL")
    clock = ManualClock(now)
    gc.collect()
    rss0 = _rss_kb()
    if trace:
        tracemalloc.start()
        base = tracemalloc.take_snapshot()
    exclude = {id(store), id(clock), id(store.connection)}
    scanner = RoutineScanner(store, clock, HubStats(), settings=ScanSettings(**variant))
    t0 = time.monotonic()
    scanner.scan()
    first_s = time.monotonic() - t0
    clock.advance(timedelta(minutes=1))
    t0 = time.monotonic()
    scanner.scan()
    steady_s = time.monotonic() - t0
    gc.collect()
    rss1 = _rss_kb()
    traced = peak = 0
    by_file = []
    if trace:
        traced, peak = tracemalloc.get_traced_memory()
        by_file = tracemalloc.take_snapshot().compare_to(base, "filename")
        tracemalloc.stop()
    gate = scanner.gate
    parts: dict[str, int] = {
        "routine cache": deep_size(
            # Before hub/routine_cache.py the scanner kept a dict of every home's routine.
            [getattr(scanner, "_routines", None) or scanner.routines._held],
            exclude,
        ),
        # main kept a KitRecord of every kit between passes; now none is kept.
        "kits by home (kept between passes)": deep_size(
            [getattr(scanner, "_kits_by_home", {})],
            exclude,
        ),
    }
    if gate is not None:
        from hub.scan_gate import _COLUMNS

        parts["gate arrays"] = sum(getattr(gate, name).nbytes for name in _COLUMNS)
        parts["gate index + ids"] = deep_size([gate._index, gate._ids, gate._order], exclude)
        parts["gate signatures"] = deep_size([gate._signature], exclude)
    store.close()
    return {
        "parts": parts,
        "traced": traced,
        "traced_peak": peak,
        "rss_growth_kb": rss1 - rss0,
        "rss_kb": rss1,
        "routine_reads": getattr(getattr(scanner, "routines", None), "reads", None),
        "first_pass_s": round(first_s, 2),
        "steady_pass_s": round(steady_s, 2),
        "top_files": [(str(s.traceback[0].filename), s.size_diff) for s in by_file[:6]],
    }


def measure_ingest(db: Path, now: datetime, at_start: bool = True) -> dict[str, Any]:
    """The hub process's kit cache: read at start (`at_start`) or once every kit has sent (run
    in a fresh process)."""
    from hub.ingest import Ingestor
    from hub.persistence.sqlite_store import SqliteStore
    from hub.stats import HubStats
    from mehr.clock import ManualClock

    store = SqliteStore(db, "NORMAL")
    kit_ids = [k.id for k in store.kits()]
    gc.collect()
    rss0 = _rss_kb()
    ingestor = Ingestor(store, ManualClock(now), HubStats())
    if at_start:
        ingestor.warm_kits()
    else:
        for kit_id in kit_ids:
            ingestor.kits.kit(kit_id)
    gc.collect()
    rss1 = _rss_kb()
    held_elsewhere = {id(store), id(ingestor.clock), id(kit_ids)} | {id(k) for k in kit_ids}
    size = deep_size([ingestor.kits], held_elsewhere)
    store.close()
    return {"parts": {"ingest kit cache": size}, "rss_growth_kb": rss1 - rss0}


def measure_alerts_config(db: Path, homes: int) -> dict[str, Any]:
    """The alerts config as the capacity run writes it (a contact entry per home): held by the
    hub process (the engine) and, before this change, by the scan process too, which needs
    only which homes ask first (run in a fresh process)."""
    from hub.alerts.config import load_alerts_config
    from hub.scan_process import _homes_asking_first

    path = _write_alerts_config(db, homes)
    gc.collect()
    rss0 = _rss_kb()
    config = load_alerts_config(path)
    gc.collect()
    rss1 = _rss_kb()
    asks_first = _homes_asking_first(config)
    return {
        "parts": {
            "alerts config (hub process; scan process on main)": deep_size([config]),
            "homes asking first (scan process now)": deep_size([asks_first]),
        },
        "rss_growth_kb": rss1 - rss0,
    }


def _write_alerts_config(db: Path, homes: int) -> Path:
    import yaml

    sys.path.insert(0, str(_REPO))
    from bench.capacity import _alerts_config

    path = db.with_name("alerts.yaml")
    path.write_text(yaml.safe_dump(_alerts_config(homes, "http://127.0.0.1:9/hook")))
    return path


def measure_scan_process(db: Path, alerts: Path, passes: int) -> dict[str, Any]:
    """The scan process exactly as the hub starts it (`hub/scan_process.py`, with the capacity
    run's alerts config): its RSS once `passes` passes are done (run in a fresh process)."""
    from hub.config import HubSettings
    from hub.scan_process import ScanProcess
    from hub.stats import HubStats

    settings = HubSettings(db_path=db, alerts_config=alerts, scan_interval_s=5.0)
    stats = HubStats()
    process = ScanProcess(settings, stats, lambda _alert: None)
    process.start()
    deadline = time.monotonic() + 900
    while stats.get("scans") < passes and process.alive() and time.monotonic() < deadline:
        time.sleep(0.5)  # waiting for a real process's passes
    pid = process.pid
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    rss = {line.split(":")[0]: int(line.split()[1]) for line in status if line.startswith("Vm")}
    process.stop()
    return {"rss_kb": rss["VmRSS"], "peak_rss_kb": rss["VmHWM"], "passes": stats.get("scans")}


def _child(src: Path, fn: Any, args: tuple[Any, ...], out: Any) -> None:
    sys.path.insert(0, str(src))  # the project as of that source tree
    out.put(fn(*args))


def _in_fresh_process(src: Path, fn: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(src, fn, args, out))
    proc.start()
    result: dict[str, Any] = out.get()
    proc.join()
    return result


def _per_home(value: float, homes: int) -> float:
    return round(value / homes, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homes", type=int, default=3000)
    parser.add_argument("--days", type=float, default=15.0, help="history per home")
    parser.add_argument("--db", type=Path, default=Path("/tmp/hub_memory/hub.db"))
    parser.add_argument(
        "--variants",
        default='{"this tree, cache 2000": {"routine_cache_size": 2000}}',
        help="JSON: name -> ScanSettings overrides, measured one after the other",
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also measure the project in this source tree (e.g. `git archive main` unpacked) "
        "with its default settings, first",
    )
    opts = parser.parse_args()
    meta_path = opts.db.with_suffix(".json")
    if (
        meta_path.exists()
        and opts.db.exists()
        and json.loads(meta_path.read_text())["homes"] == opts.homes
    ):
        end = datetime.fromisoformat(json.loads(meta_path.read_text())["history_end"])
    else:
        opts.db.unlink(missing_ok=True)
        end = prepare(opts.db, opts.homes, opts.days)
    now = end + _SCAN_AFTER
    report: dict[str, Any] = {"homes": opts.homes, "scan": {}}
    runs: list[tuple[str, Path, dict[str, Any]]] = []
    if opts.baseline_src is not None:
        runs.append((f"baseline {opts.baseline_src}", opts.baseline_src, {}))
    runs += [(name, _REPO, v) for name, v in json.loads(opts.variants).items()]
    for name, src, variant in runs:
        _reset(opts.db)
        got = _in_fresh_process(src, measure_scan, opts.db, now, variant, True)
        _reset(opts.db)
        untraced = _in_fresh_process(src, measure_scan, opts.db, now, variant, False)
        got.update({k: untraced[k] for k in ("rss_growth_kb", "rss_kb", "first_pass_s",
                                              "steady_pass_s", "routine_reads")})  # fmt: skip
        report["scan"][name] = got
        print(f"\nscan process, {name} ({variant}): passes {got['first_pass_s']} s, "
              f"{got['steady_pass_s']} s, routines read back {got['routine_reads']}")  # fmt: skip
        for part, size in got["parts"].items():
            print(f"  {part:40s} {_per_home(size, opts.homes):8.1f} B/home")
        print(f"  {'traced by tracemalloc':40s} {_per_home(got['traced'], opts.homes):8.1f} B/home"
              f"  (peak {_per_home(got['traced_peak'], opts.homes)})")  # fmt: skip
        print(f"  {'RSS growth':40s} {_per_home(got['rss_growth_kb'] * 1024, opts.homes):8.1f} "
              f"B/home  (RSS {got['rss_kb'] // 1024} MB)")  # fmt: skip
        for filename, diff in got["top_files"]:
            print(f"    {_per_home(diff, opts.homes):8.1f} B/home  {filename}")
    ingest = _in_fresh_process(_REPO, measure_ingest, opts.db, now)
    by_message = _in_fresh_process(_REPO, measure_ingest, opts.db, now, False)
    ingest["parts"]["ingest kit cache, each kit read at its first message"] = by_message["parts"][
        "ingest kit cache"
    ]
    ingest["rss_growth_kb_each_kit_read_at_its_first_message"] = by_message["rss_growth_kb"]
    report["hub"] = ingest
    alerts = _in_fresh_process(_REPO, measure_alerts_config, opts.db, opts.homes)
    report["alerts_config"] = alerts
    print("\nhub process:")
    for part, size in ingest["parts"].items():
        print(f"  {part:40s} {_per_home(size, opts.homes):8.1f} B/home")
    print(f"  {'RSS growth (kits read at start)':40s} "
          f"{_per_home(ingest['rss_growth_kb'] * 1024, opts.homes):8.1f} B/home")  # fmt: skip
    grown = ingest["rss_growth_kb_each_kit_read_at_its_first_message"]
    print(f"  {'RSS growth (each kit at its message)':40s} "
          f"{_per_home(grown * 1024, opts.homes):8.1f} B/home")  # fmt: skip
    print("\nalerts config, loaded as the hub loads it:")
    for part, size in alerts["parts"].items():
        print(f"  {part:52s} {_per_home(size, opts.homes):8.1f} B/home")
    print(f"  {'RSS growth on loading it':52s} "
          f"{_per_home(alerts['rss_growth_kb'] * 1024, opts.homes):8.1f} B/home")  # fmt: skip
    alerts_path = _write_alerts_config(opts.db, opts.homes)
    print("\nthe scan process as the hub starts it, after 2 passes:")
    sources = [("baseline", opts.baseline_src)] if opts.baseline_src else []
    sources.append(("this tree", _REPO))
    report["scan_process"] = {}
    for name, src in sources:
        _reset(opts.db)
        got = _in_fresh_process(src, measure_scan_process, opts.db, alerts_path, 2)
        report["scan_process"][name] = got
        print(f"  {name:12s} RSS {got['rss_kb'] // 1024} MB (peak {got['peak_rss_kb'] // 1024} MB)"
              f", {_per_home(got['rss_kb'] * 1024, opts.homes)} B/home")  # fmt: skip
    print(json.dumps(report))


if __name__ == "__main__":
    main()
