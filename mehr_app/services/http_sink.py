"""A real HTTP server on loopback that keeps every request it receives, for channel tests.

It answers with a `respond` function (default: 200 and an empty JSON object) and can hold the
first request to chosen paths open until `release()`, so a test can kill a sender mid-request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["HttpSink", "Reply", "SeenRequest"]


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    # When it arrived (time.monotonic()), for latency measurements in benchmarks.
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body parsed as an urlencoded form (one value per field)."""
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())


@dataclass(frozen=True, slots=True)
class Reply:
    """What the server answers."""

    status: int = 200
    body: Any = None  # JSON-encoded unless bytes

    def encoded(self) -> bytes:
        """The body as bytes."""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps({} if self.body is None else self.body).encode()


class HttpSink:
    """Records requests; answers each with `respond(request)`; can hold chosen paths open."""

    def __init__(
        self,
        respond: Callable[[SeenRequest], Reply] | None = None,
        hold_paths: set[str] | None = None,
    ) -> None:
        self.requests: list[SeenRequest] = []
        self._respond = respond or (lambda _request: Reply())
        self._hold_paths = set(hold_paths or ())
        self._released = threading.Event()
        self._seen = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                parts = urlsplit(self.path)
                request = SeenRequest(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    dict(self.headers.items()),
                    self.rfile.read(length),
                )
                sink._record(request)
                if request.path in sink._hold_paths:
                    sink._hold_paths.discard(request.path)  # only the first one is held
                    sink._released.wait(timeout=120)
                reply = sink._respond(request)
                data = reply.encoded()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the sender is gone (killed while we held its request)
                    pass

            # http.server dispatches on these names.
            do_GET = do_POST = do_PATCH = do_PUT = _handle  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _record(self, request: SeenRequest) -> None:
        with self._seen:
            self.requests.append(request)
            self._seen.notify_all()

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Let any held request go and stop serving."""
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def release(self) -> None:
        """Let the held request finish."""
        self._released.set()

    def count(self, path: str) -> int:
        """How many requests reached `path`."""
        with self._seen:
            return sum(1 for r in self.requests if r.path == path)

    def wait_for(self, path: str, timeout: float = 10.0) -> SeenRequest:
        """Wait until a request for `path` has arrived and return the first one."""
        with self._seen:
            found = self._seen.wait_for(
                lambda: any(r.path == path for r in self.requests), timeout
            )
            if not found:
                raise AssertionError(f"no request for {path} within {timeout} s")
            return next(r for r in self.requests if r.path == path)
