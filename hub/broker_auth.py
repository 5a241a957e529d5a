"""Broker credentials and ACLs: Mosquitto password-file lines and per-kit ACL rules.

Each kit gets its own user that may only write its own home's topics and read its own command
topic; the hub's user reads every kit topic and writes commands, and so does the user of its
urgent lane (`<hub user>-urgent`, same password). Generated here so provisioning, the operator's
set-up (`mehr hub broker-users`), the tests and the deployment docs all use the same rules.
`replace_broker_file` swaps Mosquitto's password or ACL file in one atomic step, owned so that
the broker can still read it after the reload (a file it cannot read after SIGHUP locks every kit
out).
"""

from __future__ import annotations

import base64
import grp
import hashlib
import os
import pwd
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mehr.contract import TOPIC_ROOT, TopicKind, topic_for
from mehr.files import OwnerRefused, replace_file

__all__ = [
    "BrokerFileError",
    "BrokerUser",
    "acl_text",
    "hub_acl_rules",
    "hub_broker_users",
    "kit_acl_rules",
    "kit_check_topic",
    "password_line",
    "replace_broker_file",
    "urgent_lane_username",
    "with_acl_block",
    "with_kit_blocks_refreshed",
    "with_password_line",
]

# Debian's mosquitto drops to this user; the files it re-reads on SIGHUP must be readable by it.
DEFAULT_BROKER_USER = "mosquitto"


class BrokerFileError(OSError):
    """A broker file could not be replaced so that the broker can still read it."""


# Mosquitto 2.0's own format ($7$ = PBKDF2-SHA512); 101 is mosquitto_passwd's default count,
# kept so files we write and files mosquitto_passwd writes are interchangeable.
_PBKDF2_ITERATIONS = 101
_SALT_BYTES = 12


@dataclass(frozen=True, slots=True)
class BrokerUser:
    """One broker account and the topic rules it is allowed."""

    username: str
    password: str
    rules: tuple[str, ...]


def password_line(username: str, password: str, salt: bytes | None = None) -> str:
    """Return one line of a Mosquitto password file for `username`."""
    if ":" in username or not username:
        raise ValueError("broker user names must be non-empty and contain no ':'")
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS)
    salt_b64 = base64.b64encode(salt).decode()
    digest_b64 = base64.b64encode(digest).decode()
    return f"{username}:$7${_PBKDF2_ITERATIONS}${salt_b64}${digest_b64}"


def kit_check_topic(home_id: str, kit_id: str) -> str:
    """Where an installer's check publishes to learn whether the kit's ACL block is in force.

    Outside the contract's root, so no hub ever receives it: Mosquitto 2.0 grants every
    SUBSCRIBE whatever the ACL file says, so only an MQTT 5 PUBACK (0x87 when refused) tells.
    """
    return f"mehr/check/{home_id}/{kit_id}"


def kit_acl_rules(home_id: str, kit_id: str) -> tuple[str, ...]:
    """ACL rules for a kit: publish its own home's kit topics, read its own commands."""
    writes = (
        TopicKind.EVENTS,
        TopicKind.URGENT,
        TopicKind.ACCEL,
        TopicKind.HEARTBEAT,
        TopicKind.AVAILABILITY,
    )
    rules = [f"topic write {topic_for(home_id, kit_id, kind)}" for kind in writes]
    rules.append(f"topic read {topic_for(home_id, kit_id, TopicKind.COMMANDS)}")
    rules.append(f"topic write {kit_check_topic(home_id, kit_id)}")
    return tuple(rules)


def hub_acl_rules() -> tuple[str, ...]:
    """ACL rules for the hub: read every kit topic, send commands to any kit."""
    return (
        f"topic read {TOPIC_ROOT}/#",
        f"topic write {TOPIC_ROOT}/+/kits/+/{TopicKind.COMMANDS.value}",
    )


URGENT_LANE_SUFFIX = "-urgent"


def urgent_lane_username(hub_username: str) -> str:
    """The broker user of a hub's urgent lane: the hub's own name with `-urgent`.

    Named after the hub's user, so with several hubs (`mehr-hub-<hub_id>`) each lane carries its
    hub_id, as hub/config.py demands: two hubs' lanes under one name would take the session from
    each other in turn.
    """
    return f"{hub_username}{URGENT_LANE_SUFFIX}"


def hub_broker_users(
    hub_username: str, password: str, lane_username: str | None
) -> tuple[BrokerUser, ...]:
    """The hub's broker user and, when `lane_username` is set, its urgent lane's user.

    The lane connects with the hub's password (the hub holds one secret) and needs the hub's
    ACL block: it subscribes to the same kit topics and acknowledges what it does not keep.
    """
    users = [BrokerUser(hub_username, password, hub_acl_rules())]
    if lane_username is not None:
        users.append(BrokerUser(lane_username, password, hub_acl_rules()))
    return tuple(users)


def with_password_line(text: str, username: str, line: str) -> str:
    """A Mosquitto password file's text with one user's line replaced (or added)."""
    kept = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(f"{username}:")]
    kept.append(line)
    return "\n".join(kept) + "\n"


