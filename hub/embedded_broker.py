"""An embedded MQTT broker (amqtt, MQTT 3.1.1) for `mehr demo`: no system service needed.

Loopback only and anonymous: it exists so the demo runs anywhere. Production and the tests use
Mosquitto with per-kit credentials and ACLs (see docs/deploy.md and hub/broker_auth.py).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

__all__ = ["EmbeddedBroker"]

_LOGGER = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """amqtt running on its own event loop in a background thread."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or _free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt", daemon=True)
        self._broker: Any = None

    @property
    def url(self) -> str:
        """mqtt:// URL of the broker."""
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        """Start the broker and return once it listens."""
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread.start()
        self._broker = Broker(config, loop=self._loop)
        asyncio.run_coroutine_threadsafe(self._broker.start(), self._loop).result(timeout=30)
        _LOGGER.info("embedded broker listening on %s", self.url)

    def stop(self) -> None:
        """Stop the broker's loop.

        amqtt 0.12's own shutdown waits 5 s for its broadcast loop and then logs a traceback;
        the demo holds nothing in the broker worth saving, so stopping the loop is enough.
        """
        logging.getLogger("amqtt").setLevel(logging.CRITICAL)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
