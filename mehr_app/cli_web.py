"""CLI subcommands of the web app and accounts: `mehr web`, `mehr user`, `mehr registry`."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["register"]

_LOGGER = logging.getLogger(__name__)


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from dashboards.settings import load_web_settings

    return load_web_settings(
        getattr(args, "config", None),
        db_path=getattr(args, "db", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        alerts_config=getattr(args, "alerts_config", None),
    )


def _cmd_web(args: argparse.Namespace) -> int:
    import uvicorn

    from dashboards import create_app

    settings = _settings(args)
    settings.alerts_config_path()  # refuse to start without the alerts config (one line)
    hub = None
    stats = None
    queues: dict[str, Callable[[], int]] = {}
    if args.with_hub is not None:
        # One process for a small district: the hub's counters then feed /metrics directly.
        from hub.config import load_settings
        from hub.service import Hub

        hub = Hub(load_settings(args.with_hub))
        hub.start()
        stats = hub.stats
        if hub.influx is not None:
            queues["influx"] = hub.influx.pending
    try:
        app = create_app(settings, hub_stats=stats, extra_queues=queues)
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="info",
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1",
        )
    finally:
        if hub is not None:
            hub.stop()
    return 0


def _cmd_user_add(args: argparse.Namespace) -> int:
    from dashboards.accounts import AccountError, Passwords, Role, create_user
    from dashboards.db import Database
    from mehr.clock import SystemClock

    settings = _settings(args)
    password = args.password
    if password is None:
        password = getpass.getpass(f"password for {args.username}: ")
    database = Database(settings.database())
    database.prepare()
    conn = database.connect()
    try:
        user = create_user(
            conn,
            Passwords(settings.argon2_time_cost, settings.argon2_memory_kib),
            username=args.username,
            password=password,
            role=Role(args.role),
            now=SystemClock().now(),
            display_name=args.name or "",
            homes=args.home,
            mahallas=args.mahalla,
            all_homes=args.all_homes,
            lang=args.lang,
        )
    except AccountError as exc:
        print(f"mehr user add: {exc}", file=sys.stderr)
        return 2
    finally:
        conn.close()
    print(f"created {user.role.value} {user.username}")
    return 0


def _cmd_registry(args: argparse.Namespace) -> int:
    from dashboards.db import Database
    from dashboards.registry_io import export_rows, import_registry, parse_file, to_csv
    from mehr.clock import SystemClock

    settings = _settings(args)
    database = Database(settings.database())
    database.prepare()
    conn = database.connect()
    try:
        if args.registry_command == "import":
            records = parse_file(args.file.name, args.file.read_bytes())
            report = import_registry(database, conn, records, SystemClock().now())
            print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
            return 1 if report.rejected else 0
        rows = export_rows(conn, args.what, None)
        text = (
            json.dumps(rows, indent=2, ensure_ascii=False)
            if args.format == "json"
            else to_csv(rows, args.what)
        )
        if args.out is None:
            sys.stdout.write(text)
        else:
            args.out.write_text(text, encoding="utf-8")
        return 0
    finally:
        conn.close()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's subcommands to the `mehr` parser."""
    # Literal lists, not imports: building the parser must not load the web stack (the kit runs
    # `mehr edge` with this same parser). tests/dashboards/test_cli.py checks they match.
    roles = ("family", "social_worker", "duty_officer", "supervisor", "installer", "admin")
    exports = ("residents", "alerts", "visits")
    langs = ("uz", "ru", "en")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, help="web settings YAML")
        p.add_argument("--db", type=Path, help="override db_path")

    web = sub.add_parser("web", help="serve the dashboards and the JSON API")
    common(web)
    web.add_argument("--host")
    web.add_argument("--port", type=int)
    web.add_argument(
        "--alerts-config",
        type=Path,
        metavar="ALERTS_YAML",
        help="the district's alerts YAML (the hub's alerts_config); required outside the demo",
    )
    web.add_argument(
        "--with-hub",
        type=Path,
        metavar="HUB_YAML",
        help="also run the hub in this process (its counters feed /metrics)",
    )
    web.set_defaults(func=_cmd_web)

    user = sub.add_parser("user", help="web accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create an account")
    common(add)
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=roles)
    add.add_argument("--password", help="(prompted when omitted; avoid on shared machines)")
    add.add_argument("--name", help="display name")
    add.add_argument("--home", action="append", default=[], help="home id (family); repeat")
    add.add_argument("--mahalla", action="append", default=[], help="mahalla (workers); repeat")
    add.add_argument("--all-homes", action="store_true", help="the whole district")
    add.add_argument("--lang", default="uz", choices=langs)
    add.set_defaults(func=_cmd_user_add)

    reg = sub.add_parser("registry", help="import residents, export residents/alerts/visits")
    reg_sub = reg.add_subparsers(dest="registry_command", required=True)
    imp = reg_sub.add_parser("import", help="load a CSV or JSON registry file")
    common(imp)
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=_cmd_registry)
    exp = reg_sub.add_parser("export", help="write residents, alerts or visits")
    common(exp)
    exp.add_argument("what", choices=exports)
    exp.add_argument("--format", choices=("csv", "json"), default="csv")
    exp.add_argument("--out", type=Path)
    exp.set_defaults(func=_cmd_registry)
