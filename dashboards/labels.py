"""Words for the system's values on a page: alert kinds, severities, sensor kinds, rooms,
relations, history and audit lines, and people's names instead of ids, in the reader's
language (`mehr.catalogue`). The templates call these; they never show a stored value raw."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dashboards.alert_actions import display_actor
from mehr.catalogue import has, relation_name, room_name
from mehr.vocabulary import kind_label_key, sensor_label_key, severity_label_key

__all__ = ["label_helpers"]


def label_helpers(
    lang: str,
    t: Callable[..., str],
    user_names: Callable[[], dict[str, str]],
    person_names: dict[str, str],
) -> dict[str, Callable[..., Any]]:
    """The template functions for one page in `lang`; `user_names` is called at most once."""
    users: dict[str, str] = {}

    def who(actor: str | None) -> str:
        # Names, never ids: "user:worker-a" is the worker's name, "system" a word.
        kind, _, value = (actor or "").partition(":")
        if kind == "user":
            if not users:
                users.update(user_names())
            return users.get(value, value)
        if actor in ("system", "resident"):
            return t(f"actor_{actor}")
        if kind == "telegram":  # a press by someone the message was not sent to
            return t("actor_telegram")
        return display_actor(actor, person_names)

    def did(action: str) -> str:
        # A history line says what was done ("qabul qildi"), not the button ("Qabul qilaman").
        return t(f"did_{action}" if has(f"did_{action}") else f"act_{action}")

    def audit_action(action: str) -> str:
        key = "audit_" + action.replace(".", "_")
        return t(key) if has(key) else action

    def audit_target(target: str) -> str:
        kind, _, value = target.partition(":")
        return f"{t('target_' + kind)} {value}" if has(f"target_{kind}") else target

    return {
        "kind_label": lambda kind: t(kind_label_key(kind)),
        "severity_label": lambda severity: t(severity_label_key(severity)),
        "sensor_label": lambda kind: t(sensor_label_key(kind)),
        "room": lambda name: room_name(name, lang) if name else "",
        "relation": lambda word: relation_name(word, lang) if word else "",
        "who": who,
        "did": did,
        "audit_action": audit_action,
        "audit_target": audit_target,
    }
