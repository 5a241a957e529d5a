"""The `mehr` command: hub, edge, simulate, demo, eval, train and the installer's tools.

Subcommands import their packages lazily, so `mehr edge` on a Raspberry Pi never loads the hub.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from mehr.configfile import DEFAULT_TIME_ZONE, ConfigError
from mehr_app.cli_database import hub_database
from mehr_app.cli_language import CLI_LANGUAGES, choose_language

__all__ = ["main"]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


# -- hub ----------------------------------------------------------------------------------------


def _cmd_hub(args: argparse.Namespace) -> int:
    from hub.config import load_settings
    from hub.service import Hub, HubStartError

    if args.hub_command == "stats":
        return _cmd_hub_stats(args)
    if args.hub_command == "broker-users":
        from mehr_app.cli_hub_broker import cmd_broker_users

        return cmd_broker_users(args)
    if args.hub_command == "kit-acls":
        from mehr_app.cli_hub_broker import cmd_kit_acls

        return cmd_kit_acls(args)
    settings = load_settings(
        args.config,
        mqtt_url=args.mqtt_url,
        db_path=args.db,
        registry_file=args.registry,
        stats_port=args.stats_port,
        stats_host=args.stats_host,
    )
    hub = Hub(settings)
    try:
        hub.start()
    except HubStartError as exc:
        print(f"mehr hub: {exc}", file=sys.stderr)
        return 1
    logging.getLogger("mehr").info("hub running; stats at %s", hub.stats_url)
    try:
        _wait_for_signal()
    finally:
        hub.stop()
    return 0


def _cmd_hub_stats(args: argparse.Namespace) -> int:
    try:
        with urllib.request.urlopen(args.url, timeout=5) as response:  # noqa: S310 - operator URL
            body = json.load(response)
    except (urllib.error.URLError, OSError) as exc:
        print(f"mehr hub stats: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2))
    return 0


# -- demo (simulate and replay live in mehr_app.cli_sim) -------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    from mehr_app.demo import run_demo

    return run_demo(args.seconds, args.json, args.workdir, sys.stdout)


# -- detectors ----------------------------------------------------------------------------------


def _cmd_eval(args: argparse.Namespace) -> int:
    from mehr_app.evaluation import falls

    if args.folds:
        result = falls.cross_validate(
            args.sisfall, rate_hz=args.rate, folds=args.folds, rotate=args.rotate, seed=args.seed
        )
    else:
        result = falls.evaluate(args.sisfall, rate_hz=args.rate, rotate=args.rotate, seed=args.seed)
    print(json.dumps(result, indent=2 if args.pretty else None))
    return 0


def _cmd_eval_inactivity(args: argparse.Namespace) -> int:
    from mehr_app.evaluation.casas_home import load_casas_home
    from mehr_app.evaluation.inactivity import evaluate_inactivity
    from mehr_app.evaluation.ordonez import load_ordonez_home

    if args.ordonez is not None:
        if args.home is None:
            raise SystemExit("--ordonez needs --home A or B")
        recording = load_ordonez_home(args.ordonez, args.home)
    elif args.casas is not None:
        recording = load_casas_home(args.casas, args.mapping)
    else:
        raise SystemExit("give a recorded home: --casas FILE or --ordonez DIR --home A|B")
    prior = None
    if args.prior_home is not None:
        # Leave-one-home-out: the population prior from another home, the routine from this one.
        from detectors.pooling import population_prior
        from detectors.routine import ActivityEvents, default_prior, home_silence_stats

        if args.ordonez is None:
            raise SystemExit("--prior-home needs --ordonez")
        other = load_ordonez_home(args.ordonez, args.prior_home)
        stats = home_silence_stats(
            ActivityEvents(other.times_s, other.places, other.kinds, other.rooms, 0.0),
            float(other.times_s[-1]),
        )
        stacked = type(stats)(
            stats.count[None], stats.excess_s[None], stats.days.reshape(1), stats.present[None]
        )
        prior = population_prior(stacked, default_prior())
    result = evaluate_inactivity(
        recording,
        prior=prior,
        train_days=args.train_days,
        incidents=args.incidents,
        seed=args.seed,
        answer_rate=args.answer_rate,
        ask_first=not args.no_ask_first,
        absence_days=args.absence_days,
    )
    print(json.dumps(result, indent=2 if args.pretty else None))
    return 0


def _moment(text: str, zone: tzinfo, end_of_day: bool = False) -> datetime:
    """A date (a whole local day) or an ISO 8601 time; without an offset it is the district's
    local time, exactly as the web report reads `from`/`to`."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if end_of_day and len(text) == 10:
        moment += timedelta(days=1)
    return moment


