"""The kit's config file: one YAML per kit, validated strictly so a kit never runs half-set-up.

Every field has a description; `extra="forbid"` turns a typo into an error. Cross-field checks
(a pin used twice, two sensors with one id) name the field and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from mehr.configfile import DEFAULT_TIME_ZONE, StrictModel, TimeZoneName, load_model
from mehr.contract import ID_PATTERN, SensorKind

__all__ = [
    "AccelerometerSensor",
    "ApplianceSensor",
    "BrokerConfig",
    "DoorSensor",
    "FallSensor",
    "HelpButton",
    "KitConfig",
    "MotionSensorConfig",
    "OccupancySensor",
    "OutboxConfig",
    "OutputsConfig",
    "SensorConfig",
    "ZigbeeBridgeConfig",
    "ZigbeeSensor",
    "ZigbeeSource",
    "load_kit_config",
]

# BCM numbers of the Raspberry Pi's 40-pin header GPIOs.
Pin = Annotated[int, Field(ge=0, le=27, description="BCM GPIO number (0-27), e.g. 17 for GPIO17.")]
# Hardware SPI0 (the MCP3008) takes these pins: SCLK 11, MOSI 10, MISO 9, CE0 8, CE1 7.
SPI0_PINS = {"sclk": 11, "mosi": 10, "miso": 9}
SPI0_SELECT = {0: 8, 1: 7}

_ID = Field(pattern=ID_PATTERN.pattern, description="Sensor id: a-z, 0-9, '-', '_'.")
_ROOM = Field(min_length=1, max_length=64, description="Room the sensor is in, shown to people.")


class _DigitalSensor(StrictModel):
    id: str = _ID
    room: str = _ROOM
    pin: Pin
    pull_up: bool = Field(
        default=True, description="Internal pull-up: true for a contact that closes to ground."
    )
    bounce_s: float = Field(
        default=0.05, ge=0, le=5, description="Ignore edges closer together than this (debounce)."
    )


class MotionSensorConfig(StrictModel):
    """A PIR motion sensor (HC-SR501 style: its output goes high while it sees motion)."""

    kind: Literal["motion"]
    id: str = _ID
    room: str = _ROOM
    pin: Pin
    queue_len: int = Field(
        default=1,
        ge=1,
        le=100,
        description="gpiozero MotionSensor smoothing queue; 1 reports the first sample at once.",
    )
    sample_rate: float = Field(
        default=10, gt=0, le=100, description="Samples per second of gpiozero's smoothing thread."
    )


class DoorSensor(_DigitalSensor):
    """A reed contact on a door or window: closed (magnet near) pulls the pin low."""

    kind: Literal["door"]


class HelpButton(_DigitalSensor):
    """The resident's help button (wall button or pendant receiver output)."""

    kind: Literal["help_button"]


class FallSensor(_DigitalSensor):
    """A digital fall-alarm input: a radar fall sensor's or a pendant receiver's output."""

    kind: Literal["fall"]
    pull_up: bool = Field(
        default=False, description="Most alarm outputs drive the line high on alarm."
    )


class OccupancySensor(_DigitalSensor):
    """A chair or bed pressure mat: its switch closes under a person, pulling the pin low.

    Someone sitting or lying there is a resident, not a silence; the hub counts it as life.
    """

    kind: Literal["occupancy"]
    bounce_s: float = Field(
        default=1.0,
        ge=0,
        le=5,
        description="Ignore edges closer together than this: a person shifting their weight "
        "lifts the mat for a moment without getting up.",
    )


class ApplianceSensor(_DigitalSensor):
    """An appliance or toilet-flush signal: a current switch, a float switch, a fridge contact.

    Active (switch closed, pin low with the pull-up) means in use or flushed.
    """

    kind: Literal["appliance"]


