"""The language the installer's commands speak: `--lang`, else `MEHR_LANG`, else the locale.

Choosing needs no catalogue, so `mehr edge` on a kit without Babel still starts; the words come
from `mehr.catalogue` (the `cli_` keys) only where a command prints them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

__all__ = ["CLI_LANGUAGES", "DEFAULT_CLI_LANGUAGE", "ENV_VAR", "Say", "choose_language", "speaker"]

# The catalogue's languages (mehr.catalogue.LANGUAGES), named here without importing Babel.
CLI_LANGUAGES: Final = ("uz", "ru", "en")
DEFAULT_CLI_LANGUAGE: Final = "uz"
ENV_VAR: Final = "MEHR_LANG"
# POSIX order: LC_ALL overrides LC_MESSAGES, which overrides LANG; the first one set decides.
_LOCALE_VARS: Final = ("LC_ALL", "LC_MESSAGES", "LANG")

Say = Callable[..., str]


def _locale_language(value: str) -> str:
    """'ru_RU.UTF-8' -> 'ru'; 'uz_UZ@latin' -> 'uz'; 'C.UTF-8' -> 'c'."""
    return re.split(r"[._@]", value, maxsplit=1)[0].strip().lower()


def choose_language(explicit: str | None, environ: Mapping[str, str]) -> str:
    """`--lang` if given, else `$MEHR_LANG`, else the locale's language if it is uz/ru/en, else uz.

    A `MEHR_LANG` naming another language is an error, not a silent fallback: it was set on
    purpose, so a typo should be seen.
    """
    if explicit:
        return explicit
    chosen = environ.get(ENV_VAR, "").strip().lower()
    if chosen:
        if chosen not in CLI_LANGUAGES:
            raise ValueError(
                f"{ENV_VAR}={chosen!r}: not a language of Mehr; use one of "
                f"{', '.join(CLI_LANGUAGES)}"
            )
        return chosen
    for name in _LOCALE_VARS:
        value = environ.get(name, "")
        if value:
            found = _locale_language(value)
            return found if found in CLI_LANGUAGES else DEFAULT_CLI_LANGUAGE
    return DEFAULT_CLI_LANGUAGE


def speaker(lang: str) -> Say:
    """`say(key, **values)` in `lang` from the message catalogue (imports Babel on first use)."""
    from mehr.catalogue import translator

    return translator(lang)
