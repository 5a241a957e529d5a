"""`mehr hub broker-users`: put the hub's broker user and its urgent lane's into Mosquitto's files;
`mehr hub kit-acls`: add the rules this release gives a kit to every kit's ACL section.

Read from hub.yaml, so the broker gets exactly the users the hub will connect as: `mqtt_username`
and, when set, `mqtt_urgent_username` (the shipped hub.yaml sets `mehr-hub-urgent`), both with the
password in `mqtt_password_file` and the hub's ACL block. Each file is replaced atomically with
the owner and mode it had (hub/broker_auth.py); running it again replaces these users' lines and
blocks and keeps every other (the kits').
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mehr.configfile import ConfigError

__all__ = ["cmd_broker_users", "cmd_kit_acls", "register", "write_hub_broker_users"]


def write_hub_broker_users(
    config: Path, passwd_file: Path, acl_file: Path, broker_user: str = "mosquitto"
) -> dict[str, Any]:
    """Write the users of the hub configured in `config` into the broker's password and ACL files.

    Raises ConfigError (naming the file and the field) when hub.yaml has no broker user or no
    password to give it.
    """
    from hub.broker_auth import (
        acl_text,
        hub_broker_users,
        password_line,
        replace_broker_file,
        with_acl_block,
        with_password_line,
    )
    from hub.config import load_settings

    settings = load_settings(config)
    if not settings.mqtt_username:
        raise ConfigError(f"{config}: mqtt_username: set the hub's broker user (e.g. mehr-hub)")
    password = settings.broker_password()
    if not password:
        raise ConfigError(
            f"{config}: mqtt_password_file: set the file holding the hub's broker password"
        )
    users = hub_broker_users(settings.mqtt_username, password, settings.mqtt_urgent_username)
    passwords = passwd_file.read_text(encoding="utf-8") if passwd_file.exists() else ""
    acl = acl_file.read_text(encoding="utf-8") if acl_file.exists() else ""
    for user in users:
        passwords = with_password_line(
            passwords, user.username, password_line(user.username, user.password)
        )
        acl = with_acl_block(acl, user.username, acl_text([user]))
    replace_broker_file(passwd_file, passwords, broker_user)
    replace_broker_file(acl_file, acl, broker_user)
    return {
        "hub_user": settings.mqtt_username,
        "urgent_lane_user": settings.mqtt_urgent_username,
        "broker_passwd_file": str(passwd_file),
        "broker_acl_file": str(acl_file),
        "acl": list(users[0].rules),
    }


def cmd_broker_users(args: argparse.Namespace) -> int:
    """Run `mehr hub broker-users`: write the files, say what was written and what is next."""
    from hub.broker_auth import BrokerFileError, urgent_lane_username

    try:
        result = write_hub_broker_users(
            args.config, args.passwd_file, args.acl_file, args.broker_user
        )
    except (ConfigError, BrokerFileError) as exc:
        print(f"mehr hub broker-users: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
        return 0
    lane = result["urgent_lane_user"]
    names = result["hub_user"] + (f" and {lane} (its urgent lane)" if lane else "")
    print(f"wrote {names} to {result['broker_passwd_file']} and {result['broker_acl_file']}")
    if lane is None:
        print(
            f"no urgent lane: {args.config} does not set mqtt_urgent_username; recommended: "
            f"mqtt_urgent_username: {urgent_lane_username(result['hub_user'])} "
            "(then run this again)"
        )
    print("then: systemctl reload mosquitto (it re-reads both files)")
    return 0


def cmd_kit_acls(args: argparse.Namespace) -> int:
    """Run `mehr hub kit-acls`: add the missing kit rules to the kits' sections of the ACL file.

    For an upgrade that gives kits a new topic (this release's `urgent`): kits provisioned
    before it keep working on their old rules, and gain the new ones here, with no new password.
    """
    from hub.broker_auth import BrokerFileError, replace_broker_file, with_kit_blocks_refreshed

    acl_file: Path = args.acl_file
    try:
        # Bytes, not read_text: universal newlines would hide CR LF, which Mosquitto reads badly.
        text, changed = with_kit_blocks_refreshed(acl_file.read_bytes().decode("utf-8"))
        if changed:
            replace_broker_file(acl_file, text, args.broker_user)
    except (OSError, ValueError, BrokerFileError) as exc:
        print(f"mehr hub kit-acls: {acl_file}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"broker_acl_file": str(acl_file), "kits_given_rules": changed}))
        return 0
    print(f"added the missing rules to the ACL sections of {len(changed)} kits in {acl_file}")
    if changed:
        print("then: systemctl reload mosquitto (it re-reads the file)")
    return 0


def register(hub_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mehr hub broker-users` and `mehr hub kit-acls` under `mehr hub`."""
    users = hub_sub.add_parser(
        "broker-users",
        help="write the hub's broker user and its urgent lane's into Mosquitto's files",
    )
    # Its own --config (after the subcommand), required: `mehr hub --config` is the hub's run.
    users.add_argument("--config", type=Path, required=True, help="the hub's hub.yaml")
    users.add_argument("--passwd-file", type=Path, required=True,
                       help="Mosquitto password file to update, e.g. /etc/mosquitto/mehr.passwd")
    users.add_argument("--acl-file", type=Path, required=True,
                       help="Mosquitto ACL file to update, e.g. /etc/mosquitto/mehr.acl")
    users.add_argument("--broker-user", default="mosquitto",
                       help="the user Mosquitto runs as: owner of new password/ACL files")
    users.add_argument("--json", action="store_true")
    kit_acls = hub_sub.add_parser(
        "kit-acls",
        help="add this release's missing kit rules to every kit's section of the ACL file",
    )
    kit_acls.add_argument("--acl-file", type=Path, required=True,
                          help="Mosquitto ACL file to update, e.g. /etc/mosquitto/mehr.acl")
    kit_acls.add_argument("--broker-user", default="mosquitto",
                          help="the user Mosquitto runs as, if the file must be made anew")
    kit_acls.add_argument("--json", action="store_true")
