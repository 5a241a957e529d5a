"""systemd notifications (READY, WATCHDOG) without a dependency: one datagram to $NOTIFY_SOCKET."""

from __future__ import annotations

import logging
import os
import socket

__all__ = ["Notifier"]

_LOGGER = logging.getLogger(__name__)


class Notifier:
    """Talks to systemd when run as a Type=notify service; does nothing otherwise."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        if self.address and self.address.startswith("@"):
            # An abstract socket name: the leading '@' stands for a NUL byte.
            self.address = "\0" + self.address[1:]

    @property
    def enabled(self) -> bool:
        """True when systemd asked for notifications."""
        return bool(self.address)

    def notify(self, state: str) -> None:
        """Send one state line such as 'READY=1'."""
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(state.encode(), self.address)
        except OSError as exc:
            _LOGGER.warning("systemd notify failed: %s", exc)

    def ready(self) -> None:
        """Tell systemd the agent is up."""
        self.notify("READY=1")

    def watchdog(self) -> None:
        """Feed systemd's watchdog (the agent does so only while its threads are alive)."""
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        """Tell systemd the agent is shutting down."""
        self.notify("STOPPING=1")
