"""CLI subcommands of the kit: `mehr edge` (the agent) and `mehr kit` (the installer's tools).

`mehr edge` imports only edge/ (it runs on the Pi). `mehr kit provision|check|report` run on the
hub machine and import the hub lazily, inside the command functions.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import secrets
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast
from zoneinfo import ZoneInfo

from mehr.clock import Clock, SystemClock
from mehr.configfile import DEFAULT_TIME_ZONE, ConfigError
from mehr.files import replace_file
from mehr_app.cli_database import hub_database
from mehr_app.cli_language import Say, speaker

if TYPE_CHECKING:
    from edge.config import KitConfig
    from edge.walktest import WalkReport, WalkTest
    from hub.broker_auth import BrokerUser
    from hub.store.base import KitRecord, Store
    from mehr_app.broker_check import BrokerCheck

__all__ = ["provision_kit", "register", "run_walk_test"]

_LOGGER = logging.getLogger("mehr.kit")
# Exit status of an installer command whose broker check failed (2 is a config error).
EXIT_BROKER = 3


class NoHubDatabase(ConfigError):
    """`--hub-db` names no database: a mistyped path would register the kit nowhere."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(message)
        self.path = path


class BrokerCheckFailed(Exception):
    """The broker check before a change said no; `check` says what it found."""

    def __init__(self, check: BrokerCheck) -> None:
        super().__init__(check.line)
        self.check = check


# -- mehr edge ----------------------------------------------------------------------------------


