"""Button presses under Telegram alerts: long polling (getUpdates) in a hub thread, each press
checked and carried out with the same token rules as the acknowledge link.

Long polling, not a webhook: the hub needs no public HTTPS address (a district's hub often has
none) and no route in the web app; the poller starts with the alert engine when the bot is
configured. A press is honoured only from the Telegram user the message was sent to (the
person's own `tgbot://<user id>`), so a forwarded message or a screenshot of it lets nobody else
acknowledge. Acknowledge uses `AlertService.acknowledge_with_token`, the very function behind
the link: single use, expiry, audit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from hub.alerts.config import AlertsConfig, Language
from hub.alerts.lifecycle import (
    AlertService,
    AlertState,
    AlertView,
    Progress,
    TokenError,
    TokenProblem,
)
from hub.alerts.telegram import (
    BotApi,
    BotApiError,
    ButtonAction,
    chat_of,
    keyboard,
    parse_callback_data,
)
from hub.alerts.telegram_texts import Text, language_of, say
from hub.alerts.tokens import TokenSigner
from hub.persistence.connection import Connection
from hub.persistence.kits import home_label
from mehr.clock import Clock

__all__ = ["Answer", "Press", "PressHandler", "TelegramPoller", "parse_press"]

_LOGGER = logging.getLogger(__name__)
_VIA: Final = "telegram"
_STATUS_MARK: Final = "\n\n"  # the alert text has single line breaks only; status goes below
_PROBLEM_TEXT: Final = {
    TokenProblem.INVALID: Text.INVALID,
    TokenProblem.EXPIRED: Text.EXPIRED,
    TokenProblem.USED: Text.USED,
}


@dataclass(frozen=True, slots=True)
class Press:
    """One button press (a callback_query update)."""

    query_id: str
    from_id: int
    from_language: str | None
    chat_id: int | None
    message_id: int | None
    message_text: str | None
    data: str


@dataclass(frozen=True, slots=True)
class Answer:
    """What the bot does about a press: a short answer, and how the message changes."""

    toast: str
    edit: bool = False  # rewrite the message: its status line and buttons
    status: str | None = None
    buttons: list[ButtonAction] | None = None
    token: str = ""
    language: Language = Language.UZ
    reply: str | None = None  # a message of its own (the phone number)


def parse_press(update: dict[str, Any]) -> Press | None:
    """The press in an update, or None for anything else (messages, edits)."""
    query = update.get("callback_query")
    if not isinstance(query, dict):
        return None
    sender = query.get("from") or {}
    message = query.get("message") or {}
    chat = message.get("chat") or {}
    if not isinstance(sender.get("id"), int) or not isinstance(query.get("id"), str):
        return None
    return Press(
        query_id=query["id"],
        from_id=sender["id"],
        from_language=sender.get("language_code"),
        chat_id=chat.get("id") if isinstance(chat.get("id"), int) else None,
        message_id=message.get("message_id") if isinstance(message.get("message_id"), int)
        else None,
        message_text=message.get("text") if isinstance(message.get("text"), str) else None,
        data=str(query.get("data") or ""),
    )


def actor_name(actor: str | None, config: AlertsConfig) -> str:
    """Who an actor is, as people read it: a person's name, a web user's name."""
    if not actor:
        return ""
    kind, _, value = actor.partition(":")
    if kind == "person":
        person = config.person(value)
        return person.name if person else value
    return value if kind == "user" else actor


class PressHandler:
    """Decides and records what a press does, on one AlertService (one connection)."""

    def __init__(self, service: AlertService) -> None:
        self.service = service
        self.config = service.config

    def handle(self, press: Press) -> Answer:
        """Check who pressed and carry out the button; every change is audited."""
        guess = language_of(press.from_language)
        parsed = parse_callback_data(press.data)
        if parsed is None:
            return Answer(say(Text.INVALID, guess))
        action, token = parsed
        try:
            info = self.service.check_token(token)
        except TokenError as exc:
            # An expired button loses its keyboard so nobody keeps pressing it.
            return Answer(
                say(_PROBLEM_TEXT[exc.problem], guess),
                edit=exc.problem is TokenProblem.EXPIRED,
                buttons=[],
            )
        person = self.config.person(info.person_id)
        language = person.languages[0] if person else guess
        chats = {chat_of(m.url) for m in person.methods} if person else set()
        if press.from_id not in chats or press.chat_id not in (None, press.from_id):
            with self.service.tx():
                self.service.audit(
                    info.alert.id, f"telegram:{press.from_id}", "telegram_refused",
                    button=action.value, token_person=info.person_id,
                    reason="pressed by a Telegram user the message was not sent to",
                )
            _LOGGER.warning(
                "telegram: user %s pressed a button of alert #%s sent to %s; refused",
                press.from_id, info.alert.id, info.person_id,
            )
            return Answer(say(Text.NOT_YOURS, language_of(press.from_language, language)))
        me = f"person:{info.person_id}"
        if action is ButtonAction.CALL:
            return self._call(info.alert, me, language)
        return self._act(action, token, info.alert, me, language, f"telegram user {press.from_id}")

    def _act(
        self,
        action: ButtonAction,
        token: str,
        alert: AlertView,
        me: str,
        language: Language,
        address: str,
    ) -> Answer:
        """Acknowledge or On my way through the token, then say where the alert stands."""
        try:
            if action is ButtonAction.ACKNOWLEDGE:
                done = self.service.acknowledge_with_token(token, None, address, via=_VIA)
                if done.acknowledged:
                    return self._state(done.alert, me, token, language, Text.ACKNOWLEDGED)
            else:
                done = self.service.on_the_way_with_token(token, address, via=_VIA)
                if done.acknowledged and alert.progress is None:
                    return self._state(done.alert, me, token, language, Text.ON_THE_WAY)
        except TokenError as exc:
            if exc.problem is not TokenProblem.USED:
                return Answer(say(_PROBLEM_TEXT[exc.problem], language))
            # Used before: say who has the alert now, not just "used".
        return self._state(self.service.peek(alert.id), me, token, language, None)

    def _local(self, alert: AlertView, moment: datetime | None) -> str:
        if moment is None:
            return ""
        home = home_label(self.service.conn, alert.home_id)
        zone = home.timezone if home and home.timezone else self.config.district.timezone
        return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")

    def _state(
        self, alert: AlertView, me: str, token: str, language: Language, done: Text | None
    ) -> Answer:
        """The answer that tells the presser where the alert stands, and the message to match."""
        name = actor_name(alert.acknowledged_by, self.config)
        taken_at = self._local(alert, alert.acknowledged_at)
        lines = []
        if alert.acknowledged_by:
            lines.append(say(Text.STATUS_TAKEN, language, name=name, time=taken_at))
        if alert.progress in (Progress.ON_THE_WAY, Progress.ARRIVED) and alert.on_the_way_at:
            lines.append(say(Text.STATUS_ON_THE_WAY, language, name=name,
                             time=self._local(alert, alert.on_the_way_at)))
        call = [ButtonAction.CALL] if self._phone(alert) else []
        if alert.state not in (AlertState.ACKNOWLEDGED, AlertState.RAISED, AlertState.NOTIFIED):
            lines.append(say(Text.STATUS_CLOSED, language))
            toast, buttons = say(Text.CLOSED, language), []
        elif alert.state != AlertState.ACKNOWLEDGED:
            # Open again (an acknowledgement timed out) but this button was used: the app.
            toast, buttons = say(Text.USED, language), call
        elif alert.acknowledged_by != me:
            toast, buttons = say(Text.TAKEN_BY, language, name=name, time=taken_at), []
        elif done is not None:
            toast = say(done, language)
            buttons = ([ButtonAction.ON_THE_WAY] if alert.progress is None else []) + call
        elif alert.progress is not None and alert.on_the_way_at is not None:
            toast = say(Text.ON_THE_WAY_SINCE, language,
                        time=self._local(alert, alert.on_the_way_at))
            buttons = call
        else:
            toast = say(Text.TAKEN_BY_YOU, language, time=taken_at)
            buttons = [ButtonAction.ON_THE_WAY, *call]
        return Answer(toast, edit=True, status="\n".join(lines) or None, buttons=buttons,
                      token=token, language=language)

    def _phone(self, alert: AlertView) -> str | None:
        contacts = self.config.home(alert.home_id)
        return contacts.phone if contacts else None

    def _call(self, alert: AlertView, me: str, language: Language) -> Answer:
        phone = self._phone(alert)
        if phone is None:
            return Answer(say(Text.NO_PHONE, language))
        contacts = self.config.home(alert.home_id)
        with self.service.tx():  # the resident's number is personal data: its showing is audited
            self.service.audit(alert.id, me, "view", via=_VIA, what="phone")
        resident = contacts.resident if contacts else ""
        return Answer(phone, reply=f"📞 {resident}: {phone}")


class TelegramPoller:
    """Fetches button presses with getUpdates and answers them; one thread, own connection."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        config: AlertsConfig,
        clock: Clock,
        signer: TokenSigner | None,
        api: BotApi,
        poll_timeout_s: float = 25,
    ) -> None:
        self._connect = connect  # opens the hub's database in the poller's thread
        self.config = config
        self.clock = clock
        self.signer = signer
        self.api = api
        self.poll_timeout_s = poll_timeout_s
        self.offset: int | None = None
        self.handled = 0
        self.errors = 0
        self._conn: Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Held while a batch of presses is answered, so stopping never cuts one in half.
        self._working = threading.Lock()

    # -- one batch ------------------------------------------------------------------------------

    def _service(self) -> AlertService:
        if self._conn is None:
            self._conn = self._connect()
        return AlertService(self._conn, self.config, self.clock, self.signer)

    def poll_once(self, timeout_s: float = 0) -> int:
        """Fetch pending presses (waiting up to `timeout_s` for one) and answer each; return how
        many updates were taken. Raises BotApiError when getUpdates itself fails."""
        params: dict[str, Any] = {
            "timeout": int(timeout_s), "allowed_updates": ["callback_query", "message"],
        }
        if self.offset is not None:
            params["offset"] = self.offset
        updates = self.api.call("getUpdates", params, timeout=timeout_s + self.api.timeout_s)
        if not isinstance(updates, list):
            return 0
        with self._working:
            if self._stop.is_set():
                return 0  # not confirmed: Telegram hands them to the next start
            self._take(updates)
        return len(updates)

    def _take(self, updates: list[Any]) -> None:
        for update in updates:
            update_id = update.get("update_id") if isinstance(update, dict) else None
            if not isinstance(update_id, int):
                continue
            # Confirmed with the next getUpdates whatever happens: a press that breaks the
            # handler must not come back forever.
            self.offset = update_id + 1
            press = parse_press(update)
            if press is not None:
                self._answer(press)
            else:
                self._greet(update.get("message"))

    def _greet(self, message: Any) -> None:
        """Answer /start in a private chat with the user's id: what the district puts in
        `tgbot://<id>`, so nobody needs a third-party bot to find it. Other messages are
        ignored (the bot only sends alerts)."""
        if not isinstance(message, dict) or not str(message.get("text", "")).startswith("/start"):
            return
        chat = message.get("chat") or {}
        sender = message.get("from") or {}
        if chat.get("type") != "private" or not isinstance(sender.get("id"), int):
            return
        language = language_of(sender.get("language_code"))
        self._try("sendMessage", {
            "chat_id": sender["id"], "text": say(Text.START, language, id=str(sender["id"])),
        })

    def _answer(self, press: Press) -> None:
        try:
            answer = PressHandler(self._service()).handle(press)
        except Exception:
            self.errors += 1
            _LOGGER.exception("telegram: handling a press failed")
            answer = Answer(say(Text.FAILED, language_of(press.from_language)))
        self.handled += 1
        self._try("answerCallbackQuery", {"callback_query_id": press.query_id,
                                          "text": answer.toast[:200]})
        if answer.edit and press.chat_id is not None and press.message_id is not None:
            self._edit(press, answer)
        if answer.reply and press.chat_id is not None:
            reply: dict[str, Any] = {"chat_id": press.chat_id, "text": answer.reply}
            if press.message_id is not None:
                reply["reply_parameters"] = {
                    "message_id": press.message_id, "allow_sending_without_reply": True,
                }
            self._try("sendMessage", reply)

    def _edit(self, press: Press, answer: Answer) -> None:
        markup = keyboard(answer.token, answer.language, answer.buttons or [])
        if press.message_text is None or answer.status is None:
            self._try("editMessageReplyMarkup", {
                "chat_id": press.chat_id, "message_id": press.message_id, "reply_markup": markup,
            })
            return
        base = press.message_text.split(_STATUS_MARK, 1)[0]
        self._try("editMessageText", {
            "chat_id": press.chat_id,
            "message_id": press.message_id,
            "text": f"{base}{_STATUS_MARK}{answer.status}",
            "reply_markup": markup,
            "link_preview_options": {"is_disabled": True},
        })

    def _try(self, method: str, params: dict[str, Any]) -> None:
        try:
            self.api.call(method, params)
        except BotApiError as exc:
            if "not modified" in exc.description:
                return  # pressed again on a message that already says this
            _LOGGER.warning("telegram: %s", exc)

    # -- the thread -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start polling in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="hub-telegram", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the press being answered, without waiting for the long poll under way.

        httpx cannot cut a request another thread is waiting on, and a hub that takes
        `poll_timeout_s` to stop is a worse failure than a daemon thread left inside a poll:
        whatever that poll returns is not taken (nor confirmed), so it comes back next start.
        """
        self._stop.set()
        with self._working:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        if self._thread is not None:
            self._thread.join(timeout=0.5)
        if self._thread is None or not self._thread.is_alive():
            self.api.close()

    def _run(self) -> None:
        backoff = 1.0
        try:
            me = self.api.call("getMe", {})
            _LOGGER.info("telegram bot @%s polls for button presses",
                         me.get("username") if isinstance(me, dict) else "?")
        except BotApiError as exc:
            _LOGGER.error("telegram: getMe failed (%s); polling anyway", exc)
        while not self._stop.is_set():
            try:
                self.poll_once(self.poll_timeout_s)
                backoff = 1.0
            except BotApiError as exc:
                if self._stop.is_set():
                    return
                self.errors += 1
                wait = float(exc.retry_after or backoff)
                # 401: wrong token; 409: another hub (or a webhook) takes this bot's updates.
                _LOGGER.error("telegram: getUpdates failed (%s); again in %.0f s", exc, wait)
                self._stop.wait(wait)
                backoff = min(backoff * 2, 60.0)
            except Exception:
                self.errors += 1
                _LOGGER.exception("telegram: polling failed")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 60.0)
