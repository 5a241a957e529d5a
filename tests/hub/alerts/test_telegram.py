"""The Telegram bot against a loopback fake of the Bot API, with the real engine and SQLite: an
alert arrives with buttons; Acknowledge acknowledges once and stops the escalation; a second
press says who took it and when; a press by someone else or on an expired button is refused;
On my way and Call do what the worker's page does; the token never leaks."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.alerts.channels import AppriseChannel, RecordingChannel
from hub.alerts.config import AlertsConfig
from hub.alerts.engine import AlertEngine, AlertRunner, open_alerts_db
from hub.alerts.gateways import SchemeRouter, telegram_poller, with_gateways
from hub.alerts.lifecycle import AlertService, TokenError
from hub.alerts.telegram import TelegramChannel
from hub.alerts.telegram_bot import TelegramPoller
from hub.alerts.tokens import TokenSigner
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec
from hub.store.base import NewAlert
from mehr.clock import ManualClock
from tests.hub.alerts.conftest import SECRET, T0, config_dict, home, person
from tests.support.telegram_fake import FakeBotApi, SentMessage

TOKEN = "7000000001:AAH-test-token-for-the-fake-bot-api_x"
ENV = "MEHR_TEST_TELEGRAM_TOKEN"
WORKER, FAMILY, STRANGER = 111111, 222222, 999999


def telegram_config(fake: FakeBotApi, phone: str | None = "+998 90 123 45 67") -> dict[str, Any]:
    """The test district with the day worker (uz) and the first family member (ru) on the bot."""
    cfg = config_dict()
    cfg["gateways"] = {"telegram": {"token_env": ENV, "base_url": fake.url, "poll_timeout_s": 1}}
    people = {p["id"]: p for p in cfg["people"]}
    people["sw-day"] = person("sw-day", f"tgbot://{WORKER}")
    people["sw-day"]["name"] = "Aziza"
    people["fam-first"] = person("fam-first", f"tgbot://{FAMILY}", languages=["ru"])
    people["fam-first"]["name"] = "Lola"
    cfg["people"] = list(people.values())
    cfg["homes"][0]["ask_first"] = False
    if phone:
        cfg["homes"][0]["phone"] = phone
    return cfg


@dataclass
class BotRig:
    """The engine (apprise for email, the bot for tgbot://) and the poller on one database."""

    db_path: Path
    clock: ManualClock
    config: AlertsConfig
    recorded: RecordingChannel
    conn: sqlite3.Connection
    engine: AlertEngine
    poller: TelegramPoller
    fake: FakeBotApi

    def raise_alert(self, kind: str = "help_button", severity: str = "critical") -> int:
        """Raise through the core store, as ingest does."""
        store = SqliteStore(self.db_path)
        try:
            record, _ = store.raise_alert(
                NewAlert("home-1", kind, severity, self.clock.now(), None, {"room": "Bedroom"})
            )
            store.commit()
        finally:
            store.close()
        return record.id

    def at(self, seconds: float) -> None:
        """Move the clock to T0 + seconds and run the engine's due work."""
        self.clock.set(T0 + timedelta(seconds=seconds))
        self.engine.run_due()

    def press(self, message: SentMessage, label: str, **kwargs: Any) -> dict[str, Any]:
        """Press a button and let the poller handle it; return the bot's answer."""
        query = self.fake.press(message, label, **kwargs)
        assert self.poller.poll_once() >= 1
        answer = self.fake.answer(query)
        assert answer is not None
        return answer

    def service(self) -> AlertService:
        """A service on the engine's connection, for assertions."""
        return AlertService(self.conn, self.config, self.clock, TokenSigner(SECRET))

    def emailed(self) -> list[str]:
        """Who got a message through the recording channel (everyone not on the bot)."""
        return [url.split("//", 1)[1].split("@", 1)[0] for url, _, _ in self.recorded.sent]


def make_bot_rig(tmp_path: Path, fake: FakeBotApi, cfg: dict[str, Any]) -> BotRig:
    """Homes registered, an engine sending tgbot:// through the bot, a poller (not started)."""
    db_path = tmp_path / "hub.db"
    clock = ManualClock(T0)
    store = SqliteStore(db_path)
    spec: HomeSpec
    for spec in (home("home-1", "kit-1"),):
        store.register_home(spec, T0)
    store.close()
    config = AlertsConfig.model_validate(cfg)
    assert config.gateways.telegram is not None
    conn = open_alerts_db(db_path)
    recorded = RecordingChannel()
    channel = SchemeRouter(recorded, {"tgbot": TelegramChannel(config.gateways.telegram)})
    engine = AlertEngine(conn, config, clock, channel, TokenSigner(SECRET), "https://mehr.test")
    poller = telegram_poller(
        AppriseChannel(), config, lambda: open_alerts_db(db_path), clock, TokenSigner(SECRET)
    )
    assert poller is not None
    return BotRig(db_path, clock, config, recorded, conn, engine, poller, fake)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBotApi]:
    monkeypatch.setenv(ENV, TOKEN)
    api = FakeBotApi(TOKEN, {WORKER, FAMILY, STRANGER})
    api.start()
    yield api
    api.stop()


