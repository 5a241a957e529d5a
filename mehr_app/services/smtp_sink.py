"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for tests and bench."""

from __future__ import annotations

import email
import email.policy
import queue
import threading
import time
from dataclasses import dataclass
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from mehr_app.services.ports import free_port


@dataclass(frozen=True)
class Received:
    """One delivered mail."""

    at: float  # time.perf_counter() when the server accepted it
    rcpt: tuple[str, ...]
    message: Message

    @property
    def body(self) -> str:
        """The decoded text body."""
        payload = self.message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode("utf-8")


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(  # noqa: N802 - the name aiosmtpd calls
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.startswith("unknown"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        msg = Received(time.perf_counter(), tuple(envelope.rcpt_tos), parsed)
        self.sink.inbox.put(msg)
        with self.sink.lock:
            self.sink.received.append(msg)
        return "250 OK"


class SmtpSink:
    """aiosmtpd on a free loopback port; refuses recipients whose address starts 'unknown'."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.inbox: queue.Queue[Received] = queue.Queue()
        self.lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._running = False

    def start(self) -> None:
        """Start serving."""
        self._controller.start()
        self._running = True

    def stop(self) -> None:
        """Stop serving (the port then refuses connections: 'SMTP server down')."""
        if self._running:
            self._controller.stop()
            self._running = False

    def url(self, to: str) -> str:
        """An apprise mailto URL that delivers to `to` through this server."""
        return f"mailto://127.0.0.1:{self.port}?from=hub@mehr.test&to={to}&mode=insecure"

    def wait_for(self, to: str, timeout: float = 10.0) -> Received:
        """The first mail to `to`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for msg in self.received:
                    if to in msg.rcpt:
                        return msg
            time.sleep(0.02)  # polling a real server that is doing the work
        raise AssertionError(f"no mail to {to} within {timeout} s")
