"""`mehr certs ca|server|kit`: issue the district's CA, the broker's server certificate and
per-kit client certificates (mehr_app.pki does the work; imported only when the command runs, so
`mehr edge` on a kit never loads `cryptography`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def _cmd_certs(args: argparse.Namespace) -> int:
    from mehr_app.pki import CA_DAYS, LEAF_DAYS, CertError, issue_ca, issue_kit, issue_server

    try:
        if args.what == "ca":
            path = issue_ca(args.dir, args.name, args.days or CA_DAYS)
        elif args.what == "server":
            path = issue_server(args.dir, args.dns, args.ip, args.days or LEAF_DAYS)
        else:
            path = issue_kit(args.dir, args.home, args.kit, args.days or LEAF_DAYS)
    except CertError as exc:
        print(f"mehr certs: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path} and {path.with_suffix('.key')}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mehr certs ca|server|kit` to the `mehr` command."""
    certs = sub.add_parser("certs", help="issue the district CA, broker and kit certificates")
    what = certs.add_subparsers(dest="what", required=True)
    ca = what.add_parser("ca", help="create the district's CA (once)")
    ca.add_argument("--name", default="Mehr district CA", help="the CA's common name")
    server = what.add_parser("server", help="the broker's TLS certificate")
    server.add_argument("--dns", action="append", default=[], help="a DNS name (repeat)")
    server.add_argument("--ip", action="append", default=[], help="an IP address (repeat)")
    kit = what.add_parser("kit", help="one kit's client certificate")
    kit.add_argument("--home", required=True, help="the kit's home id")
    kit.add_argument("--kit", required=True, help="the kit id (its broker user name)")
    for parser in (ca, server, kit):
        parser.add_argument("--dir", type=Path, required=True, help="e.g. /etc/mehr/pki")
        parser.add_argument("--days", type=int, default=None, help="validity in days")
        parser.set_defaults(func=_cmd_certs)