@pytest.fixture
def bot(tmp_path: Path, fake: FakeBotApi) -> Iterator[BotRig]:
    rig = make_bot_rig(tmp_path, fake, telegram_config(fake))
    yield rig
    rig.poller.stop()
    rig.conn.close()


def test_alert_reaches_the_bot_api_with_buttons_in_the_workers_language_and_no_link(
    bot: BotRig,
) -> None:
    bot.raise_alert()
    bot.at(0)
    message = bot.fake.wait_message(WORKER)
    assert message.text.startswith("MEHR: Yordam tugmasi bosildi. Mavluda opa, Navbahor 12, 10:00")
    assert "Xona: Yotoqxona" in message.text  # the kit's "Bedroom", in the worker's language
    assert "/ack/" not in message.text  # a forwarded copy carries no way to acknowledge
    assert message.labels() == ["✅ Qabul qildim", "🚗 Yoʻldaman", "📞 Qoʻngʻiroq"]
    rows = (message.reply_markup or {})["inline_keyboard"]
    assert [len(row) for row in rows] == [2, 1]
    assert all(len(b["callback_data"].encode()) <= 64 for b in message.buttons())
    russian = bot.fake.wait_message(FAMILY)
    assert russian.text.startswith("MEHR: Нажата кнопка помощи")
    assert russian.labels() == ["✅ Принимаю", "🚗 Выезжаю", "📞 Позвонить"]
    # Informed family get no buttons (nothing to acknowledge); email people are untouched.
    assert "fam-info" in bot.emailed() and "fam-with" in bot.emailed()
    (alert,) = bot.service().list_alerts("test")
    notes = {n.person_id: n for n in bot.service().notifications(alert.id)}
    assert notes["sw-day"].status == "sent"
    assert notes["sw-day"].attempts[0].destination == "tgbot://***"


def test_pressing_acknowledge_acknowledges_once_and_stops_the_escalation(bot: BotRig) -> None:
    alert_id = bot.raise_alert()
    bot.at(0)
    message = bot.fake.wait_message(WORKER)
    bot.clock.set(T0 + timedelta(seconds=65))
    answer = bot.press(message, "✅")
    assert answer["text"].startswith("Qabul qilindi. Rahmat!")
    view = bot.service().peek(alert_id)
    assert (view.state, view.acknowledged_by) == ("acknowledged", "person:sw-day")
    # The message now says who has it, at what local time, and keeps On my way and Call.
    assert message.text.endswith("\n\n✅ Qabul qildi: Aziza, 10:01")
    assert message.labels() == ["🚗 Yoʻldaman", "📞 Qoʻngʻiroq"]
    # The escalation stops: the duty officer (3 min) and supervisor (10 min) are never told.
    bot.at(181)
    bot.at(601)
    bot.at(1000)
    assert "duty" not in bot.emailed() and "sup" not in bot.emailed()
    assert len(bot.fake.messages(WORKER)) == 1  # and no re-notify
    audit = [(e.actor, e.action, e.detail.get("via")) for e in bot.service().history(alert_id)]
    assert ("person:sw-day", "acknowledge", None) in audit
    assert ("person:sw-day", "ack_link_used", "telegram") in audit


