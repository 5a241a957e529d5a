"""`mehr demo`: an embedded broker, the hub and three simulated homes; one asks for help."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from hub.alerts.channels import PrintChannel
from hub.alerts.config import load_alerts_config, scaled_for_demo
from hub.broker_auth import urgent_lane_username
from hub.config import HubSettings, MqttProtocol
from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from hub.service import Hub
from hub.store.base import AlertRecord
from mehr.clock import SystemClock
from simulators.demo_homes import DEMO_HOMES, DemoHome, run_home
from simulators.simple_kit import SimpleKit

__all__ = ["run_demo"]

if TYPE_CHECKING:
    from dashboards.demo_web import DemoWeb
    from hub.embedded_broker import EmbeddedBroker

_LOGGER = logging.getLogger(__name__)


def _spec(home: DemoHome) -> HomeSpec:
    sensors = [SensorSpec(id=s, kind=k, room=r) for s, k, r in home.sensors]
    return HomeSpec(
        id=home.home_id,
        name=home.name,
        mahalla=home.mahalla,
        kits=[KitSpec(id=home.kit_id, sensors=sensors)],
    )


def run_demo(duration_s: float | None, as_json: bool, workdir: Path, out: TextIO) -> int:
    """Run the demo for `duration_s` seconds (None: until Ctrl-C) and report what happened."""
    stream = sys.stderr if as_json else out

    def say(text: str) -> None:
        print(text, file=stream, flush=True)

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    db_path = workdir / "mehr.db"
    from dashboards.demo_web import free_port, start_demo_web

    web_port = free_port()  # chosen first: the hub's acknowledge links point at the dashboard
    broker, url, protocol = _start_broker()
    settings = _demo_settings(url, protocol, workdir, db_path, web_port)
    _register_demo_homes(db_path)

    started = time.monotonic()

    def on_alert(alert: AlertRecord) -> None:
        at = time.monotonic() - started
        say(
            f"[{at:5.1f}s] ALERT {alert.kind} ({alert.severity}) in {alert.home_id}: "
            f"{alert.detail.get('room') or ''} — alert #{alert.id} raised"
        )

    def notify(line: str) -> None:
        say(f"[{time.monotonic() - started:5.1f}s]   {line}")

    hub = Hub(settings, on_alert=on_alert, alert_channel=PrintChannel(notify))
    hub.start()
    # Same alerts config and (demo) signing key as the hub: a worker's acknowledgement on the
    # page stops the hub's escalation, and the printed links open this dashboard.
    web = start_demo_web(db_path, hub.stats, alerts_config=settings.alerts_config, port=web_port)
    broker_note = "embedded amqtt" if broker else "MEHR_MQTT_URL"
    _print_banner(say, web, f"{url} ({broker_note})", db_path, hub, duration_s)

    stop = threading.Event()
    log: list[str] = []
    kits, threads = _start_kits(settings, protocol, stop, log)
    try:
        _wait(duration_s, stop)
    except KeyboardInterrupt:
        say("stopping…")
    finally:
        lane_connected = _lane_connected(hub)  # at the end of the run, before the hub stops
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        for kit in kits:
            kit.close()
        _drain(hub, kits)
        web.stop()
        hub.stop()
        if broker is not None:
            broker.stop()

    summary = _summary(db_path, hub, log, lane_connected)
    summary["dashboard_url"] = web.url
    summary["accounts"] = web.accounts
    if as_json:
        print(json.dumps(summary), file=out)
    else:
        say(
            f"Stored {summary['events_stored']} events; alerts: "
            + (", ".join(f"{a['kind']} in {a['home']}" for a in summary["alerts"]) or "none")
        )
        say(f"Look: sqlite3 {db_path} 'select * from alerts'")
    return 0


def _start_broker() -> tuple[EmbeddedBroker | None, str, MqttProtocol]:
    """The broker named by MEHR_MQTT_URL, or an embedded one (then MQTT 3.1.1)."""
    url = os.environ.get("MEHR_MQTT_URL")
    protocol = MqttProtocol(os.environ.get("MEHR_MQTT_PROTOCOL", MqttProtocol.V5.value))
    if url:
        return None, url, protocol
    from hub.embedded_broker import EmbeddedBroker

    broker = EmbeddedBroker()
    broker.start()
    return broker, broker.url, MqttProtocol.V311  # amqtt speaks MQTT 3.1.1 only


_DEMO_CLIENT_ID = "mehr-demo-hub"


def _lane_user(username: str | None) -> str | None:
    """The demo hub's urgent-lane user: `<hub user>-urgent`, as `mehr hub broker-users` makes it.

    Against a real broker (MEHR_MQTT_URL) that user must exist with the hub's password and ACL;
    MEHR_MQTT_URGENT_USERNAME names another, and set empty runs the demo without a lane.
    """
    chosen = os.environ.get("MEHR_MQTT_URGENT_USERNAME")
    if chosen is not None:
        return chosen or None
    return urgent_lane_username(username or _DEMO_CLIENT_ID)


def _lane_connected(hub: Hub) -> bool | None:
    """Whether the hub's urgent lane is connected (None: the demo runs without one)."""
    return None if hub.urgent_lane is None else hub.urgent_lane.connected.is_set()


