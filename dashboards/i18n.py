"""The pages' language helpers over the one message catalogue (`mehr.catalogue`): a `t(key)`
per language, "12 min ago", and the language a browser asks for. Uzbek first; a key missing in
one language shows its English text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mehr.catalogue import DEFAULT_LANGUAGE, LANGUAGES, translator

__all__ = ["DEFAULT_LANG", "ago", "pick_lang", "translator"]

DEFAULT_LANG = DEFAULT_LANGUAGE


def ago(t: Callable[..., str], moment: datetime, now: datetime) -> str:
    """'12 min ago' in the page's language."""
    secs = max((now - moment).total_seconds(), 0)
    if secs < 60:
        return t("ago_now")
    if secs < 3600:
        return t("ago_min", n=int(secs // 60))
    if secs < 86400 * 2:
        return t("ago_hour", n=int(secs // 3600))
    return t("ago_day", n=int(secs // 86400))


def pick_lang(accept_language: str | None) -> str:
    """The first of uz/ru/en the browser asks for; Uzbek when none."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANG
