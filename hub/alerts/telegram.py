"""The district's Telegram bot: a Mehr channel for `tgbot://<chat id>` contact methods that puts
Acknowledge / On my way / Call buttons under each alert, and the small Bot API client the
callback poller (hub/alerts/telegram_bot.py) shares.

Plain httpx rather than python-telegram-bot 22 or aiogram 3: both are asyncio libraries (every
Bot method is a coroutine; their pollers own an event loop), while the engine sends from one
synchronous thread and needs each send's outcome before it records it. We use five Bot API
methods, each one JSON POST to {base_url}/bot<token>/<method>, so a thin typed client is less
code than a loop bridge, adds no dependency (httpx is already the hub's, for Eskiz), and is
tested against a loopback fake of the Bot API like the SMS gateways.

The token is part of every request path (the Bot API's design): it never appears in a contact
URL, an error string, the attempts table or the logs (httpx's request log is redacted).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import httpx

from hub.alerts.channels import AlertActions, SendResult
from hub.alerts.config import TELEGRAM_CHAT, Language, TelegramBot
from hub.alerts.telegram_texts import Text, say

__all__ = [
    "SCHEME",
    "BotApi",
    "BotApiError",
    "ButtonAction",
    "TelegramChannel",
    "callback_data",
    "keyboard",
    "parse_callback_data",
]

_LOGGER = logging.getLogger(__name__)
SCHEME: Final = "tgbot"
_MAX_TEXT: Final = 4096  # Bot API limit of one message
_MAX_CALLBACK_DATA: Final = 64  # bytes


class BotApiError(Exception):
    """The Bot API refused a call (`ok: false`) or answered something that is not the API."""

    def __init__(self, method: str, status: int, description: str, retry_after: int | None = None):
        super().__init__(f"telegram {method}: HTTP {status}: {description}"[:300])
        self.method = method
        self.status = status
        self.description = description
        self.retry_after = retry_after


class _TokenRedactor(logging.Filter):
    """Replaces bot tokens in httpx's request log lines ("HTTP Request: POST https://...")."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.tokens and isinstance(record.args, tuple):
            record.args = tuple(_redact(str(a), self.tokens) if isinstance(a, (str, httpx.URL))
                                else a for a in record.args)
        return True


_REDACTOR: Final = _TokenRedactor()
_REDACTOR_LOCK: Final = threading.Lock()


def _redact(text: str, tokens: set[str]) -> str:
    for token in tokens:
        text = text.replace(token, "<bot-token>")
    return text


class BotApi:
    """Calls Bot API methods for one bot; thread-safe (httpx's client pools connections)."""

    def __init__(self, bot: TelegramBot, transport: httpx.BaseTransport | None = None) -> None:
        self._token = bot.token()  # fails at start, not at 3 a.m., if missing
        with _REDACTOR_LOCK:
            _REDACTOR.tokens.add(self._token)
            httpx_logger = logging.getLogger("httpx")
            if _REDACTOR not in httpx_logger.filters:
                httpx_logger.addFilter(_REDACTOR)
        self.timeout_s = bot.timeout_s
        self._client = httpx.Client(
            base_url=f"{bot.base_url}/bot{self._token}/",
            timeout=bot.timeout_s,
            transport=transport,
            headers={"User-Agent": "Mehr"},
        )

    def redact(self, text: str) -> str:
        """`text` without this bot's token (for error strings that may quote a URL)."""
        return text.replace(self._token, "<bot-token>")

    def call(self, method: str, params: dict[str, Any], timeout: float | None = None) -> Any:
        """Call one method and return its `result`; raise BotApiError (status 0: no answer)."""
        try:
            response = self._client.post(method, json=params, timeout=timeout or self.timeout_s)
        except httpx.HTTPError as exc:
            # No answer (timeout, refused connection, closed client): a timeout may hide a
            # message Telegram took; the engine's retry policy decides, as for every channel.
            raise BotApiError(method, 0, self.redact(f"{type(exc).__name__}: {exc}")) from None
        try:
            answer = response.json()
        except ValueError:
            raise BotApiError(method, response.status_code, response.reason_phrase) from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            body = answer if isinstance(answer, dict) else {}
            parameters = body.get("parameters") or {}
            retry = parameters.get("retry_after") if isinstance(parameters, dict) else None
            raise BotApiError(
                method,
                response.status_code,
                self.redact(str(body.get("description") or response.reason_phrase)),
                int(retry) if isinstance(retry, int) else None,
            )
        return answer.get("result")

    def close(self) -> None:
        """Close the HTTP connection pool (interrupts a long poll under way)."""
        self._client.close()


