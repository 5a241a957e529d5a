"""Alert messages in Uzbek (Latin), Russian and English, short enough for one SMS.

One SMS is 160 GSM-7 characters, or 70 when any character needs UCS-2 (Cyrillic does). A
Russian text that cannot fit 70 characters with its link is sent transliterated to Latin, as
Uzbek phones commonly receive Russian SMS, so it still fits one message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from hub.alerts.config import Language, MethodKind

__all__ = [
    "SMS_GSM_LIMIT",
    "SMS_UCS2_LIMIT",
    "Message",
    "MessageFacts",
    "fits_one_sms",
    "is_gsm7",
    "render",
    "what_happened",
]

SMS_GSM_LIMIT: Final = 160
SMS_UCS2_LIMIT: Final = 70

_WHAT: Final[dict[str, tuple[str, str, str]]] = {
    # kind: (uz, ru, en)
    "help_button": ("Yordam tugmasi bosildi", "Нажата кнопка помощи", "Help button pressed"),
    "fall": ("Yiqilish aniqlandi", "Обнаружено падение", "Fall detected"),
    "unusual_inactivity": ("Uzoq vaqt harakat yo'q", "Долго нет движения", "Unusual inactivity"),
    "not_up": ("Ertalab turmadi", "Не встал(а) утром", "Not up this morning"),
    "long_bathroom": ("Hammomda uzoq qoldi", "Долго в ванной", "Long bathroom visit"),
    "night_wandering": ("Tunda yurish", "Ночью не спит, ходит", "Night wandering"),
    "not_back": ("Uyga qaytmadi", "Не вернулся(ась) домой", "Not back home"),
    "kit_offline": ("Uskuna aloqada emas", "Комплект не на связи", "Kit offline"),
    "area_outage": ("Hududda uzilish", "Отключение в махалле", "Area outage"),
    "cold_home": ("Uyda sovuq", "В доме холодно", "Cold home"),
    "cold_area": ("Mahallada uylar sovuq", "Холодно в домах махалли", "Cold homes in area"),
}
_OTHER: Final = ("Ogohlantirish", "Предупреждение", "Alert")
_ACK: Final = {Language.UZ: "Tasdiqlash", Language.RU: "Подтвердить", Language.EN: "Acknowledge"}
_INFO: Final = {
    Language.UZ: "Ma'lumot uchun.",
    Language.RU: "Для сведения.",
    Language.EN: "For your information.",
}
_REPEAT: Final = {Language.UZ: "TAKROR", Language.RU: "ПОВТОР", Language.EN: "REPEAT"}
_KITS: Final = {Language.UZ: "uskuna", Language.RU: "компл.", Language.EN: "kits"}
_SUBJECT_TAIL: Final = {
    Language.UZ: "Iltimos, tasdiqlang va boring.",
    Language.RU: "Пожалуйста, подтвердите и выезжайте.",
    Language.EN: "Please acknowledge and go.",
}
_EXPLAIN: Final = {Language.UZ: "Tafsilot", Language.RU: "Подробности", Language.EN: "Details"}
_ROOM: Final = {Language.UZ: "Xona", Language.RU: "Комната", Language.EN: "Room"}

# GSM 03.38 basic character set (the escape table is left out: those cost two characters).
_GSM7: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_TRANSLIT: Final = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяʻʼ‘’",
        [
            "a", "b", "v", "g", "d", "e", "yo", "zh", "z", "i", "y", "k", "l", "m", "n", "o",
            "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "sch", "", "y", "", "e", "yu",
            "ya", "'", "'", "'", "'",
        ],
        strict=True,
    )
)


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What a message says: who, where, what, when; the link when the reader should act."""

    kind: str
    resident: str
    address: str
    happened_at: datetime
    timezone: str
    link: str | None
    room: str | None = None
    explanation: str | None = None
    kits: int | None = None  # area outage: how many kits are dark
    repeat: bool = False
    # The reader acts with buttons under the message (Telegram bot), not with a link: the text
    # then carries no link, so a forwarded copy hands nobody the means to acknowledge.
    buttons: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered message: subject (email, Telegram title) and body."""

    subject: str
    body: str


def is_gsm7(text: str) -> bool:
    """True if every character is in the GSM-7 basic set (so 160 fit in one SMS)."""
    return all(ch in _GSM7 for ch in text)


def fits_one_sms(text: str) -> bool:
    """True if `text` is one SMS: 160 GSM-7 characters, or 70 otherwise."""
    return len(text) <= (SMS_GSM_LIMIT if is_gsm7(text) else SMS_UCS2_LIMIT)


def _translit(text: str) -> str:
    out = []
    for ch in text:
        low = ch.lower()
        if low in _TRANSLIT:
            rep = _TRANSLIT[low]
            out.append(rep.capitalize() if ch != low and rep else rep)
        elif ch in _GSM7:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def what_happened(kind: str, language: Language) -> str:
    """A short phrase for an alert kind in one language."""
    index = list(Language).index(language)
    if kind in _WHAT:
        return _WHAT[kind][index]
    base = _OTHER[index]
    return f"{base}: {kind.replace('_', ' ')}"


def _local_time(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def _sms(facts: MessageFacts, language: Language, one_sms: bool = True) -> str:
    what = what_happened(facts.kind, language)
    if facts.repeat:
        what = f"{_REPEAT[language]}: {what}"
    when = _local_time(facts.happened_at, facts.timezone)
    if facts.buttons:
        tail = ""
    else:
        tail = f"{_ACK[language]}: {facts.link}" if facts.link else _INFO[language]
    address = facts.address
    if facts.kits is not None:
        address = f"{facts.kits} {_KITS[language]}"
    resident = facts.resident

    def build(resident: str, address: str) -> str:
        where = f"{resident}, {address}" if address else resident
        return f"MEHR: {what}. {where}, {when}. {tail}".rstrip()

    text = build(resident, address)
    if fits_one_sms(text) or not one_sms:
        # Email and Telegram have room: never trimmed or transliterated there.
        return text
    if not is_gsm7(text):
        latin = _translit(text)
        if fits_one_sms(latin):
            return latin
        text = latin
        what = _translit(what)
        tail = _translit(tail)
        resident, address = _translit(resident), _translit(address)
    # Still too long: the link and what happened matter most; trim the address, then the name.
    while not fits_one_sms(text) and address:
        address = address[:-4].rstrip() if len(address) > 4 else ""
        text = build(resident, address + ("…" if address else ""))
        text = text if is_gsm7(text) else text.replace("…", ".")
    while not fits_one_sms(text) and len(resident) > 3:
        resident = resident[:-2]
        text = build(resident + ".", address)
    return text


def render(facts: MessageFacts, language: Language, channel: MethodKind) -> Message:
    """Render one message for one recipient and channel (SMS: one message; others: fuller)."""
    what = what_happened(facts.kind, language)
    subject = f"Mehr: {what} — {facts.resident}"
    if facts.repeat:
        subject = f"{_REPEAT[language]}: {subject}"
    if channel is MethodKind.SMS:
        return Message(subject=subject, body=_sms(facts, language))
    lines = [_sms(facts, language, one_sms=False)]
    if facts.room:
        lines.append(f"{_ROOM[language]}: {facts.room}")
    if facts.explanation:
        lines.append(f"{_EXPLAIN[language]}: {facts.explanation}")
    if facts.link or facts.buttons:
        lines.append(_SUBJECT_TAIL[language])
    return Message(subject=subject, body="\n".join(lines))
