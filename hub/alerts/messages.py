"""Alert messages in Uzbek (Latin), Russian and English, short enough for one SMS.

One SMS is 160 GSM-7 characters, or 70 when any character needs UCS-2 (Cyrillic does). A
Russian text that cannot fit 70 characters with its link is sent transliterated to Latin, as
Uzbek phones commonly receive Russian SMS, so it still fits one message. The words come from
the message catalogue (`mehr.catalogue`), like every page's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from hub.alerts.config import Language, MethodKind
from mehr.catalogue import room_name
from mehr.catalogue import text as catalogue_text
from mehr.vocabulary import kind_label_key

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
    # Why, in each language ({"uz": …, "ru": …, "en": …}, as the scanners store it) or one text.
    explanation: Mapping[str, str] | str | None = None
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
    return catalogue_text(kind_label_key(kind), language.value)


def _local_time(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def _sms(facts: MessageFacts, language: Language, one_sms: bool = True) -> str:
    what = what_happened(facts.kind, language)
    if facts.repeat:
        what = f"{catalogue_text('sms_repeat', language.value)}: {what}"
    when = _local_time(facts.happened_at, facts.timezone)
    if facts.buttons:
        tail = ""
    else:
        tail = (
            f"{catalogue_text('sms_acknowledge', language.value)}: {facts.link}"
            if facts.link
            else catalogue_text("sms_for_information", language.value)
        )
    address = facts.address
    if facts.kits is not None:
        address = f"{facts.kits} {catalogue_text('sms_kits', language.value)}"
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


def _in_language(explanation: Mapping[str, str] | str | None, language: Language) -> str | None:
    if explanation is None or isinstance(explanation, str):
        return explanation
    return explanation.get(language.value) or explanation.get(Language.EN.value)


def render(facts: MessageFacts, language: Language, channel: MethodKind) -> Message:
    """Render one message for one recipient and channel (SMS: one message; others: fuller)."""
    what = what_happened(facts.kind, language)
    subject = f"Mehr: {what} — {facts.resident}"
    if facts.repeat:
        subject = f"{catalogue_text('sms_repeat', language.value)}: {subject}"
    if channel is MethodKind.SMS:
        return Message(subject=subject, body=_sms(facts, language))
    lines = [_sms(facts, language, one_sms=False)]
    if facts.room:
        room = room_name(facts.room, language.value)
        lines.append(f"{catalogue_text('room', language.value)}: {room}")
    why = _in_language(facts.explanation, language)
    if why:
        lines.append(f"{catalogue_text('sms_details', language.value)}: {why}")
    if facts.link or facts.buttons:
        lines.append(catalogue_text("sms_please_go", language.value))
    return Message(subject=subject, body="\n".join(lines))