class ButtonAction(StrEnum):
    """What a button does; one letter, so the callback data stays well under 64 bytes."""

    ACKNOWLEDGE = "a"
    ON_THE_WAY = "w"
    CALL = "c"


def callback_data(action: ButtonAction, token: str) -> str:
    """`<action>:<ack token>`: the signed token (34 characters) is the button's credential."""
    data = f"{action.value}:{token}"
    if len(data.encode()) > _MAX_CALLBACK_DATA:
        raise ValueError("callback data longer than Telegram's 64 bytes")
    return data


def parse_callback_data(data: str) -> tuple[ButtonAction, str] | None:
    """The action and token of a button, or None for data this bot never made."""
    action, sep, token = data.partition(":")
    if not sep or action not in {a.value for a in ButtonAction} or not 20 <= len(token) <= 60:
        return None
    return ButtonAction(action), token


@dataclass(frozen=True, slots=True)
class _Button:
    action: ButtonAction
    label: Text


_BUTTONS: Final = {
    ButtonAction.ACKNOWLEDGE: _Button(ButtonAction.ACKNOWLEDGE, Text.BUTTON_ACK),
    ButtonAction.ON_THE_WAY: _Button(ButtonAction.ON_THE_WAY, Text.BUTTON_ON_THE_WAY),
    ButtonAction.CALL: _Button(ButtonAction.CALL, Text.BUTTON_CALL),
}


def keyboard(
    token: str, language: Language, actions: list[ButtonAction]
) -> dict[str, list[list[dict[str, str]]]]:
    """An inline keyboard: Acknowledge and On my way on one row, Call below.

    Call is a callback, not a URL button: Telegram takes only http(s):// and tg:// URLs there
    (no tel:), and answering with the number after checking who pressed keeps the resident's
    phone away from anyone a message was forwarded to; Telegram makes the number tappable.
    """
    rows: list[list[dict[str, str]]] = []
    first = [a for a in actions if a is not ButtonAction.CALL]
    for row in (first, [a for a in actions if a is ButtonAction.CALL]):
        if row:
            rows.append([
                {"text": say(_BUTTONS[a].label, language), "callback_data": callback_data(a, token)}
                for a in row
            ])
    return {"inline_keyboard": rows}


def chat_of(url: str) -> int | None:
    """The chat id of a `tgbot://<chat id>` URL, or None."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() != SCHEME or not TELEGRAM_CHAT.match(rest):
        return None
    return int(rest)


class TelegramChannel:
    """Sends alert messages through the district's bot, with buttons when asked."""

    def __init__(self, bot: TelegramBot, transport: httpx.BaseTransport | None = None) -> None:
        self.api = BotApi(bot, transport)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.api.close()

    def send(self, url: str, subject: str, body: str) -> SendResult:
        """Send `body` as a plain message (an informational one: nothing to press)."""
        return self._send(url, body, None)

    def send_with_actions(
        self, url: str, subject: str, body: str, actions: AlertActions
    ) -> SendResult:
        """Send `body` with Acknowledge, On my way and (with a phone on file) Call buttons."""
        wanted = [ButtonAction.ACKNOWLEDGE, ButtonAction.ON_THE_WAY]
        if actions.call:
            wanted.append(ButtonAction.CALL)
        return self._send(url, body, keyboard(actions.token, actions.language, wanted))

    def _send(self, url: str, body: str, markup: dict[str, Any] | None) -> SendResult:
        chat = chat_of(url)
        if chat is None:
            return SendResult(False, "expected tgbot://<Telegram user id>")
        params: dict[str, Any] = {
            "chat_id": chat,
            "text": body[:_MAX_TEXT],
            "link_preview_options": {"is_disabled": True},
        }
        if markup is not None:
            params["reply_markup"] = markup
        try:
            message = self.api.call("sendMessage", params)
        except BotApiError as exc:
            # 403: the person never pressed Start or blocked the bot; 400: unknown chat. Both
            # are failures of this method, so the engine moves to the person's next one.
            return SendResult(False, str(exc))
        _LOGGER.info(
            "telegram took the message: id %s",
            message.get("message_id") if isinstance(message, dict) else None,
        )
        return SendResult(True)
