"""Say why a routine alert was raised, in Uzbek (Latin), Russian and English, from its figures;
the sentences are the message catalogue's `explain_<rule>` entries."""

from __future__ import annotations

from typing import Final

from mehr.catalogue import room_name, text

__all__ = ["LANGUAGES", "duration_text", "explain_finding"]

LANGUAGES: Final = ("uz", "ru", "en")

# Detector rules whose sentence the catalogue holds as "explain_<rule>".
_RULES: Final = frozenset(
    {"unusual_inactivity", "not_up", "long_bathroom", "not_back", "night_door", "no_kitchen"}
)


def duration_text(seconds: float, lang: str) -> str:
    """'2 h 10 min' in the given language (minutes rounded down, at least '0 min')."""
    hours_word, minutes_word = text("unit_hours", lang), text("unit_minutes", lang)
    minutes = max(0, int(seconds // 60))
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} {hours_word} {minutes} {minutes_word}"
    if hours:
        return f"{hours} {hours_word}"
    return f"{minutes} {minutes_word}"


def _clock(seconds_of_day: float) -> str:
    minutes = int(seconds_of_day // 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def explain_finding(
    rule: str,
    duration_s: float,
    usual_s: float,
    last_room: str,
    local_time_of_day_s: float,
    *,
    seated: bool = False,
) -> dict[str, str]:
    """Return {'uz': …, 'ru': …, 'en': …} sentences for one routine finding.

    `seated`: the silence is on an occupied seat or bed mat ("sitting since ..."), not a room.
    """
    if rule not in _RULES:
        raise KeyError(rule)
    key = f"explain_{rule}_seated" if seated and rule == "unusual_inactivity" else f"explain_{rule}"
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        usual = _clock(usual_s) if rule == "not_up" else duration_text(usual_s, lang)
        out[lang] = text(
            key,
            lang,
            dur=duration_text(duration_s, lang),
            usual=usual,
            room=room_name(last_room, lang),
            at=_clock(local_time_of_day_s),
        )
    return out
