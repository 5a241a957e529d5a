"""CLI subcommands of the simulators: `mehr simulate …` and `mehr replay`."""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from mehr.configfile import DEFAULT_TIME_ZONE

__all__ = ["register"]


def _broker_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--mqtt-v5", action="store_true")


def _cmd_simulate(args: argparse.Namespace) -> int:
    if args.sim_command == "scenario":
        return _cmd_scenario(args)
    if args.compare is not None:
        return _cmd_compare(args)
    if args.export is not None:
        return _cmd_export(args)
    return _cmd_live(args)


def _cmd_live(args: argparse.Namespace) -> int:
    """The demo homes in real time (what `mehr simulate` did before the simulators issue)."""
    from simulators.demo_homes import DEMO_HOMES, run_home
    from simulators.simple_kit import SimpleKit

    parts = urlsplit(args.mqtt_url)
    homes = DEMO_HOMES[: args.homes]
    stop = threading.Event()
    log: list[str] = []
    kits = []
    for home in homes:
        kit = SimpleKit(
            home.home_id,
            home.kit_id,
            parts.hostname or "127.0.0.1",
            parts.port or 1883,
            username=args.username,
            password=args.password,
            mqtt_v5=args.mqtt_v5,
        )
        kit.connect()
        kits.append(kit)
        threading.Thread(target=run_home, args=(home, kit, stop, log), daemon=True).start()
    stop.wait(args.seconds)
    stop.set()
    for kit in kits:
        kit.close()
    print(json.dumps({"events_sent": sum(k.seq for k in kits), "incidents": log}))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs in the dev extra

    from simulators.casas import write_casas
    from simulators.home import HomeLayout, HomeSimulator, SensorPhysics
    from simulators.resident import ResidentProfile

    fmt, out = args.export
    days = args.days or 30
    if fmt != "casas":
        print(f"mehr simulate: unknown export format {fmt!r} (expected casas)", file=sys.stderr)
        return 2
    if args.kit_config is not None:
        from edge.config import load_kit_config

        layout = HomeLayout.from_kit_config(load_kit_config(args.kit_config))
    else:
        layout = HomeLayout.standard(args.home, f"{args.home}-kit", occupancy=args.mats)
    profile = ResidentProfile(
        seed=args.seed,
        drift_wake_min_per_week=args.drift_wake_min,
        drift_night_visits_per_week=args.drift_night_visits,
    )
    sim = HomeSimulator(layout, profile, SensorPhysics())
    started = time.perf_counter()
    written = 0
    with Path(out).open("w", encoding="utf-8") as fh:
        for day in tqdm(range(days), desc="days", unit="day", disable=args.quiet):
            written += write_casas(sim.day(day), fh, layout.tz)
    summary = {
        "file": str(out),
        "home": layout.home_id,
        "days": days,
        "seed": args.seed,
        "events": written,
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(summary))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    """A simulated home next to a recorded one (figures in docs/simulators.md)."""
    from simulators.compare import compare, figures, format_table, simulate_like, whole_days
    from simulators.ordonez import OrdonezError, read_casas_home, read_ordonez

    source: Path = args.compare
    try:
        if args.format == "ordonez":
            if args.home not in ("A", "B"):
                print("mehr simulate: --format ordonez needs --home A or B", file=sys.stderr)
                return 2
            real = read_ordonez(source, args.home)
        else:
            real = read_casas_home(source)
        lo, hi = whole_days(real.activations)
    except (OSError, ValueError) as exc:
        kind = "" if isinstance(exc, OrdonezError) else f"{source}: "
        print(f"mehr simulate: {kind}{exc}", file=sys.stderr)
        return 2
    days = args.days or 60
    acts, sim_lo, sim_hi, profile = simulate_like(real, args.seed, days, fit=not args.no_fit)
    real_fig, sim_fig = figures(real.activations, lo, hi), figures(acts, sim_lo, sim_hi)
    rows = compare(real_fig, sim_fig)
    if args.json:

        def number(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 4)  # KS rows have no simulated value

        report = {
            "real": {"name": real.name, "days": real_fig.days},
            "simulated": {"days": sim_fig.days, "seed": args.seed, "fitted": not args.no_fit},
            "rows": [
                {"figure": r.figure, "real": number(r.real), "sim": number(r.sim), "note": r.note}
                for r in rows
            ],
        }
        print(json.dumps(report, allow_nan=False))
        return 0
    print(f"{real.name}: {real_fig.days} days; simulated: {sim_fig.days} days, seed {args.seed}, "
          f"{'habits fitted to the real home' if not args.no_fit else 'default habits'}")
    print(f"resident: bed {profile.bed_h % 24:.1f} h, wake {profile.wake_h:.1f} h, sits "
          f"{profile.sit_median_min:.0f} min (median, spread {profile.sit_spread:.2f}, share "
          f"{profile.sit_share:.2f}, off the mat {profile.off_mat_share:.2f}), "
          f"out on {profile.outing_weekday_p:.0%} of days "
          f"(+{profile.outings_extra:.1f}, {profile.outing_mean_h:.1f} h), "
          f"{profile.night_visits:.1f} night visits")
    print(format_table(rows, real.name, "simulated"))
    return 0


