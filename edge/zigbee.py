"""Zigbee2MQTT as a kit's sensors: device state messages in, contract events into the outbox.

Runs inside the edge agent on the Pi that runs Zigbee2MQTT. `ZigbeeTranslator` is pure (topic
and payload in, signals out) so the mapping is tested without a broker; `ZigbeeBridge` is the
MQTT client on the local broker that feeds it and hands its signals to the agent, which writes
them to the same durable outbox the GPIO sensors use (same sequence numbers, same delivery).

Payload shapes are Zigbee2MQTT's (zigbee2mqtt.io device pages): a device publishes its whole
state as JSON on `<base>/<friendly_name>` (e.g. Aqara RTCGQ11LM `{"occupancy": true,
"illuminance": 3, "battery": 100, "voltage": 3005, "linkquality": 120}`), availability on
`<base>/<friendly_name>/availability` as `{"state": "online"}` (or the legacy plain `online`),
the bridge's own state on `<base>/bridge/state`, and the device list on `<base>/bridge/devices`.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import ZigbeeBridgeConfig, ZigbeeSensor
from edge.link import TransportConfigError
from mehr.contract import SensorKind

__all__ = ["Signal", "ZigbeeBridge", "ZigbeeTranslator"]

_LOGGER = logging.getLogger(__name__)
_LOG_EVERY_S = 60.0  # at most one log line per reject reason per minute


@dataclass(frozen=True, slots=True)
class Signal:
    """One reading to record: which sensor, which contract kind, which value."""

    sensor_id: str
    kind: SensorKind
    value: bool | float | str


def _availability_state(payload: bytes) -> bool | None:
    """True/False for online/offline in either Zigbee2MQTT form; None when unreadable."""
    text = payload.decode("utf-8", errors="replace").strip()
    if text in {"online", "offline"}:  # legacy_availability_payload: true
        return text == "online"
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    state = data.get("state") if isinstance(data, dict) else None
    return state == "online" if state in {"online", "offline"} else None


class ZigbeeTranslator:
    """Turns Zigbee2MQTT messages into Mehr signals; keeps what it needs to send edges only.

    Not thread-safe on its own; ZigbeeBridge calls it from paho's single network thread.
    """

    def __init__(self, sensors: list[ZigbeeSensor], config: ZigbeeBridgeConfig) -> None:
        self.config = config
        self.base = config.base_topic.rstrip("/")
        self.by_device: dict[str, list[ZigbeeSensor]] = {}
        for sensor in sensors:
            self.by_device.setdefault(sensor.zigbee.friendly_name, []).append(sensor)
        # A device's battery reports under "<its first sensor's id>-battery" (KitConfig checks
        # that id is free and registers it as a battery sensor).
        self.battery_id = {name: f"{group[0].id}-battery" for name, group in self.by_device.items()}
        self._state: dict[str, bool | str] = {}  # last two-state value sent, per sensor
        self._sent_number: dict[tuple[str, SensorKind], tuple[float, datetime]] = {}
        self.device_online: dict[str, bool] = {}
        self.bridge_online: bool | None = None
        self.last_seen: dict[str, datetime] = {}  # per sensor id: last message of its device
        self.paired: set[str] | None = None  # friendly names in bridge/devices, once seen
        self.rejects: Counter[str] = Counter()

    def topics(self) -> list[str]:
        """Topic filters to subscribe to on the local broker."""
        topics = [f"{self.base}/bridge/state", f"{self.base}/bridge/devices"]
        for name in self.by_device:
            topics += [f"{self.base}/{name}", f"{self.base}/{name}/availability"]
        return topics

    def unavailable(self) -> list[str]:
        """Sensor ids that cannot report now: bridge down, device offline, or never paired."""
        out = []
        for name, sensors in self.by_device.items():
            down = (
                self.bridge_online is False
                or self.device_online.get(name) is False
                or (self.paired is not None and name not in self.paired)
            )
            if down:
                out += [s.id for s in sensors]
        return sorted(out)

    def handle(self, topic: str, payload: bytes, now: datetime) -> list[Signal]:
        """One message from the local broker; returns the signals to record (maybe none)."""
        if not topic.startswith(self.base + "/"):
            return []
        rest = topic[len(self.base) + 1 :]
        if rest in self.by_device:
            return self._handle_state(rest, payload, now, topic)
        if rest == "bridge/state":
            self.bridge_online = _availability_state(payload)
            if self.bridge_online is None:
                self._reject("bad_bridge_state", topic)
        elif rest == "bridge/devices":
            self._read_devices(payload, topic)
        elif rest.endswith("/availability") and rest[: -len("/availability")] in self.by_device:
            state = _availability_state(payload)
            if state is None:
                self._reject("bad_availability", topic)
            else:
                self.device_online[rest[: -len("/availability")]] = state
        return []

    def _handle_state(self, name: str, payload: bytes, now: datetime, topic: str) -> list[Signal]:
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._reject("not_json", topic)
            return []
        if not isinstance(data, dict):
            self._reject("not_an_object", topic)
            return []
        # A state message proves the device is reachable, whatever availability said last.
        self.device_online[name] = True
        sensors = self.by_device[name]
        signals: list[Signal] = []
        for sensor in sensors:
            self.last_seen[sensor.id] = now
            raw = data.get(sensor.zigbee_property)
            if raw is None:
                continue  # a battery-only or link-quality report: nothing for this sensor
            if sensor.kind == "help_button":
                signal = self._read_button(sensor, raw)
            elif sensor.kind == "temperature":
                signal = self._read_temperature(sensor, raw, now, topic)
            else:
                signal = self._read_two_state(sensor, raw, topic)
            if signal is not None:
                signals.append(signal)
        battery = self._read_battery(self.battery_id[name], data.get("battery"), now, topic)
        if battery is not None:
            signals.append(battery)
        return signals

    def _read_button(self, sensor: ZigbeeSensor, raw: object) -> Signal | None:
        # Zigbee2MQTT sends each action once (and "" to clear it): every listed one is a press.
        if isinstance(raw, str) and raw in sensor.zigbee.actions:
            return Signal(sensor.id, SensorKind.HELP_BUTTON, "pressed")
        return None

    def _read_temperature(
        self, sensor: ZigbeeSensor, raw: object, now: datetime, topic: str
    ) -> Signal | None:
        if not isinstance(raw, int | float) or isinstance(raw, bool) or not -40 <= raw <= 85:
            self._reject("bad_temperature", topic)
            return None
        value = round(float(raw), 2)
        config = self.config
        if self._number_due(
            sensor.id,
            SensorKind.TEMPERATURE,
            value,
            now,
            config.temperature_min_change,
            config.temperature_every_s,
        ):
            return Signal(sensor.id, SensorKind.TEMPERATURE, value)
        return None

    def _read_two_state(self, sensor: ZigbeeSensor, raw: object, topic: str) -> Signal | None:
        if not isinstance(raw, bool):
            self._reject(f"bad_{sensor.zigbee_property}", topic)
            return None
        state: bool | str = raw
        kind = SensorKind.MOTION if sensor.kind == "motion" else SensorKind.OCCUPANCY
        if sensor.kind == "door":
            # Zigbee2MQTT's contact: true means the magnet is near, i.e. the door is closed.
            state, kind = ("closed" if raw else "open"), SensorKind.DOOR
        # Devices resend their whole state (a battery report repeats `occupancy`): edges only.
        if self._state.get(sensor.id) == state:
            return None
        self._state[sensor.id] = state
        return Signal(sensor.id, kind, state)

    def _read_battery(
        self, battery_id: str, raw: object, now: datetime, topic: str
    ) -> Signal | None:
        if raw is None:
            return None
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            self._reject("bad_battery", topic)
            return None
        value = float(min(100.0, max(0.0, raw)))
        config = self.config
        if self._number_due(
            battery_id,
            SensorKind.BATTERY,
            value,
            now,
            config.battery_min_change,
            config.battery_every_s,
        ):
            return Signal(battery_id, SensorKind.BATTERY, value)
        return None

    def _number_due(
        self,
        sensor_id: str,
        kind: SensorKind,
        value: float,
        now: datetime,
        min_change: float,
        every_s: float,
    ) -> bool:
        last = self._sent_number.get((sensor_id, kind))
        due = (
            last is None
            or abs(value - last[0]) >= min_change
            or (now - last[1]).total_seconds() >= every_s
        )
        if due:
            self._sent_number[(sensor_id, kind)] = (value, now)
        return due

    def _read_devices(self, payload: bytes, topic: str) -> None:
        try:
            devices = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._reject("not_json", topic)
            return
        if not isinstance(devices, list):
            self._reject("not_a_list", topic)
            return
        self.paired = {
            str(d["friendly_name"]) for d in devices if isinstance(d, dict) and "friendly_name" in d
        }
        for name in self.by_device:
            if name not in self.paired:
                _LOGGER.warning("Zigbee device %r is in the kit config but not paired", name)

    def _reject(self, reason: str, topic: str) -> None:
        self.rejects[reason] += 1
        if self.rejects[reason] == 1 or self.rejects[reason] % 100 == 0:
            _LOGGER.warning(
                "ignored a Zigbee2MQTT message on %s: %s (%d so far)",
                topic,
                reason,
                self.rejects[reason],
            )


class ZigbeeBridge:
    """The MQTT client on Zigbee2MQTT's broker; hands each signal to `record`."""

    def __init__(
        self,
        config: ZigbeeBridgeConfig,
        sensors: list[ZigbeeSensor],
        kit_id: str,
        record: Callable[[Signal], object],
        now: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.translator = ZigbeeTranslator(sensors, config)
        self._record = record
        self._now = now
        self._lock = threading.Lock()  # the agent's heartbeat reads what paho's thread writes
        self.connected = threading.Event()
        self._host, self._port, tls = config.address()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"mehr-zigbee-{kit_id}",
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        if config.username is not None:
            password = None
            if config.password_file is not None:
                try:
                    password = config.password_file.read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise TransportConfigError(
                        f"zigbee.password_file: cannot read {config.password_file}: "
                        f"{exc.strerror}"
                    ) from None
            self.client.username_pw_set(config.username, password)
        if tls:
            try:
                self.client.tls_set(
                    ca_certs=str(config.ca_file) if config.ca_file else None,
                    cert_reqs=ssl.CERT_REQUIRED,
                    tls_version=ssl.PROTOCOL_TLS_CLIENT,
                )
            except (OSError, ssl.SSLError) as exc:
                raise TransportConfigError(f"zigbee: TLS files unusable: {exc}") from None
        self._subscribe_mid: int | None = None
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background (paho reconnects by itself)."""
        self.client.connect_async(self._host, self._port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop paho's thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def unavailable(self) -> list[str]:
        """Sensor ids that are unreachable; all of them while the local broker is down."""
        with self._lock:
            if not self.connected.is_set():
                groups = self.translator.by_device.values()
                return sorted(sensor.id for group in groups for sensor in group)
            return self.translator.unavailable()

    def last_seen(self) -> dict[str, datetime]:
        """Per sensor, when its device last sent anything (a battery report counts)."""
        with self._lock:
            return dict(self.translator.last_seen)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            _LOGGER.warning("Zigbee2MQTT broker refused the connection: %s", reason_code)
            return
        # "Connected" only once the broker has granted the subscriptions (SUBACK): Zigbee2MQTT's
        # device messages are not retained, so a press published before then would be lost.
        _, self._subscribe_mid = client.subscribe([(t, 1) for t in self.translator.topics()])

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any
    ) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            _LOGGER.warning("Zigbee2MQTT broker refused subscriptions: %s", refused)
        self.connected.set()
        _LOGGER.info("listening to Zigbee2MQTT at %s:%s", self._host, self._port)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self.connected.clear()
        _LOGGER.warning("lost the Zigbee2MQTT broker: %s", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = self._now()
        try:
            with self._lock:
                signals = self.translator.handle(msg.topic, bytes(msg.payload), now)
            for signal in signals:
                self._record(signal)
        except Exception:
            # A bad message must never stop the bridge: the next one may be a help press.
            _LOGGER.exception("could not handle a Zigbee2MQTT message on %s", msg.topic)
