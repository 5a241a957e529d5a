"""Driver (a): one simulated home through the real edge agent on gpiozero mock pins.

The resident and home models say what each sensor would report; this driver turns every report
into a pin change on gpiozero's MockFactory, so the kit's own code carries it: gpiozero's
callbacks, `EdgeAgent.record`, the SQLite outbox, paho and the broker. The agent's ManualClock is
set to each event's time before its pin moves, and the driver waits (bounded poll) until the
outbox has taken the event before the next one, so every event gets exactly the simulated time.

The worn accelerometer goes through the kit's own ADC code and impact trigger as well
(`drive_accelerometer`): the agent's `AccelSampler` normally samples on its own thread at 50 Hz by
the monotonic wall clock, which would race a clock that only moves when the driver moves it; so
the agent is started with `sample_accelerometers=False` and the driver sets `edge.mockhw`'s mock
MCP3008 levels, moves the clock one sample period and calls `sample_once()` itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from gpiozero.pins.mock import MockFactory, MockPin

from edge.agent import EdgeAgent
from edge.config import AccelerometerSensor, KitConfig, ZigbeeSensor, load_kit_config
from edge.mockhw import attach_mock_mcp3008
from mehr.clock import ManualClock
from mehr.contract import SensorKind
from simulators.accel import AccelRecording
from simulators.home import HomeLayout, HomeSimulator, SensorEvent, SensorPhysics, SimSensor
from simulators.resident import ResidentProfile

__all__ = [
    "DrivenEvent",
    "EdgeDriveResult",
    "EdgeHomeDriver",
    "kit_yaml",
    "plan_hours",
    "write_kit_yaml",
]

_LOGGER = logging.getLogger(__name__)

# BCM pins free for digital sensors: SPI0 (7-11) stays free for an MCP3008, 2/3 for I2C.
_FREE_PINS = (17, 27, 22, 5, 6, 13, 19, 26, 16, 20, 21, 23, 24, 25, 12, 4, 18, 14, 15)
# gpiozero's MotionSensor reads its pin on a smoothing thread (GPIOQueue), not on an edge: with
# queue_len 1 the first sample after a change decides, so the latency is one sample period.
# The kit default (10 samples/s) costs up to 100 ms per event; 100/s (the config's maximum)
# keeps an edge-by-edge drive of a few hundred events inside a test's budget. The pin must
# stay at its new level until that sample is taken, which the driver guarantees by waiting for
# the outbox before it moves any pin again.
MOTION_SAMPLE_RATE = 100.0
MOTION_QUEUE_LEN = 1
# Sensors the driver can move through a pin. Battery readings have no pin (a real kit would
# learn them over a radio link), and the worn accelerometer is read over SPI, not driven here.
_PIN_KINDS = {"motion", "door", "help_button", "fall", "occupancy", "appliance"}
ACCEL_SENSOR_ID = "worn-accel"


@dataclass(frozen=True, slots=True)
class DrivenEvent:
    """One event the driver put through the agent: what moved, when, and the seq it got."""

    epoch: int
    seq: int
    sensor: str
    kind: SensorKind
    value: bool | str
    ts: datetime


@dataclass
class EdgeDriveResult:
    """What a drive did: the events the agent recorded, and the reports that were no edge."""

    events: list[DrivenEvent] = field(default_factory=list)
    # A report that leaves its pin where it is (e.g. a PIR OFF whose ON fell before the window)
    # is no edge: gpiozero fires nothing for it, so the driver does not count it as sent.
    no_edge: int = 0
    wall_s: float = 0.0


def edge_layout(layout: HomeLayout) -> HomeLayout:
    """The layout without the sensors that have no GPIO pin (the worn accelerometer)."""
    sensors = tuple(s for s in layout.sensors if s.kind in _PIN_KINDS)
    return HomeLayout(
        layout.home_id, layout.kit_id, sensors, layout.timezone, layout.name, layout.mahalla
    )


def _sensor_yaml(sensor: SimSensor, pin: int) -> dict[str, Any]:
    base: dict[str, Any] = {"id": sensor.id, "kind": sensor.kind, "room": sensor.room, "pin": pin}
    if sensor.kind == "motion":
        return {**base, "queue_len": MOTION_QUEUE_LEN, "sample_rate": MOTION_SAMPLE_RATE}
    # Door and help contacts close to ground (pull-up); a fall sensor's alarm output drives high.
    return {**base, "pull_up": sensor.kind != "fall", "bounce_s": sensor.bounce_s}


def kit_yaml(
    layout: HomeLayout,
    *,
    broker_url: str,
    password_file: Path,
    outbox_path: Path,
    username: str | None = None,
    mqtt_v5: bool = True,
    accelerometer: bool = False,
) -> dict[str, Any]:
    """The kit YAML (as data) of a home's pin sensors, for the real agent on MockFactory."""
    sensors = [s for s in layout.sensors if s.kind in _PIN_KINDS]
    if len(sensors) > len(_FREE_PINS):
        raise ValueError(f"{layout.kit_id}: {len(sensors)} pin sensors, at most {len(_FREE_PINS)}")
    broker: dict[str, Any] = {
        "url": broker_url,
        "password_file": str(password_file),
        "insecure_plain_tcp": broker_url.startswith("mqtt://"),
        "protocol": "5" if mqtt_v5 else "3.1.1",
        "backoff_initial_s": 0.2,
        "backoff_max_s": 2,
    }
    if username is not None:
        broker["username"] = username
    entries = [_sensor_yaml(s, pin) for s, pin in zip(sensors, _FREE_PINS, strict=False)]
    if accelerometer:
        # The worn sensor on the MCP3008 (SPI0, CE0); the trigger settings are the kit's
        # defaults, which are the hub detector's documented trigger.
        entries.append(
            {"id": ACCEL_SENSOR_ID, "kind": "accelerometer", "room": "Worn", "spi_device": 0}
        )
    return {
        "home_id": layout.home_id,
        "kit_id": layout.kit_id,
        "timezone": layout.timezone,
        "broker": broker,
        "outbox": {"path": str(outbox_path)},
        "sensors": entries,
    }