def test_pressing_acknowledge_again_says_who_took_it_and_when(bot: BotRig) -> None:
    alert_id = bot.raise_alert()
    bot.at(0)
    worker = bot.fake.wait_message(WORKER)
    family = bot.fake.wait_message(FAMILY)
    ack_data = worker.buttons()[0]["callback_data"]
    bot.clock.set(T0 + timedelta(minutes=2))
    bot.press(worker, "✅")
    # The same button again (a stale client still shows it): nothing changes, it says so.
    again = bot.press(worker, "", data=ack_data)
    assert again["text"] == "Siz buni soat 10:02 da qabul qilgansiz."
    # Someone else pressing later learns who took it and when, in their language, by name.
    bot.clock.set(T0 + timedelta(minutes=4))
    late = bot.press(family, "✅")
    assert late["text"] == "Уже принял(а): Aziza, в 10:02."
    assert family.text.endswith("✅ Принял(а): Aziza, 10:02") and family.labels() == []
    view = bot.service().peek(alert_id)
    assert view.acknowledged_by == "person:sw-day"
    assert view.acknowledged_at == T0 + timedelta(minutes=2)
    acks = [e for e in bot.service().history(alert_id) if e.action == "acknowledge"]
    assert len(acks) == 1


def test_the_button_and_the_link_share_one_single_use_token(bot: BotRig) -> None:
    alert_id = bot.raise_alert()
    bot.at(0)
    message = bot.fake.wait_message(WORKER)
    token = message.buttons()[0]["callback_data"].split(":", 1)[1]
    bot.press(message, "✅")
    with pytest.raises(TokenError) as used:
        bot.service().acknowledge_with_token(token)  # what POST /ack/<token> calls
    assert used.value.problem == "used"
    assert bot.service().peek(alert_id).state == "acknowledged"