def _user_sections(lines: list[str]) -> list[tuple[str, int, int]]:
    """(user, first line, last line) of each user's section of a Mosquitto ACL file, as Mosquitto
    reads it: a `user` line (leading blanks and tabs allowed) starts one, whatever the blank
    lines; `pattern` lines are rules for everyone and end no section. The last line is the
    section's last rule: blank and comment lines before the next section are not its own."""
    starts = [
        (i, words[1])
        for i, words in enumerate(line.split() for line in lines)
        if len(words) >= 2 and words[0] == "user"
    ]
    sections = []
    for n, (first, user) in enumerate(starts):
        last = (starts[n + 1][0] if n + 1 < len(starts) else len(lines)) - 1
        while last > first and (not lines[last].strip() or lines[last].lstrip().startswith("#")):
            last -= 1
        sections.append((user, first, last))
    return sections


def with_acl_block(text: str, username: str, block: str) -> str:
    """A Mosquitto ACL file's text with one user's section replaced (or added at the end).

    Sections are found as Mosquitto finds them (`_user_sections`), not by blank lines: the
    hub's users appended with `tee -a` straight after a kit's rules are their own section.
    Every other line is kept as it is.
    """
    new = block.strip("\n").split("\n")
    if not text.strip():
        return "\n".join(new) + "\n"
    lines = text.rstrip("\n").split("\n")
    for user, first, last in _user_sections(lines):
        if user == username:
            return "\n".join([*lines[:first], *new, *lines[last + 1 :]]) + "\n"
    return "\n".join([*lines, "", *new]) + "\n"


# A rule on one kit's own topic: `topic write mehr/v1/homes/<home>/kits/<kit>/<kind>`.
_KIT_TOPIC_RULE = re.compile(
    rf"^topic\s+(?:read|write|readwrite)\s+{re.escape(TOPIC_ROOT)}/([^/\s]+)/kits/([^/\s]+)/[a-z]+$"
)


def with_kit_blocks_refreshed(text: str) -> tuple[str, list[str]]:
    """A Mosquitto ACL file's text with the rules this release gives a kit added to every kit's
    section, and the kits that gained some.

    Sections are read as Mosquitto reads them (`_user_sections`). A kit's section is one whose
    rules name its own user's topics under one home (which is how the home is known). Only
    missing rules are added, after the section's last rule; no line of the file is changed or
    removed, so a section that is not a kit's (the hub's, its lane's, anyone's) is kept byte for
    byte.
    """
    if "\r" in text:
        raise ValueError("the file has Windows line endings (CR LF); Mosquitto expects LF")
    lines = text.split("\n")
    additions: dict[int, list[str]] = {}  # insert after this line index
    changed: list[str] = []
    for user, first, last in _user_sections(lines):
        rules = [" ".join(line.split()) for line in lines[first + 1 : last + 1]]
        homes = {
            match.group(1)
            for rule in rules
            if (match := _KIT_TOPIC_RULE.match(rule)) and match.group(2) == user
        }
        if len(homes) != 1:
            continue
        missing = [rule for rule in kit_acl_rules(homes.pop(), user) if rule not in rules]
        if missing:
            additions[last] = missing
            changed.append(user)
    out: list[str] = []
    for i, line in enumerate(lines):
        out.append(line)
        out.extend(additions.get(i, []))
    return "\n".join(out), changed


def acl_text(users: Iterable[BrokerUser]) -> str:
    """Render a Mosquitto ACL file granting each user exactly its rules (deny by default)."""
    blocks = []
    for user in users:
        blocks.append("\n".join([f"user {user.username}", *user.rules]))
    return "\n\n".join(blocks) + "\n"


def _owner_for(path: Path, broker_user: str) -> tuple[int, int, int]:
    """(uid, gid, mode) the new file must have: the old file's, else the broker user's 0600."""
    try:
        old = path.stat()
        return old.st_uid, old.st_gid, old.st_mode & 0o777
    except FileNotFoundError:
        pass
    try:
        user = pwd.getpwnam(broker_user)
    except KeyError:
        return os.getuid(), os.getgid(), 0o600  # no such user here: the broker runs as us
    return user.pw_uid, user.pw_gid, 0o600


def replace_broker_file(path: Path, text: str, broker_user: str = DEFAULT_BROKER_USER) -> None:
    """Atomically replace a file Mosquitto reads, keeping the owner and mode it had.

    A new file goes to `broker_user` (mode 0600). The text is written to a temporary file in the
    same directory, flushed to disk, given the owner and mode, then renamed over the old file:
    the broker sees the old file or the new one, never a half-written or unreadable one.
    """
    uid, gid, mode = _owner_for(path, broker_user)
    try:
        replace_file(path, text.encode("utf-8"), mode=mode, owner=(uid, gid))
    except OwnerRefused:
        raise BrokerFileError(
            f"{path}: cannot give the new file to {_owner_name(uid, gid)}, so the "
            "broker could not read it; run as root (sudo) or as the file's owner"
        ) from None


def _owner_name(uid: int, gid: int) -> str:
    """user:group by name where the system knows them, else by number."""
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return f"{user}:{group}"