def _lane_state(hub: Hub) -> str:
    """The banner's word on the urgent lane: its user and whether it is connected."""
    connected = _lane_connected(hub)
    if connected is None:
        return "off (MEHR_MQTT_URGENT_USERNAME is empty)"
    state = "connected" if connected else "NOT connected"
    return f"{hub.settings.mqtt_urgent_username} ({state}; help and falls skip routine)"


def _demo_settings(
    url: str, protocol: MqttProtocol, workdir: Path, db_path: Path, web_port: int
) -> HubSettings:
    username = os.environ.get("MEHR_MQTT_USERNAME")
    return HubSettings(
        mqtt_url=url,
        mqtt_username=username,
        mqtt_password=os.environ.get("MEHR_MQTT_PASSWORD"),
        mqtt_urgent_username=_lane_user(username),
        urgent_lane_reads_events=False,  # the demo's kits send help on `urgent`
        mqtt_protocol=protocol,
        mqtt_client_id=_DEMO_CLIENT_ID,
        db_path=db_path,
        stats_port=0,
        alerts_config=_demo_alerts_config(workdir),
        public_base_url=f"http://127.0.0.1:{web_port}",
        demo_mode=True,  # a built-in key signs the demo's acknowledge links
        link_process=True,  # as the shipped hub.yaml: the broker connections in their own process
    )


def _register_demo_homes(db_path: Path) -> None:
    store = SqliteStore(db_path)
    for home in DEMO_HOMES:
        store.register_home(_spec(home), SystemClock().now())
    store.close()


def _print_banner(
    say: Callable[[str], None],
    web: DemoWeb,
    broker: str,
    db_path: Path,
    hub: Hub,
    duration_s: float | None,
) -> None:
    say("Mehr demo")
    say(f"  dashboard: {web.url}  (log in as one of these; demo-only passwords)")
    for acct in web.accounts:
        say(f"    {acct['role']:<14} {acct['username']:<11} {acct['password']}")
    say(f"  broker:   {broker}")
    say(f"  database: {db_path}")
    say(f"  hub stats: {hub.stats_url}  (health: /healthz)")
    say(f"  urgent lane: {_lane_state(hub)}")
    say(
        f"  alerts:   {_DEMO_ALERTS.name} (one district, two mahallas; escalation delays "
        f"÷{_DEMO_SPEEDUP:.0f} so the demo shows them; messages are printed, not sent)"
    )
    for home in DEMO_HOMES:
        note = f" (presses the help button at {home.help_at_s:.0f} s)" if home.help_at_s else ""
        say(f"  {home.home_id}: {home.name}, mahalla {home.mahalla}{note}")
    say("Press Ctrl-C to stop." if duration_s is None else f"Running for {duration_s:.0f} s.")


def _start_kits(
    settings: HubSettings, protocol: MqttProtocol, stop: threading.Event, log: list[str]
) -> tuple[list[SimpleKit], list[threading.Thread]]:
    """One simulated kit per demo home, each played by its own thread until `stop`."""
    host, port, _ = settings.broker_address()
    kits: list[SimpleKit] = []
    threads: list[threading.Thread] = []
    for home in DEMO_HOMES:
        kit = SimpleKit(
            home.home_id,
            home.kit_id,
            host,
            port,
            username=os.environ.get("MEHR_KIT_USERNAME"),
            password=os.environ.get("MEHR_KIT_PASSWORD"),
            mqtt_v5=protocol is MqttProtocol.V5,
        )
        kit.connect()
        kits.append(kit)
        thread = threading.Thread(target=run_home, args=(home, kit, stop, log), daemon=True)
        thread.start()
        threads.append(thread)
    return kits, threads


def _wait(duration_s: float | None, stop: threading.Event) -> None:
    if duration_s is None:
        while True:
            time.sleep(1)  # the CLI waits for Ctrl-C; nothing here depends on this timing
    else:
        stop.wait(duration_s)


_DEMO_ALERTS = Path(__file__).resolve().parents[1] / "hub" / "alerts" / "examples" / "district.yaml"
_DEMO_SPEEDUP = 20.0


def _demo_alerts_config(workdir: Path) -> Path:
    """The example district's alerts config with delays shortened for a one-minute demo."""
    config = scaled_for_demo(load_alerts_config(_DEMO_ALERTS), _DEMO_SPEEDUP)
    path = workdir / "alerts.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True))
    return path


def _drain(hub: Hub, kits: list[SimpleKit], limit_s: float = 10.0) -> None:
    """Give the hub time to store what the kits sent before it stops (demo only)."""
    sent = sum(k.seq for k in kits)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if hub.stats.get("stored") + hub.stats.get("duplicates") >= sent and hub.inbox.empty():
            return
        time.sleep(0.05)


def _summary(
    db_path: Path, hub: Hub, log: list[str], lane_connected: bool | None
) -> dict[str, Any]:
    store = SqliteStore(db_path)
    try:
        alerts = [
            {
                "id": a.id,
                "home": a.home_id,
                "kind": a.kind,
                "severity": a.severity,
                "state": a.state,
                "raised_at": a.raised_at.isoformat(),
            }
            for a in store.alerts()
        ]
        return {
            "events_stored": store.count_events(),
            "alerts": alerts,
            "homes": [h.id for h in store.homes()],
            "incidents_played": log,
            "hub": hub.stats.snapshot(),
            "urgent_lane_connected": lane_connected,
            "database": str(db_path),
        }
    finally:
        store.close()