class AccelerometerSensor(StrictModel):
    """An analog 3-axis accelerometer (ADXL335 style) read through an MCP3008 on SPI0."""

    kind: Literal["accelerometer"]
    id: str = _ID
    room: str = _ROOM
    spi_device: Literal[0, 1] = Field(default=0, description="SPI0 chip select (CE0 or CE1).")
    channels: tuple[int, int, int] = Field(
        default=(0, 1, 2), description="MCP3008 channels of the x, y and z outputs."
    )
    rate_hz: float = Field(default=50, gt=0, le=200, description="Sampling rate.")
    zero_g: float = Field(
        default=0.5, gt=0, lt=1, description="ADC reading (0..1 of full scale) at 0 g."
    )
    scale_per_g: float = Field(
        default=0.0909,
        gt=0,
        lt=1,
        description="ADC change per g (ADXL335 at 3.3 V: 0.3 V/g / 3.3 V = 0.0909).",
    )
    # Defaults are the hub detector's documented trigger (detectors.TRIGGER, docs/detectors.md):
    # 1.5 g catches every SisFall fall at 50 Hz; the detector judges 4 s before and 8 s after.
    impact_g: float = Field(
        default=1.5, gt=1, le=16, description="Trigger when the magnitude reaches this (in g)."
    )
    before_s: float = Field(default=4, ge=0.5, le=10, description="Seconds kept before the impact.")
    after_s: float = Field(default=8, ge=0.5, le=10, description="Seconds sent after the impact.")
    refractory_s: float = Field(
        default=2,
        ge=0,
        le=600,
        description="No new trigger for this long after one; short, because a stumble is often "
        "followed by the fall itself.",
    )

    @field_validator("channels")
    @classmethod
    def _valid_channels(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(not 0 <= c <= 7 for c in value) or len(set(value)) != 3:
            raise ValueError("expected three different MCP3008 channels between 0 and 7")
        return value

    @model_validator(mode="after")
    def _fits_contract(self) -> AccelerometerSensor:
        # The contract caps a window at ACCEL_MAX_SAMPLES and 64 KiB; stay well inside.
        if (self.before_s + self.after_s) * self.rate_hz > 1500:
            raise ValueError("(before_s + after_s) * rate_hz must be at most 1500 samples")
        return self

    def pins(self) -> dict[int, str]:
        """GPIO pins this device takes (hardware SPI0)."""
        used = {pin: f"SPI0 {name}" for name, pin in SPI0_PINS.items()}
        used[SPI0_SELECT[self.spi_device]] = f"SPI0 CE{self.spi_device}"
        return used


# What Zigbee2MQTT puts in a device's state message for each kind, by default.
ZIGBEE_PROPERTY: dict[str, str] = {
    "motion": "occupancy",
    "door": "contact",
    "help_button": "action",
    "occupancy": "occupancy",
    "temperature": "temperature",
}
# Button actions that mean "help": Aqara WXKG11LM (single/double/triple/quadruple/hold/many),
# IKEA/Sonoff style (long), Tuya TS0215A_sos and other SOS pendants (emergency, sos). A "release"
# after "hold" is the same press and is not listed.
DEFAULT_HELP_ACTIONS = (
    "single",
    "double",
    "triple",
    "quadruple",
    "many",
    "hold",
    "long",
    "sos",
    "emergency",
)


class ZigbeeSource(StrictModel):
    """Where a Zigbee sensor's readings come from: one Zigbee2MQTT device and one property."""

    friendly_name: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[^#+]+$",
        description="The device's friendly_name in Zigbee2MQTT (its topic zigbee2mqtt/<name>).",
    )
    property: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="State property read; default by kind: motion/occupancy 'occupancy', door "
        "'contact', help_button 'action', temperature 'temperature'.",
    )
    actions: tuple[str, ...] = Field(
        default=DEFAULT_HELP_ACTIONS,
        min_length=1,
        description="help_button only: the action values that count as a press.",
    )

    @field_validator("friendly_name")
    @classmethod
    def _not_bridge(cls, value: str) -> str:
        if value == "bridge" or value.startswith("bridge/") or value.endswith("/availability"):
            raise ValueError("expected a device's friendly_name, not a Zigbee2MQTT bridge topic")
        return value


class ZigbeeSensor(StrictModel):
    """A sensor read through Zigbee2MQTT on the kit's Pi instead of a GPIO pin.

    Motion (Aqara RTCGQ11LM), door (MCCGQ11LM: contact true means closed), help button
    (WXKG11LM, Tuya TS0215A SOS), a bed or chair mat, a temperature sensor (WSDCGQ11LM).
    The device's battery travels as `battery` events under this sensor's id.
    """

    kind: Literal["motion", "door", "help_button", "occupancy", "temperature"]
    id: str = _ID
    room: str = _ROOM
    zigbee: ZigbeeSource

    @property
    def zigbee_property(self) -> str:
        """The state property this sensor reads."""
        return self.zigbee.property or ZIGBEE_PROPERTY[self.kind]


