"""The MQTT side of Home Assistant discovery: its own broker user, a last will, a state loop.

A separate client from the hub's kit link: it writes only under `mehr-ha/` (publisher ACL), its
last will marks every family's entities unavailable, and a slow loop republishes states that
changed. The hub starts it when some homes opted in.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.home_assistant import HUB_AVAILABILITY_TOPIC, HomeAssistantPublisher, Language
from hub.persistence.database import DatabaseUrl
from hub.persistence.sqlite_store import open_store
from mehr.configfile import load_model
from mehr.contract import validate_id

__all__ = ["HomeAssistantConfig", "HomeAssistantLink", "load_home_assistant_config"]


class HomeAssistantConfig(BaseModel):
    """Which homes opted in to Home Assistant discovery, and the publisher's broker user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(
        default="mehr-hub-ha", description="The publisher's broker user (publisher ACL)."
    )
    password_file: Path = Field(description="File holding that user's password.")
    every_s: float = Field(
        default=30, ge=1, le=3600, description="How often changed states are republished."
    )
    homes: dict[str, Language] = Field(
        description="Home id -> language of the entity names (uz, ru or en); only these homes "
        "are published, each under its own prefix."
    )

    @field_validator("homes")
    @classmethod
    def _home_ids(cls, value: dict[str, Language]) -> dict[str, Language]:
        for home_id in value:
            validate_id(home_id, "home id")
        return value


def load_home_assistant_config(path: Path) -> HomeAssistantConfig:
    """Load the opt-in file; a relative password_file is relative to the file."""
    config = load_model(path, HomeAssistantConfig)
    if not config.password_file.is_absolute():
        resolved = path.resolve().parent / config.password_file
        config = config.model_copy(update={"password_file": resolved})
    return config


_LOGGER = logging.getLogger(__name__)
_OFFLINE = json.dumps({"state": "offline"})
_ONLINE = json.dumps({"state": "online"})


class HomeAssistantLink:
    """Connects as the publisher user, announces the homes, then publishes states."""

    def __init__(
        self,
        db_path: DatabaseUrl | str | Path,
        host: str,
        port: int,
        username: str,
        password: str,
        homes: dict[str, Language],
        every_s: float = 30.0,
        tls: bool = False,
        ca_file: Path | None = None,
    ) -> None:
        self._db_path = db_path
        self._homes = homes
        self._every_s = every_s
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id="mehr-hub-ha"
        )
        self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set(
                ca_certs=str(ca_file) if ca_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        self.client.will_set(HUB_AVAILABILITY_TOPIC, _OFFLINE, qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self._host, self._port = host, port
        self.connected = threading.Event()
        self._announce = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    def start(self) -> None:
        """Connect in the background and start the state loop."""
        self.client.connect_async(self._host, self._port, keepalive=30)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="hub-ha", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Say offline, disconnect, and stop the loop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.connected.is_set():
            self.client.publish(
                HUB_AVAILABILITY_TOPIC, _OFFLINE, qos=1, retain=True
            ).wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()

    def _publish(self, topic: str, payload: bytes, retain: bool) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            _LOGGER.warning("Home Assistant publisher refused by the broker: %s", reason_code)
            return
        self.connected.set()
        self._announce.set()  # every (re)connect: configs first, then states, then birth
        self._wake.set()

    def _run(self) -> None:
        store = open_store(self._db_path)
        publisher = HomeAssistantPublisher(store, self._publish, self._homes)
        try:
            while not self._stop.is_set():
                if self._announce.is_set():
                    self._announce.clear()
                    publisher.announce()
                    publisher.publish_states(force=True)
                    self._publish(HUB_AVAILABILITY_TOPIC, _ONLINE.encode(), True)
                elif self.connected.is_set():
                    publisher.publish_states()
                self.rounds += 1
                self._wake.wait(self._every_s)
                self._wake.clear()
        except Exception:
            _LOGGER.exception("Home Assistant publisher stopped")
        finally:
            store.close()
