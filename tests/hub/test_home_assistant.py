"""Home Assistant discovery through a real Mosquitto: a family's HA user receives valid
discovery configs and the state of its own home only; other homes' topics are refused."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from hub.broker_auth import BrokerUser
from hub.config import HubSettings
from hub.home_assistant import (
    HUB_AVAILABILITY_TOPIC,
    discovery_messages,
    family_acl_rules,
    publisher_acl_rules,
)
from hub.home_assistant_link import HomeAssistantLink
from hub.persistence.sqlite_store import SqliteStore
from hub.service import Hub
from hub.store.base import NewAlert, NewEvent
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from tests.conftest import HUB_USER
from tests.hub.factories import T0, home_spec


class FamilyHA:
    """A family's Home Assistant as far as MQTT goes: subscribe, collect, remember SUBACKs."""

    def __init__(self, broker: Mosquitto, user: BrokerUser) -> None:
        self.messages: dict[str, Any] = {}
        self.granted: dict[int, list[int]] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            protocol=MQTTProtocolVersion.MQTTv5,
            client_id=f"ha-{secrets.token_hex(3)}",
        )
        self.client.username_pw_set(user.username, user.password)
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages[msg.topic] = json.loads(msg.payload) if msg.payload else None

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int,
                      reason_codes: list[Any], properties: object) -> None:
        self.granted[mid] = [rc.value for rc in reason_codes]

    def subscribe(self, topic: str) -> int:
        """Subscribe and return the SUBACK reason code."""
        _, mid = self.client.subscribe(topic, qos=1)
        wait_until(lambda: mid in self.granted, 5, f"SUBACK for {topic}")
        return self.granted[mid][0]

    def seen(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def homes_db(tmp_path: Path) -> Path:
    db = tmp_path / "hub.db"
    store = SqliteStore(db)
    try:
        store.register_home(home_spec("home-1", "kit-1"), T0)
        store.register_home(home_spec("home-2", "kit-2"), T0)
        store.set_availability("kit-1", "online", T0)
        store.set_availability("kit-2", "online", T0)
        store.store_events(
            [
                NewEvent("home-1", "kit-1", 1, 1, "pir-kitchen", "motion", True, "Kitchen",
                         T0, T0),
                NewEvent("home-1", "kit-1", 1, 2, "pir-kitchen", "motion", False, "Kitchen",
                         T0 + timedelta(minutes=2), T0 + timedelta(minutes=2)),
                NewEvent("home-1", "kit-1", 1, 3, "pir-kitchen-battery", "battery", 64.0,
                         "Kitchen", T0, T0),
                NewEvent("home-2", "kit-2", 1, 1, "pir-kitchen", "motion", True, "Kitchen",
                         T0 + timedelta(hours=1), T0 + timedelta(hours=1)),
            ],
            T0,
        )
        store.raise_alert(NewAlert("home-2", "fall", "critical", T0, None, {}))
        store.commit()
    finally:
        store.close()
    return db


def _valid_discovery(topic: str, config: dict[str, Any], home_id: str) -> None:
    """The parts of HA's MQTT discovery schema a config must have to be accepted and useful."""
    parts = topic.split("/")
    assert parts[:3] == ["mehr-ha", home_id, "homeassistant"]
    assert parts[3] in {"sensor", "binary_sensor"} and parts[-1] == "config"
    assert parts[4] == config["unique_id"]
    assert config["state_topic"] == f"mehr-ha/{home_id}/state"
    assert config["device"]["identifiers"] and config["device"]["name"]
    (availability,) = config["availability"]
    assert availability["topic"] == HUB_AVAILABILITY_TOPIC
    assert availability["value_template"] == "{{ value_json.state }}"
    assert config["name"]
    if config.get("device_class") == "enum":
        assert set(config["options"]) == {"ok", "attention", "alert"}
    if config.get("device_class") == "battery":
        assert config["unit_of_measurement"] == "%"
        assert config["state_class"] == "measurement"


def test_family_home_assistant_sees_its_home_only(
    tmp_path: Path, mosquitto: Mosquitto, homes_db: Path
) -> None:
    publisher = BrokerUser("mehr-hub-ha", secrets.token_urlsafe(12), publisher_acl_rules())
    family_1 = BrokerUser("ha-home-1", secrets.token_urlsafe(12), family_acl_rules("home-1"))
    family_2 = BrokerUser("ha-home-2", secrets.token_urlsafe(12), family_acl_rules("home-2"))
    for user in (publisher, family_1, family_2):
        mosquitto.add_user(user)
    mosquitto.restart()
    ha, other = FamilyHA(mosquitto, family_1), FamilyHA(mosquitto, family_2)
    link = HomeAssistantLink(
        homes_db, mosquitto.host, mosquitto.port, publisher.username, publisher.password,
        {"home-1": "uz", "home-2": "en"}, every_s=0.1,
    )
    try:
        # Mosquitto's ACL file grants these SUBACKs and withholds the messages at delivery, so
        # the refusal is checked where it matters: at the subscriber, while home 2's family
        # (another user) does receive home 2's retained topics.
        for topic in ("mehr-ha/home-1/#", HUB_AVAILABILITY_TOPIC, "mehr-ha/#"):
            assert ha.subscribe(topic) == 1
        assert other.subscribe("mehr-ha/#") == 1
        link.start()
        wait_until(lambda: len(ha.seen()) >= 6, 10, "four configs, the state and availability")
        wait_until(lambda: len(other.seen()) >= 6, 10, "home 2's family receiving home 2")
        assert all(t.startswith("mehr-ha/home-2/") or t == HUB_AVAILABILITY_TOPIC
                   for t in other.seen())
        assert other.seen()["mehr-ha/home-2/state"]["status"] == "alert"  # the fall
        seen = ha.seen()
        assert all(t.startswith("mehr-ha/home-1/") or t == HUB_AVAILABILITY_TOPIC for t in seen)
        configs = {t: c for t, c in seen.items() if t.endswith("/config")}
        assert len(configs) == 4
        for topic, config in configs.items():
            _valid_discovery(topic, config, "home-1")
        assert len({c["unique_id"] for c in configs.values()}) == 4
        assert {c["name"] for c in configs.values()} >= {"Holati", "Oxirgi harakat"}  # Uzbek
        assert seen[HUB_AVAILABILITY_TOPIC] == {"state": "online"}
        state = seen["mehr-ha/home-1/state"]
        assert state == {
            "status": "ok",
            "last_movement": T0.isoformat(),  # motion started; its end is not movement
            "kit": "online",
            "battery": 64.0,
        }
        assert not [t for t in seen if "home-2" in t]  # home 2's fall stays home 2's
        store = SqliteStore(homes_db)
        try:
            store.raise_alert(NewAlert("home-1", "help_button", "critical", T0, None, {}))
            store.commit()
        finally:
            store.close()
        wait_until(lambda: ha.seen()["mehr-ha/home-1/state"]["status"] == "alert", 10,
                   "the alert state")
    finally:
        link.stop()
    wait_until(lambda: ha.seen()[HUB_AVAILABILITY_TOPIC] == {"state": "offline"}, 5, "offline")
    assert not [t for t in ha.seen() if "home-2" in t]
    ha.close()
    other.close()


def test_the_other_familys_user_gets_the_other_home() -> None:
    configs = dict(discovery_messages("home-2", "Karimova", "en"))
    assert all(t.startswith("mehr-ha/home-2/homeassistant/") for t in configs)
    assert {c["name"] for c in configs.values()} == {
        "Status", "Last movement", "Kit connection", "Lowest battery"
    }
    assert family_acl_rules("home-2") == (
        "topic read mehr-ha/home-2/#", f"topic read {HUB_AVAILABILITY_TOPIC}"
    )


def test_the_hub_publishes_the_homes_listed_in_its_home_assistant_file(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, homes_db: Path
) -> None:
    publisher = BrokerUser("mehr-hub-ha", secrets.token_urlsafe(12), publisher_acl_rules())
    family_1 = BrokerUser("ha-home-1", secrets.token_urlsafe(12), family_acl_rules("home-1"))
    for user in (publisher, family_1):
        mosquitto.add_user(user)
    mosquitto.restart()
    (tmp_path / "ha.password").write_text(publisher.password + "\n")
    ha_file = tmp_path / "home-assistant.yaml"
    ha_file.write_text(
        "username: mehr-hub-ha\npassword_file: ha.password\nevery_s: 1\nhomes:\n  home-1: ru\n"
    )
    hub = Hub(HubSettings(
        mqtt_url=mosquitto.url, mqtt_username=HUB_USER, mqtt_password=hub_password,
        db_path=homes_db, stats_port=0, home_assistant_file=ha_file,
    ))
    ha = FamilyHA(mosquitto, family_1)
    try:
        ha.subscribe("mehr-ha/#")
        hub.start()
        wait_until(lambda: "mehr-ha/home-1/state" in ha.seen(), 10, "home 1's state")
        names = {c["name"] for t, c in ha.seen().items() if t.endswith("/config")}
        assert "Состояние" in names
    finally:
        hub.stop()
    try:
        wait_until(lambda: ha.seen().get(HUB_AVAILABILITY_TOPIC) == {"state": "offline"}, 5,
                   "the hub saying offline as it stops")
    finally:
        ha.close()