def _sensor_tag(value: Any) -> str | None:
    # A `zigbee:` block chooses the Zigbee source; otherwise `kind` picks the GPIO device.
    if isinstance(value, dict):
        return "zigbee" if "zigbee" in value else value.get("kind")
    return "zigbee" if isinstance(value, ZigbeeSensor) else getattr(value, "kind", None)


SensorConfig = Annotated[
    Annotated[MotionSensorConfig, Tag("motion")]
    | Annotated[DoorSensor, Tag("door")]
    | Annotated[HelpButton, Tag("help_button")]
    | Annotated[FallSensor, Tag("fall")]
    | Annotated[OccupancySensor, Tag("occupancy")]
    | Annotated[ApplianceSensor, Tag("appliance")]
    | Annotated[AccelerometerSensor, Tag("accelerometer")]
    | Annotated[ZigbeeSensor, Tag("zigbee")],
    Discriminator(_sensor_tag),
]

# Config kinds map onto the contract's kinds (the accelerometer ships windows).
CONTRACT_KIND: dict[str, SensorKind] = {
    "motion": SensorKind.MOTION,
    "door": SensorKind.DOOR,
    "help_button": SensorKind.HELP_BUTTON,
    "fall": SensorKind.FALL,
    "occupancy": SensorKind.OCCUPANCY,
    "appliance": SensorKind.APPLIANCE,
    "accelerometer": SensorKind.ACCEL_WINDOW,
    "temperature": SensorKind.TEMPERATURE,
}

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ZigbeeBridgeConfig(StrictModel):
    """The Zigbee2MQTT broker on the kit's own Pi (used only when a sensor has `zigbee:`)."""

    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        description="Zigbee2MQTT's broker: mqtt:// only on this Pi (loopback), else mqtts://.",
    )
    base_topic: str = Field(
        default="zigbee2mqtt",
        pattern=r"^[^#+]+$",
        description="Zigbee2MQTT's mqtt.base_topic setting.",
    )
    username: str | None = Field(default=None, description="User on that broker, if it has one.")
    password_file: Path | None = Field(default=None, description="File holding that password.")
    ca_file: Path | None = Field(
        default=None, description="CA certificate(s) for an mqtts:// Zigbee2MQTT broker."
    )
    battery_min_change: float = Field(
        default=1, gt=0, le=100, description="Send a battery reading when it moved this many %."
    )
    battery_every_s: float = Field(
        default=3600, gt=0, le=86400, description="...or when the last one sent is this old."
    )
    temperature_min_change: float = Field(
        default=0.1, ge=0, le=10, description="Send a temperature when it moved this many °C."
    )
    temperature_every_s: float = Field(
        default=900, gt=0, le=86400, description="...or when the last one sent is this old."
    )

    @model_validator(mode="after")
    def _transport(self) -> ZigbeeBridgeConfig:
        parts = urlsplit(self.url)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            raise ValueError("zigbee.url: expected mqtt://127.0.0.1:1883 or mqtts://host:port")
        if parts.scheme == "mqtt" and parts.hostname not in _LOOPBACK:
            raise ValueError(
                "zigbee.url: plain mqtt:// only to this Pi's own broker (127.0.0.1); "
                "use mqtts:// for another host"
            )
        return self

    def address(self) -> tuple[str, int, bool]:
        """Return host, port and whether TLS is used."""
        parts = urlsplit(self.url)
        tls = parts.scheme == "mqtts"
        return parts.hostname or "", parts.port or (8883 if tls else 1883), tls


class OutputsConfig(StrictModel):
    """Optional outputs the hub can drive: a buzzer, an LED and an "I'm OK" button."""

    buzzer_pin: Pin | None = None
    led_pin: Pin | None = None
    ok_button_pin: Pin | None = None


