"""Serve the acknowledge router on a real loopback port with uvicorn (tests and bench)."""

from __future__ import annotations

import threading
import time

import uvicorn
from fastapi import FastAPI

from dashboards.routes.ack import AckContext, router
from mehr_app.services.smtp_sink import free_port


class AckServer:
    """A minimal FastAPI app with the ack router, run by uvicorn in a thread."""

    def __init__(self, context: AckContext) -> None:
        # The link page reads the registry (where to go, whom to call) from the web app's
        # tables; in production dashboards.create_app prepares them, here the server does.
        context.database.prepare()
        app = FastAPI()
        app.state.mehr_ack = context
        app.include_router(router)
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise AssertionError("uvicorn did not start")
            time.sleep(0.02)  # polling a real server starting up

    def stop(self) -> None:
        """Stop serving."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