def write_kit_yaml(
    layout: HomeLayout,
    directory: Path,
    *,
    broker_url: str,
    password: str,
    username: str | None = None,
    mqtt_v5: bool = True,
    accelerometer: bool = False,
) -> KitConfig:
    """Write the kit YAML and its password file, then load it as the agent would."""
    directory.mkdir(parents=True, exist_ok=True)
    secret = directory / f"{layout.kit_id}.password"
    secret.write_text(password + "\n")
    data = kit_yaml(
        layout,
        broker_url=broker_url,
        password_file=secret,
        outbox_path=directory / f"{layout.kit_id}-outbox.db",
        username=username,
        mqtt_v5=mqtt_v5,
        accelerometer=accelerometer,
    )
    path = directory / f"{layout.kit_id}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    # Through the real loader: the same strict validation a kit's file gets.
    return load_kit_config(path)


def plan_hours(
    layout: HomeLayout,
    *,
    seed: int = 0,
    from_hour: float = 7.0,
    hours: float = 3.0,
    physics: SensorPhysics | None = None,
    help_after_s: float = 60.0,
) -> list[SensorEvent]:
    """`hours` of the resident's first day from `from_hour` local, then a help-button press.

    Only pin sensors' reports are kept, in time order. The press comes `help_after_s` after the
    last report, so the drive ends with an urgent event the hub must raise an alert for.
    """
    pins = edge_layout(layout)
    sim = HomeSimulator(pins, ResidentProfile(seed=seed), physics or SensorPhysics())
    lo = sim.day_start(0) + from_hour * 3600.0
    hi = lo + hours * 3600.0
    events = [e for e in sim.day(0) if lo <= e.t < hi and e.kind is not SensorKind.BATTERY]
    button = pins.first("help_button")
    if button is None:
        raise ValueError(f"{layout.kit_id} has no help button to end the drive with")
    at = (events[-1].t if events else lo) + help_after_s
    events.append(
        SensorEvent(
            at, at, button.id, SensorKind.HELP_BUTTON, "pressed", button.room, "Help_Button"
        )
    )
    return events