class BrokerConfig(StrictModel):
    """How the kit reaches the district's broker."""

    url: str = Field(
        description="mqtts://host:8883 (TLS; the broker's certificate must name this host), "
        "or mqtt://host:1883 for a lab only."
    )
    fallback_urls: list[str] = Field(
        default_factory=list,
        description="Other nodes of the same broker cluster, same scheme as url; when the "
        "current node fails the kit goes to the next, in turn.",
    )
    username: str | None = Field(default=None, description="Broker user; defaults to the kit id.")
    password_file: Path = Field(description="File holding the kit's broker password.")
    ca_file: Path | None = Field(default=None, description="CA certificate(s) of the broker.")
    client_cert: Path | None = Field(default=None, description="Optional client certificate.")
    client_key: Path | None = Field(default=None, description="Key of the client certificate.")
    insecure_plain_tcp: bool = Field(
        default=False, description="Allow mqtt:// without TLS. Lab use only; never in a home."
    )
    protocol: Literal["5", "3.1.1"] = Field(default="5", description="MQTT protocol version.")
    keepalive_s: int = Field(default=30, ge=5, le=600)
    inflight: int = Field(
        default=100, ge=1, le=1000, description="Events sent but not yet acknowledged, at most."
    )
    backoff_initial_s: float = Field(default=1, gt=0, le=60)
    backoff_max_s: float = Field(default=60, gt=0, le=3600)

    @model_validator(mode="after")
    def _transport(self) -> BrokerConfig:
        parts = urlsplit(self.url)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            raise ValueError("url: expected mqtts://host:port (or mqtt://host:port for a lab)")
        if parts.scheme == "mqtt" and not self.insecure_plain_tcp:
            raise ValueError(
                "url: mqtt:// is plain TCP; use mqtts:// or set insecure_plain_tcp: true (lab only)"
            )
        for index, other in enumerate(self.fallback_urls):
            # One TLS set-up serves every node: a plain node among TLS ones would be a way
            # around the rule above.
            other_parts = urlsplit(other)
            if other_parts.scheme != parts.scheme or not other_parts.hostname:
                raise ValueError(
                    f"fallback_urls[{index}]: expected {parts.scheme}://host:port, like url"
                )
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key: given without client_cert")
        return self

    def address(self) -> tuple[str, int, bool]:
        """Return host, port and whether TLS is used (of the first node, `url`)."""
        return _address(self.url)

    def nodes(self) -> list[tuple[str, int]]:
        """Host and port of every node the kit may use, `url` first."""
        return [_address(url)[:2] for url in (self.url, *self.fallback_urls)]


