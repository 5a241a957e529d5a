"""Outbound channels behind one small interface; apprise carries the real ones.

A channel sends one message to one apprise URL and says whether it went and, if not, why.
Retries, fall-through to the next method and recording attempts are the engine's job, so a
channel never retries on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import apprise

from hub.alerts.config import Language

__all__ = [
    "ActionChannel",
    "AlertActions",
    "AppriseChannel",
    "Channel",
    "PrintChannel",
    "RecordingChannel",
    "SendResult",
    "redact_url",
    "send_message",
]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendResult:
    """What happened to one send."""

    ok: bool
    error: str | None = None


class Channel(Protocol):
    """Sends one message to one contact URL."""

    def send(self, url: str, subject: str, body: str) -> SendResult:
        """Send and report; must not raise for delivery failures."""
        ...


@dataclass(frozen=True, slots=True)
class AlertActions:
    """What buttons under a message act on, for channels that show buttons (Telegram's bot)."""

    token: str  # the acknowledge token, the same one a link would carry
    language: Language  # of the button labels
    call: bool  # a phone number is on file, so a Call button makes sense


@runtime_checkable
class ActionChannel(Channel, Protocol):
    """A channel that can put acknowledge buttons under a message."""

    def send_with_actions(
        self, url: str, subject: str, body: str, actions: AlertActions
    ) -> SendResult:
        """Send with buttons; must not raise for delivery failures."""
        ...


def send_message(
    channel: Channel, url: str, subject: str, body: str, actions: AlertActions | None = None
) -> SendResult:
    """Send through `channel`, with buttons when there are actions and it can show them."""
    if actions is not None and isinstance(channel, ActionChannel):
        return channel.send_with_actions(url, subject, body, actions)
    return channel.send(url, subject, body)


def redact_url(url: str) -> str:
    """The URL without credentials, tokens or query, for the attempts table and logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # e.g. tgram://123:TOKEN/chat parses the token as a port
        host, port = "", ""
    # A host without a dot is often a secret (Telegram's bot token), not a server name.
    shown = f"{host}{port}" if "." in host else "***"
    return f"{url.split('://', 1)[0]}://{shown}"


class AppriseChannel:
    """Delivers through apprise: mailto://, tgram://, json://, SMS gateways, ..."""

    def __init__(self, asset: apprise.AppriseAsset | None = None) -> None:
        self._asset = asset or apprise.AppriseAsset(app_id="Mehr", app_desc="Mehr alerts")

    def send(self, url: str, subject: str, body: str) -> SendResult:
        """Send through apprise; a URL apprise cannot use is a failed send, not an exception."""
        notifier = apprise.Apprise(asset=self._asset)
        if not notifier.add(url):
            return SendResult(False, f"apprise cannot use this URL ({redact_url(url)})")
        try:
            # Why a send failed is in apprise's log; this send's own entries come back with its
            # result (apprise 2.3), so the alert engine's two lanes send at the same time and
            # each records its own error. (LogCapture swapped a handler on apprise's one
            # logger: one send at a time, a press's send waiting behind a backlog's.)
            result = notifier.notify(
                title=subject, body=body, body_format=apprise.NotifyFormat.TEXT,
                log_level=logging.WARNING,
            )  # fmt: skip
        except Exception as exc:  # a plugin bug must not take the engine down
            _LOGGER.exception("apprise raised while sending to %s", redact_url(url))
            return SendResult(False, f"{type(exc).__name__}: {exc}"[:300])
        if result:
            return SendResult(True)
        said = [entry.message for entry in result.logs() if entry.message]
        return SendResult(False, (said[-1] if said else "apprise reported failure")[:300])


class RecordingChannel:
    """Keeps messages in memory instead of sending (demo and tests); can be told to fail."""

    def __init__(self, fail_urls: set[str] | None = None, echo: bool = False) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.fail_urls = fail_urls if fail_urls is not None else set()
        self.echo = echo
        self._lock = threading.Lock()

    def send(self, url: str, subject: str, body: str) -> SendResult:
        """Record the message (or fail if the URL is in `fail_urls`)."""
        if url in self.fail_urls:
            return SendResult(False, "refused by RecordingChannel")
        with self._lock:
            self.sent.append((url, subject, body))
        if self.echo:
            _LOGGER.warning("NOTIFY %s: %s | %s", redact_url(url), subject, body.splitlines()[0])
        return SendResult(True)


class PrintChannel:
    """Hands each message to a writer instead of sending it (the demo prints them)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write

    def send(self, url: str, subject: str, body: str) -> SendResult:
        """Write one line per message: where it would go and what it says."""
        self._write(f"NOTIFY {redact_url(url)}: {body.splitlines()[0]}")
        return SendResult(True)
