"""Find what a person should never read on an Uzbek or Russian page or message: a catalogue key
or a raw id shown as is, an English word left in, a time in UTC."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from html.parser import HTMLParser

from mehr.catalogue import LANGUAGES, entries

__all__ = ["ENGLISH_WORDS", "problems", "visible_text"]

# English words of the product's own interface: any of them on a uz/ru page is a string that
# did not go through the catalogue (or a name or state shown raw). Words people type (names,
# notes) are kept out of the seeded data, so they cannot trip it.
ENGLISH_WORDS = frozenset(
    """
    acknowledge acknowledged by the and of worker system daughter family social admin
    installer supervisor duty officer online offline never alert alerts home homes kitchen
    bedroom hallway living room bathroom help button raised notified resolved cancelled open
    call visit save all residents visits please critical high medium low state status motion
    door sensor ago just now days day fall test mode report kit kits none true false null
    unknown new accepted done on way arrived held back outbox clock offset heartbeat passed
    failed missing link comment details repeat information h min
    """.split()  # noqa: SIM905
)
_WORD = re.compile(r"[A-Za-zʻʼ‘’']+")
_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_IDS = re.compile(r"\b(?:person|user|area|system):\S*|\b(?:kit|home)-[a-z0-9]+\b")
_UTC = re.compile(r"\bUTC\b|[+-]00:?00\b|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_URL = re.compile(r"https?://\S+")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
# Content people do not read as words: the language switcher names each language in itself.
_SELF_NAMES = ("English", "EN", "UZ", "RU")


class _Visible(HTMLParser):
    """Text nodes and the attributes a screen reader or a form shows, without scripts or styles."""

    _SPOKEN = ("aria-label", "title", "placeholder", "alt")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.parts.extend(v for k, v in attrs if k in self._SPOKEN and v)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> str:
    """What a person reads or hears on a page, one piece a line."""
    parser = _Visible()
    parser.feed(html)
    return "\n".join(parser.parts)


def _keys() -> frozenset[str]:
    return frozenset(key for lang in LANGUAGES for key in entries(lang))


def problems(
    text: str,
    lang: str,
    *,
    utc_moments: Iterable[datetime] = (),
    allow_ids: Iterable[str] = (),
) -> list[str]:
    """Everything wrong with a uz/ru text: raw keys, ids, English words, UTC times.

    `utc_moments`: instants the text may show; each one's UTC clock time must not appear.
    `allow_ids`: ids the reader works with as such (an installer's kit ids).
    """
    assert lang in ("uz", "ru"), lang
    found: list[str] = []
    text = _URL.sub(" ", text)
    for allowed in allow_ids:
        text = text.replace(allowed, " ")
    keys = _keys()
    for word in _SNAKE.findall(text):
        found.append(f"catalogue key shown raw: {word}" if word in keys else f"raw id: {word}")
    found += [f"raw id: {m}" for m in _IDS.findall(text)]
    found += [f"unfilled placeholder: {m}" for m in _PLACEHOLDER.findall(text)]
    found += [f"UTC time: {m}" for m in _UTC.findall(text)]
    for moment in utc_moments:
        clock = moment.strftime("%H:%M")
        if re.search(rf"(?<![\d:]){clock}(?!\d)", text):
            found.append(f"UTC time of {moment.isoformat()}: {clock}")
    for name in _SELF_NAMES:
        text = text.replace(name, " ")
    english = sorted({w for w in _WORD.findall(text) if w.lower() in ENGLISH_WORDS})
    found += [f"English word: {w}" for w in english]
    return found