def _address(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    return parts.hostname or "", parts.port or (8883 if tls else 1883), tls


class OutboxConfig(StrictModel):
    """The durable outbox on the kit's SD card."""

    path: Path = Field(default=Path("/var/lib/mehr/outbox.db"), description="SQLite file.")
    max_age_days: float = Field(
        default=7, gt=0, le=365, description="Routine events older than this are dropped."
    )
    max_mb: float = Field(
        default=50, gt=0, le=10000, description="Routine events are dropped above this size."
    )


class KitConfig(StrictModel):
    """One kit: who it belongs to, how it talks, and what is wired to it."""

    home_id: str = Field(pattern=ID_PATTERN.pattern, description="The home this kit is in.")
    kit_id: str = Field(pattern=ID_PATTERN.pattern, description="This kit's id (broker user).")
    timezone: TimeZoneName = Field(
        default=DEFAULT_TIME_ZONE, description="IANA time zone of the home."
    )
    broker: BrokerConfig
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    heartbeat_s: float = Field(default=60, ge=5, le=3600, description="Seconds between heartbeats.")
    sensors: list[SensorConfig] = Field(min_length=1, description="What is wired to the kit.")
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)
    zigbee: ZigbeeBridgeConfig = Field(
        default_factory=ZigbeeBridgeConfig,
        description="The local Zigbee2MQTT broker, for sensors with a `zigbee:` source.",
    )

    @field_validator("sensors")
    @classmethod
    def _unique_ids_and_pins(cls, sensors: list[SensorConfig]) -> list[SensorConfig]:
        ids: dict[str, int] = {}
        pins: dict[int, str] = {}
        for index, sensor in enumerate(sensors):
            if sensor.id in ids:
                raise ValueError(
                    f"sensors.{index}.id: {sensor.id!r} is already used by "
                    f"sensors.{ids[sensor.id]}; expected each sensor id once"
                )
            ids[sensor.id] = index
            if isinstance(sensor, ZigbeeSensor):
                continue
            used = (
                sensor.pins()
                if isinstance(sensor, AccelerometerSensor)
                else {sensor.pin: f"sensor {sensor.id!r}"}
            )
            for pin, what in used.items():
                if pin in pins:
                    raise ValueError(
                        f"sensors.{index}: GPIO{pin} ({what}) is already used by {pins[pin]};"
                        " expected each pin once"
                    )
                pins[pin] = f"sensor {sensor.id!r}" if what.startswith("SPI") else what
        return sensors

    @model_validator(mode="after")
    def _outputs_free(self) -> KitConfig:
        taken: dict[int, str] = {}
        for sensor in self.sensors:
            if isinstance(sensor, AccelerometerSensor):
                taken.update(dict.fromkeys(sensor.pins(), f"sensor {sensor.id!r}"))
            elif isinstance(sensor, ZigbeeSensor):
                continue
            else:
                taken[sensor.pin] = f"sensor {sensor.id!r}"
        for name in ("buzzer_pin", "led_pin", "ok_button_pin"):
            pin = getattr(self.outputs, name)
            if pin is None:
                continue
            if pin in taken:
                raise ValueError(
                    f"outputs.{name}: GPIO{pin} is already used by {taken[pin]};"
                    " expected each pin once"
                )
            taken[pin] = f"outputs.{name}"
        return self

    @property
    def username(self) -> str:
        """The broker user name (the kit id unless set)."""
        return self.broker.username or self.kit_id

    def zigbee_sensors(self) -> list[ZigbeeSensor]:
        """Sensors read through Zigbee2MQTT, in config order."""
        return [s for s in self.sensors if isinstance(s, ZigbeeSensor)]

    def battery_ids(self) -> dict[str, ZigbeeSensor]:
        """Each Zigbee device's battery sensor id, with the device's first configured sensor.

        A battery is the device's, not one reading's: its events carry their own sensor id, so
        the hub's latest state of a motion or door sensor is never a battery percentage.
        """
        owners: dict[str, ZigbeeSensor] = {}
        for sensor in self.zigbee_sensors():
            owners.setdefault(sensor.zigbee.friendly_name, sensor)
        return {f"{s.id}-battery": s for s in owners.values()}

    def registered_sensors(self) -> list[tuple[str, SensorKind, str]]:
        """(id, contract kind, room) of everything this kit sends, for the hub's registry."""
        out = [(s.id, CONTRACT_KIND[s.kind], s.room) for s in self.sensors]
        out += [(bid, SensorKind.BATTERY, s.room) for bid, s in self.battery_ids().items()]
        return out

    @model_validator(mode="after")
    def _battery_ids_free(self) -> KitConfig:
        ids = set(self.sensor_ids())
        for battery_id, owner in self.battery_ids().items():
            if battery_id in ids or not ID_PATTERN.fullmatch(battery_id):
                raise ValueError(
                    f"sensor {owner.id!r}: its Zigbee battery reports as {battery_id!r}, which "
                    "is taken or too long; expected a shorter id or another sensor's id"
                )
        return self

    def sensor_ids(self) -> list[str]:
        """Ids of every sensor, in config order."""
        return [s.id for s in self.sensors]


def load_kit_config(path: Path) -> KitConfig:
    """Load and validate a kit YAML; raise ConfigError with one line naming file and field."""
    config = load_model(path, KitConfig)
    # Relative paths in the file are relative to the file, so a kit directory can move as one.
    base = path.resolve().parent
    broker = config.broker
    updates = {
        name: base / value
        for name in ("password_file", "ca_file", "client_cert", "client_key")
        if (value := getattr(broker, name)) is not None and not value.is_absolute()
    }
    outbox = config.outbox
    if not outbox.path.is_absolute():
        outbox = outbox.model_copy(update={"path": base / outbox.path})
    zigbee = config.zigbee
    zigbee = zigbee.model_copy(
        update={
            name: base / value
            for name in ("password_file", "ca_file")
            if (value := getattr(zigbee, name)) is not None and not value.is_absolute()
        }
    )
    return config.model_copy(
        update={
            "broker": broker.model_copy(update=updates),
            "outbox": outbox,
            "zigbee": zigbee,
        }
    )
