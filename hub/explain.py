"""Say why a routine alert was raised, in Uzbek (Latin), Russian and English, from its figures."""

from __future__ import annotations

from typing import Final

__all__ = ["LANGUAGES", "duration_text", "explain_finding"]

LANGUAGES: Final = ("uz", "ru", "en")

_UNITS: Final = {
    "uz": ("soat", "daqiqa"),
    "ru": ("ч", "мин"),
    "en": ("h", "min"),
}

_TEMPLATES: Final[dict[str, dict[str, str]]] = {
    "unusual_inactivity": {
        "uz": "{dur} davomida harakat yoʻq, oxirgisi {room}, {at} da; bu vaqtda odatda "
        "{usual} dan kam",
        "ru": "Нет движения {dur}, последнее — {room} в {at}; в это время обычно меньше {usual}",
        "en": "No movement for {dur} since {room} at {at}; at this hour it is usually under "
        "{usual}",
    },
    "unusual_inactivity_seated": {
        "uz": "{at} dan beri oʻtiribdi yoki yotibdi ({room}), {dur} davomida turmadi; bu vaqtda "
        "odatda {usual} dan kam",
        "ru": "Сидит или лежит ({room}) с {at}, не вставал(а) уже {dur}; в это время обычно "
        "меньше {usual}",
        "en": "Sitting or lying ({room}) since {at}, not up for {dur}; at this hour usually "
        "under {usual}",
    },
    "not_up": {
        "uz": "Ertalab turmadi: {at} dan beri harakat yoʻq ({room}); odatda {usual} da turadi",
        "ru": "Не встал(а) утром: нет движения с {at} ({room}); обычно встаёт в {usual}",
        "en": "Not up this morning: no movement since {at} ({room}); usually up by {usual}",
    },
    "long_bathroom": {
        "uz": "Hammomda {dur} dan beri ({at} dan); odatda {usual} dan kam",
        "ru": "В ванной уже {dur} (с {at}); обычно меньше {usual}",
        "en": "In the bathroom for {dur} (since {at}); usually under {usual}",
    },
    "not_back": {
        "uz": "{at} da chiqib ketgan, {dur} dan beri qaytmadi; odatda {usual} ichida qaytadi",
        "ru": "Ушёл(ушла) в {at} и не вернулся(ась) уже {dur}; обычно возвращается за {usual}",
        "en": "Went out at {at} and not back for {dur}; usually back within {usual}",
    },
    "night_door": {
        "uz": "Kechasi {at} da kirish eshigi ochildi; bu uyda kechasi kamdan-kam boʻladi",
        "ru": "Ночью в {at} открывалась входная дверь; в этом доме ночью так почти не бывает",
        "en": "The front door was used at night, at {at}; this home almost never does",
    },
    "no_kitchen": {
        "uz": "Bugun oshxonada harakat boʻlmadi; odatda har kuni boʻladi",
        "ru": "Сегодня не было движения на кухне; обычно бывает каждый день",
        "en": "No kitchen activity today; usually there is every day",
    },
}


def duration_text(seconds: float, lang: str) -> str:
    """'2 h 10 min' in the given language (minutes rounded down, at least '0 min')."""
    hours_word, minutes_word = _UNITS[lang]
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
    templates = _TEMPLATES[f"{rule}_seated" if seated and rule == "unusual_inactivity" else rule]
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        usual = _clock(usual_s) if rule == "not_up" else duration_text(usual_s, lang)
        out[lang] = templates[lang].format(
            dur=duration_text(duration_s, lang),
            usual=usual,
            room=last_room,
            at=_clock(local_time_of_day_s),
        )
    return out
