"""What the Telegram bot says, in Uzbek (Latin), Russian and English: button labels, the answers to
a press, and the status lines added under an alert once someone has taken it.

Uzbek uses U+02BB for oʻ/gʻ and U+02BC for the tutuq belgisi, as the Latin alphabet prescribes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from hub.alerts.config import Language

__all__ = ["Text", "language_of", "say"]


class Text(StrEnum):
    """Every phrase the bot uses."""

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


_TEXTS: Final[dict[Text, tuple[str, str, str]]] = {
    # (uz, ru, en); {name} is a person's name, {time} local HH:MM, {id} a Telegram user id
    Text.BUTTON_ACK: ("✅ Qabul qildim", "✅ Принимаю", "✅ Acknowledge"),
    Text.BUTTON_ON_THE_WAY: ("🚗 Yoʻldaman", "🚗 Выезжаю", "🚗 On my way"),
    Text.BUTTON_CALL: ("📞 Qoʻngʻiroq", "📞 Позвонить", "📞 Call"),
    Text.ACKNOWLEDGED: (
        "Qabul qilindi. Rahmat! Boshqalar bu ogohlantirish sizda ekanini koʻradi.",
        "Принято. Спасибо! Остальные видят, что тревога у вас.",
        "Acknowledged. Thank you! Everyone on the case sees it is yours.",
    ),
    Text.TAKEN_BY: (
        "Allaqachon qabul qilingan: {name}, soat {time}.",
        "Уже принял(а): {name}, в {time}.",
        "Already taken by {name} at {time}.",
    ),
    Text.TAKEN_BY_YOU: (
        "Siz buni soat {time} da qabul qilgansiz.",
        "Вы приняли её в {time}.",
        "You took it at {time}.",
    ),
    Text.ON_THE_WAY: (
        "Yoʻlda ekaningiz qayd etildi. Ehtiyot boʻling!",
        "Отмечено: вы в пути. Будьте осторожны!",
        "Noted: you are on your way. Take care!",
    ),
    Text.ON_THE_WAY_SINCE: (
        "Soat {time} dan beri yoʻldasiz.",
        "Вы в пути с {time}.",
        "On your way since {time}.",
    ),
    Text.CLOSED: (
        "Bu ogohlantirish yopilgan.",
        "Эта тревога закрыта.",
        "This alert is closed.",
    ),
    Text.NOT_YOURS: (
        "Bu tugma siz uchun emas.",
        "Эта кнопка не для вас.",
        "This button is not for you.",
    ),
    Text.EXPIRED: (
        "Tugma muddati tugagan. Ilovadan kiring.",
        "Срок кнопки истёк. Войдите в приложение.",
        "This button has expired. Please use the app.",
    ),
    Text.INVALID: (
        "Bu tugma yaroqsiz.",
        "Кнопка недействительна.",
        "This button is not valid.",
    ),
    Text.USED: (
        "Bu tugma allaqachon ishlatilgan. Ilovadan kiring.",
        "Эта кнопка уже использована. Войдите в приложение.",
        "This button has already been used. Please use the app.",
    ),
    Text.NO_PHONE: (
        "Telefon raqami kiritilmagan.",
        "Номер телефона не указан.",
        "No phone number on file.",
    ),
    Text.STATUS_TAKEN: (
        "✅ Qabul qildi: {name}, {time}",
        "✅ Принял(а): {name}, {time}",
        "✅ Taken by {name}, {time}",
    ),
    Text.STATUS_ON_THE_WAY: (
        "🚗 Yoʻlda: {name}, {time}",
        "🚗 В пути: {name}, {time}",
        "🚗 On the way: {name}, {time}",
    ),
    Text.STATUS_CLOSED: ("Yopildi", "Закрыта", "Closed"),
    Text.START: (
        "Assalomu alaykum! Bu Mehr boti. Telegram ID raqamingiz: {id}. Uni Inson markaziga "
        "bering: ogohlantirishlar shu yerga tugmalar bilan keladi.",
        "Здравствуйте! Это бот Mehr. Ваш Telegram ID: {id}. Сообщите его в центр «Инсон»: "
        "тревоги будут приходить сюда с кнопками.",
        "Hello! This is the Mehr bot. Your Telegram id is {id}. Give it to the Inson centre: "
        "alerts will come here with buttons.",
    ),
    Text.FAILED: (
        "Xatolik yuz berdi. Ilovadan kiring.",
        "Произошла ошибка. Войдите в приложение.",
        "Something went wrong. Please use the app.",
    ),
}


def say(text: Text, language: Language, **values: str) -> str:
    """One phrase in one language, with its {name}/{time} filled in."""
    phrase = _TEXTS[text][list(Language).index(language)]
    return phrase.format(**values) if values else phrase


def language_of(code: str | None, fallback: Language = Language.UZ) -> Language:
    """A Telegram user's `language_code` (e.g. "ru", "uz-UZ") as one of ours, else `fallback`."""
    short = (code or "").split("-", 1)[0].lower()
    return Language(short) if short in {lang.value for lang in Language} else fallback