def _cmd_edge(args: argparse.Namespace) -> int:
    import signal

    from edge.agent import EdgeAgent
    from edge.config import load_kit_config
    from edge.link import EdgeError
    from edge.systemd import Notifier

    config = load_kit_config(args.config)
    if args.check:
        say = _edge_speaker(args.language)
        print(say("cli_edge_config_ok", path=args.config, n=len(config.sensors), kit=config.kit_id))
        if args.config_only:
            return 0
        from mehr_app.broker_check import check_kit_broker

        check = check_kit_broker(config)
        print(say("cli_edge_broker", line=_broker_line(check, say)),
              file=sys.stdout if check.ok else sys.stderr)
        return 0 if check.ok else EXIT_BROKER
    notifier = Notifier()
    agent = EdgeAgent(config, watchdog=notifier if notifier.enabled else None)
    try:
        agent.start()
    except EdgeError as exc:
        print(f"mehr edge: {args.config}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # gpiozero pin errors and the like: one line, non-zero, no half-run
        print(f"mehr edge: cannot start kit {config.kit_id}: {exc}", file=sys.stderr)
        return 1
    notifier.ready()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    notifier.stopping()
    agent.stop()
    return 0


# The two lines `mehr edge --check` prints, for a kit that has no Babel (the Pi installs only
# the edge extra): there it speaks English, as the kit's logs do. Same texts as en.po.
_EDGE_ENGLISH = {
    "cli_edge_config_ok": "{path}: OK ({n} sensors, kit {kit})",
    "cli_edge_broker": "mehr edge: {line}",
}


def _edge_speaker(lang: str) -> Say:
    """The catalogue in `lang` where Babel is installed (the hub machine), else English."""
    try:
        return speaker(lang)
    except ImportError:

        def english(key: str, **values: object) -> str:
            return _EDGE_ENGLISH.get(key, key).format(**values)

        return english


def _broker_line(check: BrokerCheck, say: Say) -> str:
    """What the broker check found, in the reader's language (its English line as the fallback)."""
    if check.key is None:
        return check.line
    return say(check.key, **check.values)


# -- mehr kit provision -------------------------------------------------------------------------


def _write_private(path: Path, text: str) -> None:
    replace_file(path, text.encode("utf-8"), mode=0o600)


def provision_kit(
    *,
    home_id: str,
    kit_id: str,
    template: Path,
    hub_db: Path | str,
    broker_url: str,
    out_dir: Path,
    passwd_file: Path | None,
    acl_file: Path | None,
    ca_file: Path | None = None,
    home_name: str = "",
    timezone: str | None = None,
    mahalla: str = "",
    clock: Clock | None = None,
    broker_user: str = "mosquitto",
    before_changes: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Register home and kit at the hub, make broker credentials, write the kit's YAML.

    The broker's password and ACL files are replaced atomically with the owner and mode they
    had (a new file goes to `broker_user`), so Mosquitto can read them after the reload.
    """
    from hub.broker_auth import BrokerUser, kit_acl_rules

    config = _kit_config(template, home_id, kit_id, broker_url, ca_file, timezone)
    if isinstance(hub_db, Path) and not hub_db.is_file():
        raise NoHubDatabase(
            hub_db,
            f"--hub-db {hub_db}: no such database (a mistyped path would register the kit "
            "where the hub never looks); give the hub's database, which `mehr hub` creates"
        )
    if before_changes is not None:
        before_changes()  # the caller's last word (the broker check) before anything is written
    _register_at_hub(hub_db, config, home_name, mahalla, clock or SystemClock())
    password = secrets.token_urlsafe(24)
    kit_yaml = _write_kit_files(out_dir, config, password)
    user = BrokerUser(kit_id, password, kit_acl_rules(home_id, kit_id))
    _update_broker_files(user, passwd_file, acl_file, broker_user)
    return {
        "home": home_id,
        "kit": kit_id,
        "kit_config": str(kit_yaml),
        "password_file": str(out_dir / f"{kit_id}.password"),
        "broker_passwd_file": str(passwd_file) if passwd_file else None,
        "broker_acl_file": str(acl_file) if acl_file else None,
        "sensors": len(config.sensors),
        "acl": list(user.rules),
    }


def _kit_config(
    template: Path,
    home_id: str,
    kit_id: str,
    broker_url: str,
    ca_file: Path | None,
    timezone: str | None,
) -> KitConfig:
    """The template's sensors and settings, with this kit's ids, broker and time zone."""
    from pydantic import ValidationError

    from edge.config import KitConfig
    from mehr.configfile import describe_validation_error, load_model

    base = load_model(template, KitConfig)
    broker: dict[str, Any] = {
        "url": broker_url,
        "password_file": f"{kit_id}.password",
        "insecure_plain_tcp": broker_url.startswith("mqtt://"),
        "protocol": base.broker.protocol,
    }
    if ca_file is not None:
        broker["ca_file"] = str(ca_file)
    data = base.model_dump(mode="json", exclude_none=True)
    data.update(
        home_id=home_id,
        kit_id=kit_id,
        broker=broker,
        timezone=timezone or base.timezone,
    )
    try:
        return KitConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(f"provision {kit_id}", exc)) from None


def _register_at_hub(
    hub_db: Path | str, config: KitConfig, home_name: str, mahalla: str, clock: Clock
) -> None:
    """Register the home with this kit and its sensors in the hub's database."""
    from hub.persistence.sqlite_store import open_store
    from hub.registry import HomeSpec, KitSpec, RiskLevel, SensorSpec

    store = open_store(hub_db)
    try:
        known = store.home(config.home_id)
        # A second kit for a known home, or a kit provisioned again, must not wipe what the
        # district set: without --mahalla the home would leave its workers' view, and the care
        # plan's risk level is never the installer's to change.
        home = HomeSpec(
            id=config.home_id,
            name=home_name or (known.name if known else ""),
            timezone=config.timezone,
            mahalla=mahalla or (known.mahalla if known else ""),
            risk_level=cast(RiskLevel, known.risk_level) if known else "medium",
            kits=[
                KitSpec(
                    id=config.kit_id,
                    sensors=[
                        SensorSpec(id=sensor_id, kind=kind, room=room)
                        for sensor_id, kind, room in config.registered_sensors()
                    ],
                )
            ],
        )
        store.register_home(home, clock.now())
    finally:
        store.close()


def _write_kit_files(out_dir: Path, config: KitConfig, password: str) -> Path:
    """The kit's YAML and its password file (0600), for the installer to copy; the YAML's path."""
    import yaml

    kit_id = config.kit_id
    out_dir.mkdir(parents=True, exist_ok=True)
    kit_yaml = out_dir / f"{kit_id}.yaml"
    header = (
        f"# Mehr kit {kit_id} of home {config.home_id}, made by `mehr kit provision`.\n"
        f"# Copy this file and {kit_id}.password to /etc/mehr/ on the kit.\n"
    )
    body = yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False)
    kit_yaml.write_text(header + body, encoding="utf-8")
    _write_private(out_dir / f"{kit_id}.password", password + "\n")
    return kit_yaml


def _update_broker_files(
    user: BrokerUser, passwd_file: Path | None, acl_file: Path | None, broker_user: str
) -> None:
    """Put the kit's line in the broker's password file and its block in the ACL file."""
    from hub.broker_auth import (
        acl_text,
        password_line,
        replace_broker_file,
        with_acl_block,
        with_password_line,
    )

    kit_id = user.username
    if passwd_file is not None:
        old = passwd_file.read_text(encoding="utf-8") if passwd_file.exists() else ""
        line = password_line(kit_id, user.password)
        replace_broker_file(passwd_file, with_password_line(old, kit_id, line), broker_user)
    if acl_file is not None:
        old = acl_file.read_text(encoding="utf-8") if acl_file.exists() else ""
        replace_broker_file(acl_file, with_acl_block(old, kit_id, acl_text([user])), broker_user)


def _broker_reachable(url: str, ca_file: Path | None) -> Callable[[], None]:
    """Before provisioning writes anything: does the broker the kit will use answer at all?"""

    def check() -> None:
        from mehr_app.broker_check import check_broker

        # The CA path is as the kit will see it; use it here only if it exists here too.
        ca = ca_file if ca_file is not None and ca_file.is_file() else None
        result = check_broker(url, ca_file=ca)
        if not result.ok:
            raise BrokerCheckFailed(result)

    return check


def _cmd_provision(args: argparse.Namespace) -> int:
    from hub.broker_auth import BrokerFileError

    say = speaker(args.language)
    try:
        return _provision_and_report(args, say)
    except BrokerCheckFailed as exc:
        print(say("cli_provision_broker_failed", problem=_broker_line(exc.check, say)),
              file=sys.stderr)
        return EXIT_BROKER
    except NoHubDatabase as exc:
        print(say("cli_provision_no_hub_db", db=exc.path), file=sys.stderr)
        return 2
    except BrokerFileError as exc:
        print(f"mehr kit provision: {exc}", file=sys.stderr)
        return 1


def _provision_and_report(args: argparse.Namespace, say: Say) -> int:
    check = None if args.no_broker_check else _broker_reachable(args.broker_url, args.ca_file)
    result = provision_kit(
        home_id=args.home,
        kit_id=args.kit,
        template=args.template,
        hub_db=args.hub_db,
        broker_url=args.broker_url,
        out_dir=args.out_dir,
        passwd_file=args.passwd_file,
        acl_file=args.acl_file,
        ca_file=args.ca_file,
        home_name=args.home_name,
        timezone=args.timezone,
        mahalla=args.mahalla,
        broker_user=args.broker_user,
        before_changes=check,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(say("cli_provision_registered", kit=args.kit, n=result["sensors"], home=args.home))
        print(say("cli_provision_config", path=result["kit_config"],
                  password=result["password_file"]))
        if args.passwd_file:
            print(say("cli_provision_broker_files", passwd=args.passwd_file, acl=args.acl_file,
                      config=result["kit_config"]))
    return 0


# -- mehr kit check (walk test) -----------------------------------------------------------------


def run_walk_test(
    store: Store,
    kit_id: str,
    *,
    clock: Clock,
    timeout_s: float,
    poll_s: float = 0.5,
    on_fire: Callable[[str, WalkTest], None] | None = None,
    started: threading.Event | None = None,
    cancel: threading.Event | None = None,
) -> WalkReport:
    """Watch the hub's store until every sensor of the kit fired or time is up; return the report.

    A sensor counts when the hub stores a new event of it after the start: that needs no trust
    in the kit's clock, only that the hub stored something new from it.
    """
    from edge.walktest import WalkTest

    kit = store.kit(kit_id)
    if kit is None:
        raise ConfigError(f"kit {kit_id!r}: not registered at the hub; run `mehr kit provision`")

    baseline = store.newest_event_id(kit_id)
    begin = clock.now()
    test = WalkTest(kit.home_id, kit_id, kit.sensors, begin)
    if started is not None:
        started.set()
    deadline = begin + timedelta(seconds=timeout_s)
    waiter = cancel or threading.Event()
    while not test.done and clock.now() < deadline:
        for sensor_id, at in store.sensors_heard_after(kit_id, baseline).items():
            fired = test.observe(sensor_id, at)
            if fired and on_fire is not None:
                on_fire(sensor_id, test)
        if test.done or waiter.wait(poll_s):  # a real pause between polls of the hub's store
            break
    return test.report(clock.now())


def _print_progress(out: TextIO, say: Say) -> Callable[[str, WalkTest], None]:
    def show(sensor_id: str, test: WalkTest) -> None:
        bar = "#" * test.fired + "." * (test.total - test.fired)
        line = say("cli_walk_progress", fired=test.fired, total=test.total, sensor=sensor_id)
        out.write(f"[{bar}] {line}\n")
        out.flush()

    return show


def _kit_connection_problem(kit: KitRecord, kit_config: Path, say: Say) -> str | None:
    """None if the hub sees the kit online; else one line saying what is wrong.

    A kit the hub sees online has working credentials: it is not disturbed. Otherwise the
    broker is checked with the kit's own provisioned credentials (taking its identity for a
    moment, harmless while its agent is not connected) to tell the installer what to fix.
    """
    if kit.availability == "online":
        return None
    state = say("cli_kit_never_connected" if kit.availability is None else "cli_kit_offline")
    if not kit_config.is_file():
        return say("cli_check_no_kit_config", kit=kit.id, state=state)
    from edge.config import load_kit_config
    from mehr_app.broker_check import check_kit_broker

    check = check_kit_broker(load_kit_config(kit_config))
    if not check.ok:
        return say("cli_check_broker_problem", kit=kit.id, state=state,
                   problem=_broker_line(check, say))
    return say("cli_check_agent_down", kit=kit.id, state=state)


def _cmd_check(args: argparse.Namespace) -> int:
    from hub.alerts.testmode import kit_in_test_mode, walk_test_duration_s
    from hub.persistence.sqlite_store import open_store
    from mehr_app.walk_report_text import render_walk_report, sensor_line

    lang = args.language
    say = speaker(lang)
    store = open_store(args.hub_db)
    try:
        kit = store.kit(args.kit)
        if kit is None:
            print(say("cli_kit_not_registered", kit=args.kit, db=args.hub_db), file=sys.stderr)
            return 2
        kit_config = args.kit_config or Path("firmware_configs/provisioned") / f"{kit.id}.yaml"
        problem = _kit_connection_problem(kit, kit_config, say)
        if problem is not None:
            print(say("cli_check_failed", problem=problem), file=sys.stderr)
            return EXIT_BROKER
        print(say("cli_walk_start", kit=args.kit, n=len(kit.sensors),
                  seconds=f"{args.timeout:.0f}"))
        for sid, (kind, room) in sorted(kit.sensors.items()):
            kind_name, room_words = sensor_line(say, lang, kind, room)
            print("  " + say("cli_walk_waiting", sensor=sid, kind=kind_name, room=room_words))
        # Test mode (hub/alerts/testmode.py): presses during the walk test page nobody.
        with kit_in_test_mode(
            args.hub_db, args.kit, f"installer:{getpass.getuser()}", SystemClock(),
            walk_test_duration_s(args.timeout),
        ) as (period, zone):
            end = period.ends_at.astimezone(ZoneInfo(zone)).strftime("%H:%M")
            print(say("cli_test_mode_on", kit=args.kit, end=end, zone=zone))
            report = run_walk_test(
                store, args.kit, clock=SystemClock(), timeout_s=args.timeout, poll_s=args.poll,
                on_fire=_print_progress(sys.stdout, say),
            )
        store.save_commissioning_report(
            args.kit, kit.home_id, report.finished, report.passed, report.to_dict()
        )
    finally:
        store.close()
    print()
    print(json.dumps(report.to_dict()) if args.json
          else render_walk_report(report, say, lang, zone))
    print()
    print(say("cli_report_stored", db=args.hub_db))
    return 0 if report.passed else 1


def _cmd_report(args: argparse.Namespace) -> int:
    from edge.walktest import WalkReport
    from hub.persistence.sqlite_store import open_store
    from mehr_app.walk_report_text import render_walk_report

    lang = args.language
    say = speaker(lang)
    store = open_store(args.hub_db)
    try:
        reports = store.commissioning_reports(args.kit)
        zones = {home.id: home.timezone for home in store.homes()}
    finally:
        store.close()
    if not reports:
        print(say("cli_report_none", kit=args.kit, db=args.hub_db), file=sys.stderr)
        return 1
    report = WalkReport.from_dict(reports[0])
    zone = zones.get(report.home_id, DEFAULT_TIME_ZONE)
    print(render_walk_report(report, say, lang, zone))
    if args.html or args.pdf:  # the handover sheets: household's language, home's local time
        from hub.handover import write_handover

        for path in write_handover(
            args.hub_db, args.kit, args.lang, args.html, args.pdf, args.installer
        ):
            print(say("cli_report_written", path=path))
    return 0 if report.passed else 1


# -- parser -------------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `edge` and `kit` subcommands to the `mehr` parser."""
    edge = sub.add_parser("edge", help="run the kit's agent (on the Raspberry Pi)")
    edge.add_argument("--config", type=Path, required=True, help="kit YAML")
    edge.add_argument("--check", action="store_true",
                      help="validate the config, then check the broker, the kit's credentials "
                           "and its topics; exit (run it before the agent starts)")
    edge.add_argument("--config-only", action="store_true",
                      help="with --check: the config only (systemd's pre-start check, so a kit "
                           "without network still starts and fills its outbox)")
    edge.set_defaults(func=_cmd_edge)

    kit = sub.add_parser("kit", help="installer's tools: provision, walk test, report")
    kit_sub = kit.add_subparsers(dest="kit_command", required=True)

    prov = kit_sub.add_parser("provision", help="register a kit and make its credentials")
    prov.add_argument("--home", required=True)
    prov.add_argument("--kit", required=True)
    prov.add_argument("--template", type=Path, required=True,
                      help="kit YAML whose sensors and outputs this kit has")
    prov.add_argument(
        "--hub-db", type=hub_database, required=True,
        help="the hub's SQLite database, or its postgresql:// URL",
    )
    prov.add_argument("--broker-url", required=True, help="mqtts://broker:8883")
    prov.add_argument("--ca-file", type=Path, help="CA file path as the kit will see it")
    prov.add_argument("--out-dir", type=Path, default=Path("firmware_configs/provisioned"))
    prov.add_argument("--passwd-file", type=Path, help="Mosquitto password file to update")
    prov.add_argument("--acl-file", type=Path, help="Mosquitto ACL file to update")
    prov.add_argument("--home-name", default="")
    prov.add_argument("--timezone")
    prov.add_argument("--mahalla", default="")
    prov.add_argument("--broker-user", default="mosquitto",
                      help="the user Mosquitto runs as: owner of new password/ACL files")
    prov.add_argument("--no-broker-check", action="store_true",
                      help="do not check first that the broker answers (first install)")
    prov.add_argument("--json", action="store_true")
    prov.set_defaults(func=_cmd_provision)

    for name, helptext in (("check", "walk test: fire every sensor, get a pass/fail report"),
                           ("walk-test", "same as check")):
        check = kit_sub.add_parser(name, help=helptext)
        check.add_argument("--kit", required=True)
        check.add_argument("--hub-db", type=hub_database, required=True)
        check.add_argument("--timeout", type=float, default=600.0, help="seconds to wait")
        check.add_argument("--poll", type=float, default=0.5, help="seconds between polls")
        check.add_argument("--json", action="store_true")
        check.add_argument("--kit-config", type=Path,
                           help="the kit's provisioned YAML, to check its broker credentials "
                                "when the hub has not seen the kit online (default: "
                                "firmware_configs/provisioned/<kit>.yaml)")
        check.set_defaults(func=_cmd_check)

    report = kit_sub.add_parser("report", help="print the latest walk-test report of a kit")
    report.add_argument("--kit", required=True)
    report.add_argument("--hub-db", type=hub_database, required=True)
    report.add_argument("--lang", choices=("uz", "ru", "en"), default="uz",
                        help="the household's language for --html/--pdf")
    report.add_argument("--html", type=Path, help="write the printable handover sheet here")
    report.add_argument("--pdf", type=Path, help="write the handover sheet as PDF here")
    report.add_argument("--installer", help="installer's name (default: who ran kit check)")
    report.set_defaults(func=_cmd_report)

