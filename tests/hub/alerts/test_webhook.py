"""Webhooks through apprise to a real HTTP server on loopback: delivered, or failed and recorded."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hub.alerts import AlertService
from hub.alerts.channels import AppriseChannel
from hub.alerts.engine import AlertEngine
from hub.alerts.tokens import TokenSigner
from tests.hub.alerts.conftest import SECRET, config_dict, make_rig, person


class Hook:
    """A webhook receiver that records JSON bodies and answers with `status`."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """The apprise URL that posts JSON here."""
        return f"json://127.0.0.1:{self.port}/mehr-hook"


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


def _engine_with_webhook(tmp_path: Path, hook: Hook) -> tuple[Any, AlertEngine]:
    cfg = config_dict()
    cfg["people"] = [p for p in cfg["people"] if p["id"] != "sw-day"]
    cfg["people"].append(person("sw-day", hook.url, "mailto://sw-day-backup@test"))
    rig = make_rig(tmp_path, cfg)
    engine = AlertEngine(
        rig.conn,
        rig.config,
        rig.clock,
        AppriseChannel(),
        TokenSigner(SECRET),
        "https://mehr.test",
        publish=lambda t, p: None,
    )
    return rig, engine


def test_a_help_alert_reaches_the_workers_webhook(tmp_path: Path, hook: Hook) -> None:
    rig, engine = _engine_with_webhook(tmp_path, hook)
    alert_id = rig.raise_alert("home-1", "help_button")
    engine.run_due()
    assert len(hook.bodies) == 1
    body = hook.bodies[0]
    assert "Mavluda opa" in body["title"] + body["message"]
    service = AlertService(rig.conn, rig.config, rig.clock)
    (note,) = [n for n in service.notifications(alert_id) if n.person_id == "sw-day"]
    assert note.status == "sent"
    rig.conn.close()


def test_a_failing_webhook_is_recorded_and_falls_through(tmp_path: Path, hook: Hook) -> None:
    hook.status = 500
    rig, engine = _engine_with_webhook(tmp_path, hook)
    alert_id = rig.raise_alert("home-1", "help_button")
    for second in (0, 10, 20, 30):
        rig.clock.set(
            rig.clock.now().fromtimestamp(
                rig.clock.now().timestamp() + second, rig.clock.now().tzinfo
            )
        )
        engine.run_due()
    service = AlertService(rig.conn, rig.config, rig.clock)
    notes = service.notifications(alert_id)
    (note,) = [n for n in notes if n.person_id == "sw-day"]
    webhook = [a for a in note.attempts if a.method_index == 0]
    assert [a.ok for a in webhook] == [False, False], "retried once, then given up"
    assert all("error=500" in (a.error or "") for a in webhook)
    assert len(hook.bodies) == 2, "both tries really reached the server"
    assert any(a.method_index == 1 for a in note.attempts), "fell through to the next method"
    # Nobody reachable: escalation moved on to the duty officer and the supervisor at once.
    assert {"duty", "sup"} <= {n.person_id for n in notes}
    rig.conn.close()
