"""Which channel carries which contact URL: apprise for most, our own for SMS gateways that need
an account (Eskiz, Play Mobile) and for the Telegram bot whose buttons acknowledge. The engine
sends through `with_gateways(channel, ...)`.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.alerts.channels import AlertActions, AppriseChannel, Channel, SendResult, send_message
from hub.alerts.config import AlertsConfig, GatewaysConfig
from hub.alerts.eskiz import SCHEME as ESKIZ_SCHEME
from hub.alerts.eskiz import EskizChannel
from hub.alerts.playmobile import SCHEME as PLAYMOBILE_SCHEME
from hub.alerts.playmobile import PlayMobileChannel
from hub.alerts.telegram import SCHEME as TELEGRAM_SCHEME
from hub.alerts.telegram import BotApi, TelegramChannel
from hub.alerts.telegram_bot import TelegramPoller
from hub.alerts.tokens import TokenSigner
from hub.persistence.connection import Connection
from mehr.clock import Clock

__all__ = ["SchemeRouter", "telegram_poller", "with_gateways"]


class SchemeRouter:
    """Sends each URL through the channel registered for its scheme, else the default one."""

    def __init__(self, default: Channel, by_scheme: dict[str, Channel]) -> None:
        self.default = default
        self.by_scheme = {scheme.lower(): channel for scheme, channel in by_scheme.items()}

    def send(self, url: str, subject: str, body: str) -> SendResult:
        """Route by the URL's scheme."""
        return self._channel(url).send(url, subject, body)

    def send_with_actions(
        self, url: str, subject: str, body: str, actions: AlertActions
    ) -> SendResult:
        """Route by the URL's scheme; a channel without buttons sends the text alone."""
        return send_message(self._channel(url), url, subject, body, actions)

    def _channel(self, url: str) -> Channel:
        return self.by_scheme.get(url.split("://", 1)[0].lower(), self.default)


def with_gateways(channel: Channel, gateways: GatewaysConfig, clock: Clock) -> Channel:
    """The channel to send through: gateway schemes go to their own channel when `channel`
    delivers for real (apprise); the demo's and tests' recording channels are kept as they are,
    so the demo never logs in to a real gateway. Raises ValueError if a gateway's secret is
    missing, so the hub refuses to start rather than fail at the first alert."""
    if not isinstance(channel, AppriseChannel):
        return channel
    by_scheme: dict[str, Channel] = {}
    if gateways.eskiz is not None:
        by_scheme[ESKIZ_SCHEME] = EskizChannel(gateways.eskiz, clock)
    if gateways.playmobile is not None:
        by_scheme[PLAYMOBILE_SCHEME] = PlayMobileChannel(gateways.playmobile)
    if gateways.telegram is not None:
        by_scheme[TELEGRAM_SCHEME] = TelegramChannel(gateways.telegram)
    return SchemeRouter(channel, by_scheme) if by_scheme else channel


def telegram_poller(
    channel: Channel,
    config: AlertsConfig,
    connect: Callable[[], Connection],
    clock: Clock,
    signer: TokenSigner | None,
) -> TelegramPoller | None:
    """The poller for presses on the bot's buttons, when the district has a bot and `channel`
    delivers for real (as `with_gateways`); None otherwise. Raises ValueError without a token."""
    bot = config.gateways.telegram
    if bot is None or not isinstance(channel, AppriseChannel):
        return None
    return TelegramPoller(connect, config, clock, signer, BotApi(bot), bot.poll_timeout_s)