def _district_zone(alerts_config: Path | None) -> tzinfo:
    """The district's time zone from its alerts YAML (as the web app reads it), else the
    default district zone."""
    from zoneinfo import ZoneInfo

    from hub.alerts.config import District, load_alerts_config

    if alerts_config is None:
        return ZoneInfo(District.model_fields["timezone"].get_default())
    return ZoneInfo(load_alerts_config(alerts_config).district.timezone)


def _cmd_report_response(args: argparse.Namespace) -> int:
    from hub.alerts.report import response_report
    from hub.persistence.schema_alerts import migrate_alerts
    from hub.persistence.sqlite_store import open_store

    zone = _district_zone(args.alerts_config)
    start, end = _moment(args.start, zone), _moment(args.end, zone, end_of_day=True)
    store = open_store(args.db)  # brings the schema up to date before reading
    try:
        migrate_alerts(store.connection, store.source)
        report = response_report(store.connection, start, end)
    finally:
        store.close()
    print(json.dumps(report, indent=2 if args.pretty else None, ensure_ascii=False))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from mehr_app.evaluation import falls

    result = falls.train(args.sisfall, out=args.out, rate_hz=args.rate)
    print(json.dumps(result, indent=2))
    return 0


# -- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser for all subcommands."""
    parser = argparse.ArgumentParser(prog="mehr", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--lang",
        dest="language",
        choices=CLI_LANGUAGES,
        help="language of the installer's commands (kit, edge --check); default: $MEHR_LANG, "
        "else LC_ALL/LC_MESSAGES/LANG if uz, ru or en, else uz. Developer commands speak English",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    _add_hub(sub)
    _add_demo(sub)
    _add_eval(sub)
    _add_report(sub)
    _add_train(sub)

    from mehr_app import cli_backup, cli_certs, cli_edge, cli_sim, cli_web

    cli_backup.register(sub)
    cli_certs.register(sub)
    cli_edge.register(sub)
    cli_sim.register(sub)
    cli_web.register(sub)
    return parser


def _add_hub(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hub = sub.add_parser("hub", help="run the hub (ingest, store, alerts)")
    hub.add_argument("--config", type=Path, help="hub settings YAML")
    hub.add_argument("--mqtt-url", help="override mqtt_url")
    hub.add_argument("--db", type=Path, help="override db_path")
    hub.add_argument("--registry", type=Path, help="override registry_file")
    hub.add_argument("--stats-port", type=int, help="override stats_port (0: any free port)")
    hub.add_argument("--stats-host", help="override stats_host (0.0.0.0 in a container)")
    hub_sub = hub.add_subparsers(dest="hub_command")
    stats = hub_sub.add_parser("stats", help="print a running hub's counters")
    stats.add_argument("--url", default="http://127.0.0.1:8787/stats")
    from mehr_app import cli_hub_broker

    cli_hub_broker.register(hub_sub)
    hub.set_defaults(func=_cmd_hub, hub_command=None)


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="embedded broker + hub + three simulated homes")
    demo.add_argument(
        "--for",
        dest="seconds",
        type=float,
        default=None,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    demo.add_argument("--json", action="store_true", help="print one JSON summary at the end")
    demo.add_argument("--workdir", type=Path, default=Path(".demo"))
    demo.set_defaults(func=_cmd_demo)


def _add_eval(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ev = sub.add_parser("eval", help="evaluate detectors on recorded data")
    ev_sub = ev.add_subparsers(dest="what", required=True)
    ev_falls = ev_sub.add_parser("falls", help="fall detection on SisFall (original layout)")
    ev_falls.add_argument("--sisfall", type=Path, required=True)
    ev_falls.add_argument("--rate", type=float, default=50.0, help="resample to this rate (Hz)")
    ev_falls.add_argument(
        "--rotate",
        choices=["random"],
        default=None,
        help="also report figures under random 3-D rotations of the recordings",
    )
    ev_falls.add_argument("--seed", type=int, default=0, help="seed of the random rotations")
    ev_falls.add_argument(
        "--folds",
        type=int,
        default=0,
        help="leave-subjects-out cross-validation with this many folds (0: shipped parameters)",
    )
    ev_falls.add_argument("--pretty", action="store_true")
    ev_falls.set_defaults(func=_cmd_eval)
    _add_eval_inactivity(ev_sub)


def _add_eval_inactivity(ev_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ev_ina = ev_sub.add_parser(
        "inactivity", help="silence rules on a recorded home (CASAS or Ordonez format)"
    )
    home_src = ev_ina.add_mutually_exclusive_group(required=True)
    home_src.add_argument("--casas", type=Path, help="CASAS event file")
    home_src.add_argument("--ordonez", type=Path, help="directory of the Ordonez files")
    ev_ina.add_argument("--home", choices=["A", "B"], help="which Ordonez home")
    ev_ina.add_argument(
        "--prior-home",
        choices=["A", "B"],
        help="learn the population prior from this other Ordonez home (leave-one-home-out)",
    )
    ev_ina.add_argument("--mapping", type=Path, help="YAML: sensor name -> room, kind")
    ev_ina.add_argument("--train-days", type=float, default=14.0)
    ev_ina.add_argument("--incidents", type=int, default=50)
    ev_ina.add_argument("--seed", type=int, default=0)
    ev_ina.add_argument(
        "--answer-rate", type=float, default=0.95, help="share of check-in prompts answered"
    )
    ev_ina.add_argument(
        "--no-ask-first", action="store_true", help="page a worker at once (no check-in prompt)"
    )
    ev_ina.add_argument(
        "--absence-days", type=float, default=3.0, help="length of the injected absence"
    )
    ev_ina.add_argument("--pretty", action="store_true")
    ev_ina.set_defaults(func=_cmd_eval_inactivity)


def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rep = sub.add_parser("report", help="reports for the district")
    rep_sub = rep.add_subparsers(dest="what", required=True)
    resp = rep_sub.add_parser(
        "response", help="time to notify, acknowledge and arrive, per mahalla, vs. targets"
    )
    resp.add_argument(
        "--db", type=hub_database, required=True,
        help="the hub's SQLite database, or its postgresql:// URL",
    )
    resp.add_argument(
        "--from", dest="start", required=True, help="date or ISO time (district local time)"
    )
    resp.add_argument("--to", dest="end", required=True, help="date (inclusive) or ISO time")
    resp.add_argument(
        "--alerts-config",
        type=Path,
        default=os.environ.get("MEHR_ALERTS_CONFIG"),
        help="the district's alerts YAML, for its time zone (default: $MEHR_ALERTS_CONFIG, "
        f"else {DEFAULT_TIME_ZONE})",
    )
    resp.add_argument("--pretty", action="store_true")
    resp.set_defaults(func=_cmd_report_response)


def _add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tr = sub.add_parser("train", help="fit detector parameters that ship in the package")
    tr_sub = tr.add_subparsers(dest="what", required=True)
    tr_falls = tr_sub.add_parser("falls", help="fit the fall classifier on SisFall")
    tr_falls.add_argument("--sisfall", type=Path, required=True)
    tr_falls.add_argument("--out", type=Path, default=None)
    tr_falls.add_argument("--rate", type=float, default=50.0)
    tr_falls.set_defaults(func=_cmd_train)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mehr` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.language = choose_language(args.language, os.environ)
    except ValueError as exc:
        parser.error(str(exc))
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"mehr: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
