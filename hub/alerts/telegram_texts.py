"""What the Telegram bot says, in Uzbek (Latin), Russian and English: button labels, the answers to
a press, and the status lines added under an alert once someone has taken it.

The phrases are the message catalogue's `tg_<name>` entries (`mehr.catalogue`); Uzbek uses
U+02BB for oʻ/gʻ and U+02BC for the tutuq belgisi, as the Latin alphabet prescribes.
"""

from __future__ import annotations

from enum import StrEnum

from hub.alerts.config import Language
from mehr.catalogue import text as catalogue_text

__all__ = ["Text", "language_of", "say"]


class Text(StrEnum):
    """Every phrase the bot uses ({name} a name, {time} local HH:MM, {id} a Telegram id)."""

    BUTTON_ACK = "button_ack"
    BUTTON_ON_THE_WAY = "button_on_the_way"
    BUTTON_CALL = "button_call"
    ACKNOWLEDGED = "acknowledged"
    TAKEN_BY = "taken_by"
    TAKEN_BY_YOU = "taken_by_you"
    ON_THE_WAY = "on_the_way"
    ON_THE_WAY_SINCE = "on_the_way_since"
    CLOSED = "closed"
    NOT_YOURS = "not_yours"
    EXPIRED = "expired"
    INVALID = "invalid"
    USED = "used"
    NO_PHONE = "no_phone"
    STATUS_TAKEN = "status_taken"
    STATUS_ON_THE_WAY = "status_on_the_way"
    STATUS_CLOSED = "status_closed"
    FAILED = "failed"
    START = "start"


def say(text: Text, language: Language, **values: str) -> str:
    """One phrase in one language, with its {name}/{time} filled in."""
    return catalogue_text(f"tg_{text.value}", language.value, **values)


def language_of(code: str | None, fallback: Language = Language.UZ) -> Language:
    """A Telegram user's `language_code` (e.g. "ru", "uz-UZ") as one of ours, else `fallback`."""
    short = (code or "").split("-", 1)[0].lower()
    return Language(short) if short in {lang.value for lang in Language} else fallback
