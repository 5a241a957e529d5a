"""The one message catalogue: every text a person reads, in Uzbek (Latin), Russian and English.

The texts live in gettext `.po` files (`mehr/locales/<lang>/LC_MESSAGES/mehr.po`) that
translators edit with any PO editor; Babel reads them at first use, so there is no build step
and nothing is downloaded. Message ids are stable keys ("kind_fall", "ack_done"), not English
sentences: a key shown raw on a page is then easy to see and to test for, and fixing an
English wording does not orphan its translations (docs/translating.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Final

from babel.messages.pofile import read_po

from mehr.vocabulary import LANGUAGE_CODES

__all__ = [
    "DEFAULT_LANGUAGE",
    "DOMAIN",
    "FALLBACK_LANGUAGE",
    "LANGUAGES",
    "LOCALES_DIR",
    "entries",
    "has",
    "po_path",
    "relation_name",
    "room_name",
    "text",
    "translator",
]

_LOGGER = logging.getLogger(__name__)

LANGUAGES: Final = LANGUAGE_CODES
DEFAULT_LANGUAGE: Final = "uz"
# A key missing in one language shows its English text rather than the raw key.
FALLBACK_LANGUAGE: Final = "en"
DOMAIN: Final = "mehr"
LOCALES_DIR: Final = Path(__file__).parent / "locales"


def po_path(lang: str) -> Path:
    """Where the catalogue of one language lives."""
    return LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def entries(lang: str) -> Mapping[str, str]:
    """Key -> text of one language; untranslated and fuzzy entries are left out."""
    if lang not in LANGUAGES:
        raise ValueError(f"no catalogue for language {lang!r}; have {', '.join(LANGUAGES)}")
    with po_path(lang).open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    out: dict[str, str] = {}
    for message in catalog:
        if not message.id or message.fuzzy or not isinstance(message.id, str):
            continue
        if isinstance(message.string, str) and message.string:
            out[message.id] = message.string
    return out


def _language(lang: str) -> str:
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


_WARNED: set[str] = set()
_WARN_LIMIT: Final = 100


def _warn_missing(key: str) -> None:
    # Once per key, and for at most _WARN_LIMIT keys: a key built from input must not flood
    # the log. The tests keep the catalogue complete; this is the production backstop.
    if key in _WARNED or len(_WARNED) >= _WARN_LIMIT:
        return
    _WARNED.add(key)
    _LOGGER.warning("catalogue key %s is missing in every language", key)


def text(key: str, lang: str, **values: object) -> str:
    """The text of `key` in `lang` (English if missing there) with its `{name}`s filled in."""
    found = entries(_language(lang)).get(key)
    if found is None:
        found = entries(FALLBACK_LANGUAGE).get(key)
        if found is None:
            _warn_missing(key)
            found = key
    return found.format(**values) if values else found


def translator(lang: str) -> Callable[..., str]:
    """A gettext-like `t(key, **values)` bound to one language (pages and templates use it)."""
    chosen = _language(lang)

    def t(key: str, **values: object) -> str:
        return text(key, chosen, **values)

    return t


@cache
def _standard_words(prefix: str) -> Mapping[str, str]:
    """Every language's text of the keys starting with `prefix`, case-folded -> the key."""
    return {
        found.casefold(): key
        for lang in LANGUAGES
        for key, found in entries(lang).items()
        if key.startswith(prefix)
    }


def _standard(word: str, prefix: str, lang: str) -> str:
    key = _standard_words(prefix).get(word.strip().casefold())
    return word if key is None else text(key, lang)


def room_name(room: str, lang: str) -> str:
    """A room as the reader says it: a standard name in any language ("Kitchen", "Oshxona")
    becomes the reader's word; a name of the family's own ("Grandson's room") stays as typed."""
    return _standard(room, "place_", lang)


def relation_name(relation: str, lang: str) -> str:
    """A contact's relation ("daughter", "qizi", "дочь") in the reader's language, if standard."""
    return _standard(relation, "relation_", lang)


def has(key: str, lang: str = FALLBACK_LANGUAGE) -> bool:
    """Whether the catalogue has `key` (in `lang`)."""
    return key in entries(_language(lang))