def _cmd_scenario(args: argparse.Namespace) -> int:
    from mehr_app.scenario_runner import BrokerAccess, format_report, local_broker, run_scenario

    reports = []
    for path in args.files:
        if args.mqtt_url:
            parts = urlsplit(args.mqtt_url)
            broker = BrokerAccess(
                parts.hostname or "127.0.0.1",
                parts.port or 1883,
                v5=args.mqtt_v5,
                hub_username=args.username,
                hub_password=args.password,
            )
            report = run_scenario(path, broker, args.workdir, progress=not args.json)
        else:
            with local_broker((args.workdir or Path(".scenario")) / "broker") as broker:
                report = run_scenario(path, broker, args.workdir, progress=not args.json)
        reports.append(report)
        if not args.json:
            print(format_report(report))
    if args.json:
        print(json.dumps([r.to_dict() for r in reports]))
    return 0 if all(r.passed for r in reports) else 1


def _cmd_replay(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from tqdm import tqdm

    from simulators.casas import load_mapping, read_casas
    from simulators.replay import plan_replay, replay
    from simulators.simple_kit import SimpleKit

    if args.format != "casas":
        print(f"mehr replay: unknown format {args.format!r} (expected casas)", file=sys.stderr)
        return 2
    mapping = load_mapping(args.mapping) if args.mapping else None
    plan = plan_replay(read_casas(args.file), ZoneInfo(args.timezone), mapping)
    if args.print_sensors:
        sensors = {sid: {"kind": k.value, "room": r} for sid, (k, r) in plan.sensors.items()}
        print(json.dumps(sensors, indent=2))
        return 0
    parts = urlsplit(args.mqtt_url)
    kit = SimpleKit(
        args.home,
        args.kit or f"{args.home}-kit",
        parts.hostname or "127.0.0.1",
        parts.port or 1883,
        username=args.username,
        password=args.password,
        mqtt_v5=args.mqtt_v5,
    )
    kit.connect()
    started = time.perf_counter()
    with tqdm(total=len(plan.events), unit="ev", disable=args.quiet) as bar:
        sent = replay(plan, kit, speed=args.speed, progress=bar.update)
    kit.close()
    print(
        json.dumps(
            {
                "home": args.home,
                "events_sent": sent,
                "skipped": dict(plan.skipped),
                "sensors": len(plan.sensors),
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's subcommands to the `mehr` parser."""
    sim = sub.add_parser(
        "simulate",
        help="simulated homes: live demo homes, CASAS export, or a scenario end to end",
        description="Without --export: publish the demo homes live to a broker. With --export "
        "casas FILE: write N simulated days of one home in the CASAS format. `mehr simulate "
        "scenario FILE`: run a scenario through a broker and a real hub.",
    )
    _broker_args(sim)
    sim.add_argument("--homes", type=int, default=3, choices=range(1, 4), help="live demo homes")
    sim.add_argument("--for", dest="seconds", type=float, default=30.0, help="live: seconds")
    sim.add_argument(
        "--days", type=int, default=None, help="days to simulate (export: 30; compare: 60)"
    )
    sim.add_argument("--seed", type=int, default=0, help="export: the resident's seed")
    sim.add_argument(
        "--mats",
        action="store_true",
        help="export: the standard home with seat and bed mats and a flush sensor",
    )
    sim.add_argument(
        "--export", nargs=2, metavar=("FORMAT", "FILE"), help="write days as FORMAT (casas)"
    )
    sim.add_argument(
        "--home", default="home-1", help="export: home id; compare --format ordonez: A or B"
    )
    sim.add_argument("--kit-config", type=Path, help="export: rooms and sensors from a kit YAML")
    sim.add_argument("--drift-wake-min", type=float, default=0.0, help="minutes later per week")
    sim.add_argument("--drift-night-visits", type=float, default=0.0, help="more per week")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.add_argument(
        "--compare",
        type=Path,
        metavar="REAL_HOME",
        help="print a simulated home next to a recorded one (a directory for --format ordonez, "
        "a file for casas)",
    )
    sim.add_argument("--format", default="ordonez", choices=["ordonez", "casas"])
    sim.add_argument("--no-fit", action="store_true", help="compare: the default resident")
    sim.add_argument("--json", action="store_true", help="compare: one JSON object")
    sim_sub = sim.add_subparsers(dest="sim_command")
    scen = sim_sub.add_parser("scenario", help="run scenario files end to end (broker + hub)")
    scen.add_argument("files", nargs="+", type=Path)
    scen.add_argument(
        "--mqtt-url",
        default=None,
        help="an existing broker (default: a throwaway Mosquitto, else the embedded broker)",
    )
    scen.add_argument("--username", help="hub user on --mqtt-url")
    scen.add_argument("--password", help="hub password on --mqtt-url")
    scen.add_argument("--mqtt-v5", action="store_true")
    scen.add_argument("--workdir", type=Path, default=None, help="keep the hub database here")
    scen.add_argument("--json", action="store_true", help="print one JSON list at the end")
    sim.set_defaults(func=_cmd_simulate, sim_command=None)

    rep = sub.add_parser("replay", help="publish a recorded home (CASAS) through MQTT as a kit")
    rep.add_argument("file", type=Path)
    rep.add_argument("--format", default="casas", choices=["casas"])
    rep.add_argument("--home", required=True, help="home id to publish as")
    rep.add_argument("--kit", help="kit id (default: HOME-kit)")
    rep.add_argument("--speed", type=float, default=0.0, help="x real time (0: at once)")
    rep.add_argument("--mapping", type=Path, help="YAML: sensor name -> room, kind (and id)")
    rep.add_argument("--timezone", default=DEFAULT_TIME_ZONE, help="the recording's local zone")
    rep.add_argument(
        "--print-sensors", action="store_true", help="print the sensors to register, do not send"
    )
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    _broker_args(rep)
    rep.set_defaults(func=_cmd_replay)