def _level(sensor_kind: str, value: bool | str | float) -> bool | None:
    """The pin level (True: high) that makes the kit report `value`, None for a release."""
    if sensor_kind == "motion":
        return bool(value)  # a PIR's output is high while it sees motion
    if sensor_kind == "door":
        return value != "closed"  # a closed reed contact pulls the line to ground
    if sensor_kind == "help_button":
        return False  # pressed: the button closes to ground
    if sensor_kind == "fall":
        return value == "detected"  # the alarm output drives the line high
    if sensor_kind in ("occupancy", "appliance"):
        return value is not True  # a mat under a person (a switch in use) closes to ground
    raise ValueError(f"no pin level for a {sensor_kind} sensor")


class EdgeHomeDriver:
    """Runs one `EdgeAgent` on a MockFactory and moves its pins as the simulated home reports."""

    def __init__(
        self,
        config: KitConfig,
        clock: ManualClock,
        factory: MockFactory | None = None,
        *,
        timeout_s: float = 5.0,
    ) -> None:
        self.config = config
        self.clock = clock
        self.factory = factory or MockFactory()
        self.timeout_s = timeout_s
        self._pins: dict[str, int] = {}
        self._kinds: dict[str, str] = {}
        self._accels: dict[str, AccelerometerSensor] = {}
        for sensor in config.sensors:
            if isinstance(sensor, AccelerometerSensor):
                self._accels[sensor.id] = sensor
            elif isinstance(sensor, ZigbeeSensor):
                continue  # driven through Zigbee2MQTT's topics (simulators/zigbee.py), no pin
            else:
                self._pins[sensor.id] = sensor.pin
                self._kinds[sensor.id] = sensor.kind
        # The ADC answers on the mock SPI bus before the agent opens its channels. The agent's
        # own sampling thread would read at real 50 Hz against a clock that only moves when we
        # move it; so the driver takes each sample itself (`drive_accelerometer`).
        self._adc = attach_mock_mcp3008(self.factory) if self._accels else None
        self.agent = EdgeAgent(
            config, clock=clock, pin_factory=self.factory, sample_accelerometers=False
        )

    def _pin(self, sensor_id: str) -> MockPin:
        pin: MockPin = self.factory.pin(self._pins[sensor_id])
        return pin

    def start(self, connect_timeout_s: float = 10.0) -> None:
        """Start the agent (outbox, link, devices) and wait until it is connected."""
        self.agent.start()
        link = self.agent.link
        assert link is not None  # start() raises rather than leave it unset
        if not link.connected.wait(connect_timeout_s):
            raise TimeoutError(f"{self.config.kit_id}: not connected within {connect_timeout_s} s")

    def stop(self) -> None:
        """Stop the agent (it says 'offline' and releases the pins)."""
        self.agent.stop()

    @property
    def epoch(self) -> int:
        """The outbox's epoch (the kit's disk)."""
        outbox = self.agent.outbox
        assert outbox is not None
        return outbox.epoch

    def _next_seq(self) -> int:
        outbox = self.agent.outbox
        assert outbox is not None
        return outbox.next_seq

    def _wait_recorded(self, before: int, what: str) -> int:
        # The callback runs on gpiozero's threads (at once for a contact, on the next smoothing
        # sample for a PIR): poll the real outbox with a bound, never wait for time to pass.
        deadline = time.monotonic() + self.timeout_s
        while True:
            now_seq = self._next_seq()
            if now_seq > before:
                if now_seq > before + 1:
                    raise RuntimeError(f"{what}: {now_seq - before} events recorded, expected 1")
                return before
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not recorded within {self.timeout_s} s")
            time.sleep(0.001)

    def drive(self, event: SensorEvent) -> DrivenEvent | None:
        """Move the pin for one report at its time; None if it is no edge (nothing to record)."""
        kind = self._kinds.get(event.sensor)
        if kind is None:
            raise KeyError(f"{self.config.kit_id} has no pin sensor {event.sensor!r}")
        if not isinstance(event.value, bool | str):
            raise TypeError(
                f"{event.sensor}: a pin sensor reports bool or str, not {event.value!r}"
            )
        pin = self._pin(event.sensor)
        level = _level(kind, event.value)
        if pin.state == level:
            return None
        ts = datetime.fromtimestamp(event.ts, UTC)
        self.clock.set(ts)
        before = self._next_seq()
        if level:
            pin.drive_high()
        else:
            pin.drive_low()
        seq = self._wait_recorded(before, f"{event.sensor}={event.value!r}")
        if kind == "help_button":
            # Release the button: Button fires only when_pressed, so this records nothing, and
            # the next press is an edge again.
            pin.drive_high()
        return DrivenEvent(self.epoch, seq, event.sensor, event.kind, event.value, ts)

    def drive_accelerometer(
        self, recording: AccelRecording, start: datetime, sensor_id: str = ACCEL_SENSOR_ID
    ) -> DrivenEvent | None:
        """Play a worn-sensor recording through the kit's ADC and trigger, one sample at a time.

        Returns the window the kit's trigger shipped (None if it never fired).
        """
        sensor = self._accels[sensor_id]
        if self._adc is None or self.agent.devices is None:
            raise RuntimeError("the agent has no accelerometer or is not started")
        sampler = self.agent.devices.samplers[sensor_id]
        before = self._next_seq()
        shipped_at: datetime | None = None
        for i, sample in enumerate(recording.samples):
            at = start + timedelta(seconds=i / recording.rate_hz)
            self.clock.set(at)
            for channel, g in zip(sensor.channels, sample, strict=True):
                # What the analog sensor's output is at this acceleration (0..1 of the ADC).
                self._adc.levels[channel] = sensor.zero_g + float(g) * sensor.scale_per_g
            if sampler.sample_once() is not None and shipped_at is None:
                shipped_at = at
        if shipped_at is None:
            return None
        seq = self._wait_recorded(before, f"{sensor_id} window")
        return DrivenEvent(
            self.epoch, seq, sensor_id, SensorKind.ACCEL_WINDOW, "window", shipped_at
        )

    def run(self, events: Iterable[SensorEvent]) -> EdgeDriveResult:
        """Drive every report in order; wait until the broker acknowledged all of them."""
        result = EdgeDriveResult()
        started = time.perf_counter()
        for event in events:
            driven = self.drive(event)
            if driven is None:
                result.no_edge += 1
            else:
                result.events.append(driven)
        self.wait_acked()
        result.wall_s = time.perf_counter() - started
        return result

    def wait_acked(self, timeout_s: float = 30.0) -> None:
        """Poll until the outbox is empty: the broker has PUBACKed every event."""
        outbox = self.agent.outbox
        assert outbox is not None
        deadline = time.monotonic() + timeout_s
        while outbox.depth > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{outbox.depth} events not acknowledged in {timeout_s} s")
            time.sleep(0.01)  # the link thread sends; the broker answers


def settle_initial(driver: EdgeHomeDriver, layout: HomeLayout, at: datetime) -> list[DrivenEvent]:
    """Close every door at `at` (the installer's walk-round): the mock pins start open.

    A contact with a pull-up reads high (open) until something pulls it low, so each door's
    first close is a real edge that the kit records, like at a real installation.
    """
    out = []
    for door in layout.of_kind("door"):
        ts = at.timestamp()
        ev = SensorEvent(ts, ts, door.id, SensorKind.DOOR, "closed", door.room, "Install")
        driven = driver.drive(ev)
        if driven is not None:
            out.append(driven)
    return out


def start_of(events: Sequence[SensorEvent], lead_s: float = 60.0) -> datetime:
    """A moment just before the first report (when the drive's install step happens)."""
    first = events[0].ts if events else 0.0
    return datetime.fromtimestamp(first, UTC) - timedelta(seconds=lead_s)
