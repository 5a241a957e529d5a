"""Which channel carries which contact URL: apprise for most, our own for SMS gateways that need
an account (Eskiz, Play Mobile). The engine sends through `with_gateways(channel, ...)`.
"""

from __future__ import annotations

from hub.alerts.channels import AppriseChannel, Channel, SendResult
from hub.alerts.config import GatewaysConfig
from hub.alerts.eskiz import SCHEME as ESKIZ_SCHEME
from hub.alerts.eskiz import EskizChannel
from hub.alerts.playmobile import SCHEME as PLAYMOBILE_SCHEME
from hub.alerts.playmobile import PlayMobileChannel
from mehr.clock import Clock

__all__ = ["SchemeRouter", "with_gateways"]


class SchemeRouter:
    """Sends each URL through the channel registered for its scheme, else the default one."""

    def __init__(self, default: Channel, by_scheme: dict[str, Channel]) -> None:
        self.default = default
        self.by_scheme = {scheme.lower(): channel for scheme, channel in by_scheme.items()}

    def send(self, url: str, subject: str, body: str) -> SendResult:
        """Route by the URL's scheme."""
        scheme = url.split("://", 1)[0].lower()
        return self.by_scheme.get(scheme, self.default).send(url, subject, body)


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
    return SchemeRouter(channel, by_scheme) if by_scheme else channel
