"""A fake of Telegram's Bot API on loopback: the methods the hub uses, with Telegram's checks.

Implements getMe, sendMessage, getUpdates (long polling with offsets), answerCallbackQuery,
editMessageText and editMessageReplyMarkup at /bot<token>/<method>, with JSON bodies. It keeps
every message the bot sent, refuses what Telegram refuses (a wrong token, callback data over 64
bytes, a button URL that is not http(s):// or tg://, a chat that never started the bot) and lets
a test press a button as any user: `press()` queues the callback_query update Telegram would.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeBotApi", "SentMessage"]

BOT_ID = 7000000001


@dataclass
class SentMessage:
    """A message the bot sent, as it stands now (edits change it)."""

    message_id: int
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None
    edits: int = 0
    reply_to: int | None = None

    def buttons(self) -> list[dict[str, str]]:
        """Every inline button, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]

    def labels(self) -> list[str]:
        """The button labels."""
        return [b["text"] for b in self.buttons()]


@dataclass
class _State:
    token: str
    chats: set[int]
    messages: list[SentMessage] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    next_update: int = 1
    next_message: int = 100
    next_query: int = 1


class _BadRequest(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _check_markup(markup: Any) -> None:
    if markup is None:
        return
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list):
        raise _BadRequest(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in rows:
        for button in row:
            kinds = [k for k in ("url", "callback_data") if k in button]
            if len(kinds) != 1 or not button.get("text"):
                raise _BadRequest(400, "Bad Request: can't parse inline keyboard button")
            if "callback_data" in button and not 1 <= len(button["callback_data"].encode()) <= 64:
                raise _BadRequest(400, "Bad Request: BUTTON_DATA_INVALID")
            if "url" in button and not button["url"].startswith(("http://", "https://", "tg://")):
                raise _BadRequest(400, "Bad Request: inline keyboard button URL is invalid")


class FakeBotApi:
    """Telegram's Bot API for one bot, on 127.0.0.1; `chats` are users who pressed Start."""

    def __init__(self, token: str, chats: set[int], max_poll_s: float = 2.0) -> None:
        self.state = _State(token, set(chats))
        self.max_poll_s = max_poll_s
        self._closed = False
        self._cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length) if length else b"{}"
                status, body = fake._dispatch(self.path, raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test asserts on what arrived instead."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The origin to configure as the bot's base_url."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in a thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; wakes any long poll."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # -- what tests look at and do ---------------------------------------------------------------

    def messages(self, chat_id: int | None = None) -> list[SentMessage]:
        """Messages the bot sent (to one chat), oldest first."""
        with self._cond:
            return [m for m in self.state.messages if chat_id in (None, m.chat_id)]

    def calls(self, method: str) -> list[dict[str, Any]]:
        """Parameters of every call of `method`."""
        with self._cond:
            return [params for name, params in self.state.calls if name == method]

    def answer(self, query_id: str) -> dict[str, Any] | None:
        """The answerCallbackQuery for one press, if it came."""
        with self._cond:
            return self.state.answers.get(query_id)

    def wait_answer(self, query_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for the hub to answer a press (the poller runs in another thread)."""
        with self._cond:
            if not self._cond.wait_for(lambda: query_id in self.state.answers, timeout):
                raise AssertionError(f"press {query_id} was never answered")
            return self.state.answers[query_id]

    def wait_message(self, chat_id: int, count: int = 1, timeout: float = 10.0) -> SentMessage:
        """Wait until `count` messages reached a chat; return the last."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.messages_unlocked(chat_id)) >= count, timeout)
            if not ok:
                raise AssertionError(f"no message {count} for chat {chat_id}")
            return self.messages_unlocked(chat_id)[count - 1]

    def messages_unlocked(self, chat_id: int) -> list[SentMessage]:
        """Messages to a chat (call with the condition held)."""
        return [m for m in self.state.messages if m.chat_id == chat_id]

    def press(
        self,
        message: SentMessage,
        label_start: str,
        from_id: int | None = None,
        language_code: str | None = None,
        data: str | None = None,
    ) -> str:
        """Press the button whose label starts with `label_start` (or send `data`) as user
        `from_id` (default: the chat's own user); return the callback query id."""
        if data is None:
            matches = [b for b in message.buttons() if b["text"].startswith(label_start)]
            if not matches:
                raise AssertionError(f"no button {label_start!r} in {message.labels()}")
            data = matches[0]["callback_data"]
        with self._cond:
            query_id = f"q{self.state.next_query}"
            self.state.next_query += 1
            sender: dict[str, Any] = {"id": from_id or message.chat_id, "is_bot": False,
                                      "first_name": "Test"}
            if language_code:
                sender["language_code"] = language_code
            self.state.updates.append({
                "update_id": self.state.next_update,
                "callback_query": {
                    "id": query_id,
                    "from": sender,
                    "chat_instance": "ci-1",
                    "data": data,
                    "message": {
                        "message_id": message.message_id,
                        "date": 0,
                        "chat": {"id": message.chat_id, "type": "private"},
                        "text": message.text,
                        "reply_markup": message.reply_markup,
                    },
                },
            })
            self.state.next_update += 1
            self._cond.notify_all()
        return query_id

    def start_bot(self, user_id: int, language_code: str | None = None) -> None:
        """The user opens the bot and presses Start: the bot may write to them from now on."""
        with self._cond:
            self.state.chats.add(user_id)
            sender: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Test"}
            if language_code:
                sender["language_code"] = language_code
            self.state.updates.append({
                "update_id": self.state.next_update,
                "message": {
                    "message_id": 1, "date": 0, "from": sender, "text": "/start",
                    "chat": {"id": user_id, "type": "private"},
                    "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                },
            })
            self.state.next_update += 1
            self._cond.notify_all()

    # -- the API ---------------------------------------------------------------------------------

    def _dispatch(self, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        prefix = f"/bot{self.state.token}/"
        if not path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path[len(prefix):]
        try:
            params = json.loads(raw or b"{}")
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
            with self._cond:
                self.state.calls.append((method, params))
            return 200, {"ok": True, "result": handler(params)}
        except _BadRequest as exc:
            return exc.code, {"ok": False, "error_code": exc.code, "description": exc.description}

    def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Mehr", "username": "mehr_test_bot"}

    def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = params.get("chat_id")
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 4096:
            raise _BadRequest(400, "Bad Request: message text is empty")
        if chat not in self.state.chats:
            raise _BadRequest(403, "Forbidden: bot can't initiate conversation with a user")
        _check_markup(params.get("reply_markup"))
        with self._cond:
            message = SentMessage(
                self.state.next_message, chat, text, params.get("reply_markup"),
                reply_to=(params.get("reply_parameters") or {}).get("message_id"),
            )
            self.state.next_message += 1
            self.state.messages.append(message)
            self._cond.notify_all()
        return {"message_id": message.message_id, "date": 0,
                "chat": {"id": chat, "type": "private"}, "text": text}

    def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = params.get("offset")
        wait = min(float(params.get("timeout") or 0), self.max_poll_s)
        with self._cond:
            if offset is not None:  # confirms every update before it
                self.state.updates = [u for u in self.state.updates if u["update_id"] >= offset]
            self._cond.wait_for(lambda: bool(self.state.updates) or self._closed, wait)
            return list(self.state.updates)

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query_id = params.get("callback_query_id")
        with self._cond:
            if query_id in self.state.answers:
                raise _BadRequest(400, "Bad Request: query is too old and response timeout "
                                  "expired or query ID is invalid")
            self.state.answers[str(query_id)] = params
            self._cond.notify_all()
        return True

    def _message(self, params: dict[str, Any]) -> SentMessage:
        for message in self.state.messages:
            if (message.chat_id, message.message_id) == (params.get("chat_id"),
                                                          params.get("message_id")):
                return message
        raise _BadRequest(400, "Bad Request: message to edit not found")

    def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_markup(params.get("reply_markup"))
        with self._cond:
            message = self._message(params)
            markup = params.get("reply_markup")
            if params.get("text") == message.text and markup == message.reply_markup:
                raise _BadRequest(400, "Bad Request: message is not modified")
            message.text = params["text"]
            message.reply_markup = markup
            message.edits += 1
            self._cond.notify_all()
        return {"message_id": message.message_id}

    def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_markup(params.get("reply_markup"))
        with self._cond:
            message = self._message(params)
            if params.get("reply_markup") == message.reply_markup:
                raise _BadRequest(400, "Bad Request: message is not modified")
            message.reply_markup = params.get("reply_markup")
            message.edits += 1
            self._cond.notify_all()
        return {"message_id": message.message_id}