def test_telegram_text_is_never_trimmed_or_transliterated_like_an_sms(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    cfg = telegram_config(fake)
    cfg["homes"][0]["address"] = "Navbahor mahallasi, Amir Temur koʻchasi 12-uy, 3-qavat, 7-xonadon"
    rig = make_bot_rig(tmp_path, fake, cfg)
    try:
        rig.raise_alert()
        rig.at(0)
        first_line = rig.fake.wait_message(FAMILY).text.splitlines()[0]
        assert first_line == (
            "MEHR: Нажата кнопка помощи. Mavluda opa, Navbahor mahallasi, Amir Temur koʻchasi "
            "12-uy, 3-qavat, 7-xonadon, 10:00."
        )
    finally:
        rig.poller.stop()
        rig.conn.close()


def test_a_press_from_another_telegram_user_is_refused_and_audited(bot: BotRig) -> None:
    alert_id = bot.raise_alert()
    bot.at(0)
    message = bot.fake.wait_message(WORKER)
    for label in ("✅", "🚗", "📞"):
        answer = bot.press(message, label, from_id=STRANGER, language_code="en")
        assert answer["text"] == "This button is not for you."
    view = bot.service().peek(alert_id)
    assert view.state == "notified" and view.acknowledged_by is None
    assert message.edits == 0 and len(bot.fake.messages(STRANGER)) == 0  # no phone handed out
    refused = [e for e in bot.service().history(alert_id) if e.action == "telegram_refused"]
    assert len(refused) == 3 and refused[0].actor == f"telegram:{STRANGER}"
    # The right person still can.
    assert bot.press(message, "✅")["text"].startswith("Qabul qilindi")


def test_an_expired_button_is_refused_and_loses_its_keyboard(bot: BotRig) -> None:
    alert_id = bot.raise_alert()
    bot.at(0)
    message = bot.fake.wait_message(WORKER)
    bot.clock.set(T0 + timedelta(seconds=bot.config.token_ttl_s + 1))
    answer = bot.press(message, "✅")
    assert answer["text"] == "Tugma muddati tugagan. Ilovadan kiring."
    assert bot.service().peek(alert_id).acknowledged_by is None
    assert message.labels() == []


def test_a_forged_button_is_refused(bot: BotRig) -> None:
    alert_id = bot.raise_alert()
    bot.at(0)
    message = bot.fake.wait_message(WORKER)
    data = message.buttons()[0]["callback_data"]
    forged = data[:-3] + ("AAA" if not data.endswith("AAA") else "BBB")
    assert bot.press(message, "", data=forged)["text"] == "Bu tugma yaroqsiz."
    assert bot.press(message, "", data="hello")["text"] == "Bu tugma yaroqsiz."
    assert bot.service().peek(alert_id).state == "notified"


def test_on_my_way_takes_the_alert_and_records_progress_like_the_web_page(bot: BotRig) -> None:
    alert_id = bot.raise_alert()
    bot.at(0)
    message = bot.fake.wait_message(WORKER)
    bot.clock.set(T0 + timedelta(minutes=1))
    answer = bot.press(message, "🚗")
    assert answer["text"] == "Yoʻlda ekaningiz qayd etildi. Ehtiyot boʻling!"
    view = bot.service().peek(alert_id)
    assert (view.state, view.progress, view.acknowledged_by) == (
        "acknowledged", "on_the_way", "person:sw-day",
    )
    assert message.text.endswith("✅ Qabul qildi: Aziza, 10:01\n🚗 Yoʻlda: Aziza, 10:01")
    assert message.labels() == ["📞 Qoʻngʻiroq"]
    actions = [e.action for e in bot.service().history(alert_id)]
    assert actions.count("acknowledge") == 1 and actions.count("on_the_way") == 1


def test_on_my_way_after_acknowledging_uses_the_same_button_set(bot: BotRig) -> None:
    alert_id = bot.raise_alert()
    bot.at(0)
    message = bot.fake.wait_message(WORKER)
    bot.press(message, "✅")
    bot.clock.set(T0 + timedelta(minutes=3))
    assert bot.press(message, "🚗")["text"].startswith("Yoʻlda ekaningiz qayd etildi")
    assert bot.service().peek(alert_id).on_the_way_at == T0 + timedelta(minutes=3)
    family = bot.fake.wait_message(FAMILY)
    assert bot.press(family, "🚗")["text"] == "Уже принял(а): Aziza, в 10:00."


def test_call_answers_the_recipient_with_the_residents_phone(bot: BotRig) -> None:
    alert_id = bot.raise_alert()
    bot.at(0)
    message = bot.fake.wait_message(WORKER)
    answer = bot.press(message, "📞")
    assert answer["text"] == "+998 90 123 45 67"
    reply = bot.fake.wait_message(WORKER, count=2)
    assert reply.text == "📞 Mavluda opa: +998 90 123 45 67"
    assert reply.reply_to == message.message_id
    assert bot.service().peek(alert_id).state == "notified"  # calling is not acknowledging
    shown = [e for e in bot.service().history(alert_id) if e.detail.get("what") == "phone"]
    assert [(e.actor, e.action) for e in shown] == [("person:sw-day", "view")]


def test_without_a_phone_on_file_there_is_no_call_button(tmp_path: Path, fake: FakeBotApi) -> None:
    rig = make_bot_rig(tmp_path, fake, telegram_config(fake, phone=None))
    try:
        rig.raise_alert()
        rig.at(0)
        assert rig.fake.wait_message(WORKER).labels() == ["✅ Qabul qildim", "🚗 Yoʻldaman"]
    finally:
        rig.poller.stop()
        rig.conn.close()


def test_a_chat_that_never_started_the_bot_falls_to_the_next_method(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    cfg = telegram_config(fake)
    for someone in cfg["people"]:
        if someone["id"] == "sw-day":
            someone["methods"] = [{"url": "tgbot://333333"}, {"url": "mailto://sw-day@test"}]
    rig = make_bot_rig(tmp_path, fake, cfg)
    try:
        alert_id = rig.raise_alert()
        rig.at(0)
        rig.at(6)  # the retry after the configured 5 s backoff
        assert "sw-day" in rig.emailed()
        note = next(n for n in rig.service().notifications(alert_id) if n.person_id == "sw-day")
        assert "403" in (note.attempts[0].error or "")
    finally:
        rig.poller.stop()
        rig.conn.close()


def test_start_answers_with_the_users_own_id_for_the_district_to_put_in_tgbot(
    bot: BotRig,
) -> None:
    bot.fake.start_bot(555555, language_code="ru")
    assert bot.poller.poll_once() == 1
    (greeting,) = bot.fake.messages(555555)
    assert "Ваш Telegram ID: 555555." in greeting.text
    assert bot.poller.poll_once() == 0  # confirmed: not answered twice


def test_the_bot_token_never_reaches_logs_errors_or_the_attempts_table(
    tmp_path: Path, fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = telegram_config(fake)
    for someone in cfg["people"]:
        if someone["id"] == "sw-day":
            someone["methods"] = [{"url": "tgbot://333333"}, {"url": f"tgbot://{WORKER}"}]
    rig = make_bot_rig(tmp_path, fake, cfg)
    try:
        with caplog.at_level(logging.DEBUG):
            alert_id = rig.raise_alert()
            for second in (0, 6, 12):
                rig.at(second)
            rig.press(rig.fake.wait_message(WORKER), "✅")
        assert "HTTP Request" in caplog.text  # httpx did log the requests...
        assert TOKEN not in caplog.text  # ...without the token in their URLs
        dump = "\n".join(rig.conn.iterdump())
        assert TOKEN not in dump
        assert rig.service().peek(alert_id).state == "acknowledged"
    finally:
        rig.poller.stop()
        rig.conn.close()


def test_the_runner_polls_for_presses_in_its_own_thread(tmp_path: Path, fake: FakeBotApi) -> None:
    config = AlertsConfig.model_validate(telegram_config(fake))
    db_path = tmp_path / "hub.db"
    store = SqliteStore(db_path)
    store.register_home(home("home-1", "kit-1"), T0)
    store.close()
    clock = ManualClock(T0)
    runner = AlertRunner(db_path, config, clock, AppriseChannel(), TokenSigner(SECRET),
                         "https://mehr.test")
    assert runner.telegram is not None
    runner.start()
    try:
        store = SqliteStore(db_path)
        record, _ = store.raise_alert(NewAlert("home-1", "fall", "critical", T0, None, {}))
        store.commit()
        store.close()
        # Only the bot's chats are asserted: the email people go to unreachable "@test" hosts.
        message = fake.wait_message(WORKER)
        assert message.text.startswith("MEHR: Yiqilish aniqlandi")
        answer = fake.wait_answer(fake.press(message, "✅"))
        assert answer["text"].startswith("Qabul qilindi")
        conn = sqlite3.connect(db_path, isolation_level=None)
        view = AlertService(conn, config, clock).peek(record.id)
        conn.close()
        assert view.acknowledged_by == "person:sw-day"
        assert fake.calls("getMe")
    finally:
        runner.stop()


def test_the_demo_recording_channel_never_polls_telegram(fake: FakeBotApi) -> None:
    config = AlertsConfig.model_validate(telegram_config(fake))
    assert telegram_poller(RecordingChannel(), config, lambda: sqlite3.connect(":memory:"),
                           ManualClock(T0), None) is None
    assert isinstance(with_gateways(RecordingChannel(), config.gateways, ManualClock(T0)),
                      RecordingChannel)


def test_tgbot_methods_need_the_bot_and_a_private_chat(fake: FakeBotApi) -> None:
    cfg = telegram_config(fake)
    without_bot = dict(cfg, gateways={})
    with pytest.raises(ValidationError, match=r"tgbot:// method needs gateways\.telegram"):
        AlertsConfig.model_validate(without_bot)
    group = telegram_config(fake)
    group["people"][0]["methods"] = [{"url": "tgbot://-100123456"}]
    with pytest.raises(ValidationError, match="private chat"):
        AlertsConfig.model_validate(group)
    inline = telegram_config(fake)
    inline["gateways"]["telegram"]["token"] = TOKEN
    with pytest.raises(ValidationError, match="token"):
        AlertsConfig.model_validate(inline)


def test_a_missing_bot_token_stops_the_hub_at_start(
    fake: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = AlertsConfig.model_validate(telegram_config(fake))
    monkeypatch.setenv(ENV, "not-a-token")
    with pytest.raises(ValueError, match="holds no bot token"):
        with_gateways(AppriseChannel(), config.gateways, ManualClock(T0))
