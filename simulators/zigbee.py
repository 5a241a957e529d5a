"""A Zigbee2MQTT stand-in: publishes device messages in the shapes Zigbee2MQTT publishes them.

For tests, demos and installers without hardware. Shapes follow zigbee2mqtt.io's device pages
(Aqara RTCGQ11LM motion, MCCGQ11LM door, WXKG11LM button, WSDCGQ11LM temperature; Tuya
TS0215A_sos button): the whole device state as one JSON object with `battery`, `voltage`,
`linkquality` and `last_seen`; retained `{"state": "online"}` availability (or the legacy plain
string); the retained bridge state and device list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

__all__ = ["MODELS", "Zigbee2MqttSim", "ZigbeeDevice"]

# model -> (vendor, description, properties a fresh state message carries besides battery)
MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "RTCGQ11LM": ("Aqara", "Motion sensor", {"occupancy": False, "illuminance": 12}),
    "MCCGQ11LM": ("Aqara", "Door and window sensor", {"contact": True}),
    "WXKG11LM": ("Aqara", "Wireless mini switch", {}),
    "TS0215A_sos": ("Tuya", "SOS button", {}),
    "WSDCGQ11LM": ("Aqara", "Temperature, humidity and pressure sensor", {"temperature": 21.0}),
    "bed_mat": ("Generic", "Bed occupancy pad", {"occupancy": False}),
}


@dataclass
class ZigbeeDevice:
    """One paired device: its name, model and the state Zigbee2MQTT caches for it."""

    friendly_name: str
    model: str
    ieee_address: str
    battery: float = 100.0
    linkquality: int = 120

    def definition(self) -> dict[str, Any]:
        """The device's entry in `bridge/devices`."""
        vendor, description, _ = MODELS[self.model]
        return {
            "ieee_address": self.ieee_address,
            "type": "EndDevice",
            "friendly_name": self.friendly_name,
            "supported": True,
            "interview_completed": True,
            "power_source": "Battery",
            "definition": {"model": self.model, "vendor": vendor, "description": description},
        }


class Zigbee2MqttSim:
    """Publishes as Zigbee2MQTT would on the kit's local broker."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        base_topic: str = "zigbee2mqtt",
        legacy_availability: bool = False,
    ) -> None:
        self.base = base_topic
        self.legacy = legacy_availability
        self.devices: dict[str, ZigbeeDevice] = {}
        self._state: dict[str, dict[str, Any]] = {}
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id="zigbee2mqtt-sim"
        )
        self.client.username_pw_set(username, password)
        self.client.will_set(f"{self.base}/bridge/state", self._availability(False), 1, True)
        self._host, self._port = host, port

    def connect(self) -> None:
        """Connect and start paho's loop."""
        self.client.connect(self._host, self._port)
        self.client.loop_start()

    def close(self) -> None:
        """Disconnect cleanly (no will)."""
        self.client.disconnect()
        self.client.loop_stop()

    def _availability(self, online: bool) -> str:
        state = "online" if online else "offline"
        return state if self.legacy else json.dumps({"state": state})

    def _publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def pair(self, device: ZigbeeDevice) -> None:
        """Add a device; republish the device list and mark it online (as Zigbee2MQTT does)."""
        self.devices[device.friendly_name] = device
        self._state[device.friendly_name] = dict(MODELS[device.model][2])
        listing = [d.definition() for d in self.devices.values()]
        self._publish(f"{self.base}/bridge/devices", json.dumps(listing), retain=True)
        self.availability(device.friendly_name, True)

    def bridge(self, online: bool) -> None:
        """The bridge's own retained state."""
        self._publish(f"{self.base}/bridge/state", self._availability(online), retain=True)

    def availability(self, name: str, online: bool) -> None:
        """A device's retained availability (Zigbee2MQTT's availability feature)."""
        self._publish(f"{self.base}/{name}/availability", self._availability(online), retain=True)

    def report(self, name: str, when: datetime | None = None, **changes: Any) -> dict[str, Any]:
        """Publish the device's whole state with `changes` applied; return the payload sent."""
        device = self.devices[name]
        state = self._state[name]
        state.update({k: v for k, v in changes.items() if k not in {"action", "battery"}})
        if "battery" in changes:
            device.battery = float(changes["battery"])
        payload: dict[str, Any] = {
            **state,
            "battery": device.battery,
            "voltage": int(2700 + 3.3 * device.battery),
            "linkquality": device.linkquality,
            "last_seen": (when or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        }
        if "action" in changes:
            # Actions are events, not state: sent once, never cached into later messages.
            payload["action"] = changes["action"]
        self._publish(f"{self.base}/{name}", json.dumps(payload))
        return payload
