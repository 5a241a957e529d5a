"""The kit's hardware, through gpiozero's pin factory: sensors in, buzzer/LED/OK button out.

Nothing here touches pins directly: every device takes `pin_factory`, so tests and simulators run
this exact code on gpiozero's MockFactory. Each input calls `on_signal(sensor, value)` with the
contract's value for its kind; the accelerometer calls `on_capture(sensor, capture)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gpiozero import (
    LED,
    MCP3008,
    Button,
    Buzzer,
    DigitalInputDevice,
    Factory,
    MotionSensor,
)

from edge.accel import AccelSampler, Capture, ImpactTrigger
from edge.config import (
    AccelerometerSensor,
    ApplianceSensor,
    DoorSensor,
    FallSensor,
    HelpButton,
    KitConfig,
    MotionSensorConfig,
    OccupancySensor,
    SensorConfig,
    ZigbeeSensor,
)

__all__ = ["KitDevices"]

_LOGGER = logging.getLogger(__name__)

SignalHandler = Callable[[SensorConfig, bool | str], object]
CaptureHandler = Callable[[AccelerometerSensor, Capture], object]


def _bounce(seconds: float) -> float | None:
    return seconds if seconds > 0 else None


def _two_state(
    sensor: DoorSensor | FallSensor | OccupancySensor | ApplianceSensor,
    factory: Factory | None,
    signal: SignalHandler,
    active: bool | str,
    inactive: bool | str,
) -> DigitalInputDevice:
    """A contact or alarm output that reports both of its edges, as `active` and `inactive`."""
    device = DigitalInputDevice(
        sensor.pin, pull_up=sensor.pull_up, bounce_time=_bounce(sensor.bounce_s),
        pin_factory=factory,
    )
    device.when_activated = lambda: signal(sensor, active)
    device.when_deactivated = lambda: signal(sensor, inactive)
    return device


class KitDevices:
    """Every device of one kit, opened from its config; close() releases the pins."""

    def __init__(
        self,
        config: KitConfig,
        on_signal: SignalHandler,
        on_capture: CaptureHandler,
        now: Callable[[], datetime],
        pin_factory: Factory | None = None,
        on_ok: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self._on_signal = on_signal
        self._on_capture = on_capture
        self._factory = pin_factory
        self.inputs: dict[str, Any] = {}
        self.samplers: dict[str, AccelSampler] = {}
        self.buzzer: Buzzer | None = None
        self.led: LED | None = None
        self.ok_button: Button | None = None
        try:
            for sensor in config.sensors:
                self._open(sensor, now)
            outputs = config.outputs
            if outputs.buzzer_pin is not None:
                self.buzzer = Buzzer(outputs.buzzer_pin, pin_factory=pin_factory)
            if outputs.led_pin is not None:
                self.led = LED(outputs.led_pin, pin_factory=pin_factory)
            if outputs.ok_button_pin is not None:
                self.ok_button = Button(
                    outputs.ok_button_pin, pull_up=True, bounce_time=0.05, pin_factory=pin_factory
                )
                if on_ok is not None:
                    self.ok_button.when_pressed = on_ok
        except Exception:
            # Never run half-wired: release what was opened and let the caller fail loudly.
            self.close()
            raise

    def _open(self, sensor: SensorConfig, now: Callable[[], datetime]) -> None:
        factory = self._factory
        signal = self._on_signal
        if isinstance(sensor, ZigbeeSensor):
            return  # read by edge.zigbee.ZigbeeBridge from the local broker, not from a pin
        if isinstance(sensor, MotionSensorConfig):
            motion = MotionSensor(
                sensor.pin,
                queue_len=sensor.queue_len,
                sample_rate=sensor.sample_rate,
                pin_factory=factory,
            )
            motion.when_motion = lambda: signal(sensor, True)
            motion.when_no_motion = lambda: signal(sensor, False)
            # gpiozero treats the first smoothed sample as "indeterminate" and fires nothing for
            # it; reading the value waits for that sample (<= 1/sample_rate), so the kit is
            # watching for edges from the moment start() returns.
            _ = motion.value
            self.inputs[sensor.id] = motion
        elif isinstance(sensor, DoorSensor):
            # With the pull-up, a closed reed contact pulls the pin low: active means closed.
            self.inputs[sensor.id] = _two_state(sensor, factory, signal, "closed", "open")
        elif isinstance(sensor, HelpButton):
            button = Button(
                sensor.pin, pull_up=sensor.pull_up, bounce_time=_bounce(sensor.bounce_s),
                pin_factory=factory,
            )
            button.when_pressed = lambda: signal(sensor, "pressed")
            self.inputs[sensor.id] = button
        elif isinstance(sensor, FallSensor):
            self.inputs[sensor.id] = _two_state(sensor, factory, signal, "detected", "cleared")
        elif isinstance(sensor, (OccupancySensor, ApplianceSensor)):
            # A mat under a person (or a switch of an appliance in use) closes: active is true.
            self.inputs[sensor.id] = _two_state(sensor, factory, signal, True, False)
        else:
            channels = tuple(
                MCP3008(channel=c, device=sensor.spi_device, pin_factory=factory)
                for c in sensor.channels
            )
            trigger = ImpactTrigger(
                sensor.rate_hz, sensor.impact_g, sensor.before_s, sensor.after_s,
                sensor.refractory_s,
            )
            self.samplers[sensor.id] = AccelSampler(
                (channels[0], channels[1], channels[2]),
                trigger,
                sensor.zero_g,
                sensor.scale_per_g,
                now,
                lambda capture: self._on_capture(sensor, capture),
            )

    def start(self) -> None:
        """Start the accelerometer sampling threads (digital inputs are live from the start)."""
        for sampler in self.samplers.values():
            sampler.start()

    def close(self) -> None:
        """Stop sampling and release every pin."""
        for sampler in self.samplers.values():
            sampler.stop()
        for device in [*self.inputs.values(), self.buzzer, self.led, self.ok_button]:
            if device is not None:
                device.close()
        self.inputs.clear()
        self.samplers.clear()
