"""Broker credentials and ACLs: Mosquitto password-file lines and per-kit ACL rules.

Each kit gets its own user that may only write its own home's topics and read its own command
topic; the hub's user reads every kit topic and writes commands. Generated here so provisioning,
the tests and the deployment docs all use the same rules.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from mehr.contract import TOPIC_ROOT, TopicKind, topic_for

__all__ = ["BrokerUser", "acl_text", "hub_acl_rules", "kit_acl_rules", "password_line"]

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


def kit_acl_rules(home_id: str, kit_id: str) -> tuple[str, ...]:
    """ACL rules for a kit: publish its own home's kit topics, read its own commands."""
    writes = (TopicKind.EVENTS, TopicKind.ACCEL, TopicKind.HEARTBEAT, TopicKind.AVAILABILITY)
    rules = [f"topic write {topic_for(home_id, kit_id, kind)}" for kind in writes]
    rules.append(f"topic read {topic_for(home_id, kit_id, TopicKind.COMMANDS)}")
    return tuple(rules)


def hub_acl_rules() -> tuple[str, ...]:
    """ACL rules for the hub: read every kit topic, send commands to any kit."""
    return (
        f"topic read {TOPIC_ROOT}/#",
        f"topic write {TOPIC_ROOT}/+/kits/+/{TopicKind.COMMANDS.value}",
    )


def acl_text(users: Iterable[BrokerUser]) -> str:
    """Render a Mosquitto ACL file granting each user exactly its rules (deny by default)."""
    blocks = []
    for user in users:
        blocks.append("\n".join([f"user {user.username}", *user.rules]))
    return "\n\n".join(blocks) + "\n"
