"""The edge agent: sensors in, outbox on disk, broker out; heartbeat and hub commands.

Every sensor signal becomes a contract event written to the outbox (with its sequence number)
before the link may send it. The agent runs for months: start() brings it up or raises,
stop() takes it down and says 'offline'.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from gpiozero import Factory

from edge.accel import Capture
from edge.config import CONTRACT_KIND, AccelerometerSensor, KitConfig, SensorConfig
from edge.devices import KitDevices
from edge.link import BrokerLink
from edge.outbox import CRITICAL_KINDS, Outbox
from edge.systemd import Notifier
from edge.zigbee import Signal, ZigbeeBridge
from mehr.clock import Clock, SystemClock
from mehr.contract import (
    PROTOCOL_VERSION,
    AccelWindow,
    Command,
    CommandAction,
    Heartbeat,
    SensorKind,
    TopicKind,
    encode,
    make_event,
)

__all__ = ["EdgeAgent", "read_cpu_temp"]

_LOGGER = logging.getLogger(__name__)
# The sensor id the I'm OK button's events carry (it is an output board, not a kit sensor).
OK_BUTTON_SENSOR_ID = "ok-button"
_CPU_TEMP = Path("/sys/class/thermal/thermal_zone0/temp")


def read_cpu_temp(path: Path = _CPU_TEMP) -> float | None:
    """CPU temperature in degrees Celsius, or None where the board does not expose it."""
    try:
        celsius = round(int(path.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None
    # A broken sensor's reading (-273, 2000) would make the whole heartbeat invalid.
    return celsius if -60.0 <= celsius <= 150.0 else None


class EdgeAgent:
    """One kit's agent. Thread-safe: GPIO threads record, the link sends, a timer beats."""

    def __init__(
        self,
        config: KitConfig,
        clock: Clock | None = None,
        pin_factory: Factory | None = None,
        watchdog: Notifier | None = None,
        sample_accelerometers: bool = True,
    ) -> None:
        self.config = config
        # False: nobody starts the accelerometers' real-time sampling threads; the caller feeds
        # them with `devices.samplers[id].sample_once()` (a simulator moving a manual clock).
        self._sample_accelerometers = sample_accelerometers
        self.clock: Clock = clock or SystemClock()
        self._pin_factory = pin_factory
        self._watchdog = watchdog
        self.outbox: Outbox | None = None
        self.link: BrokerLink | None = None
        self.devices: KitDevices | None = None
        self.zigbee: ZigbeeBridge | None = None
        self._started_at = self.clock.now()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self._asking = threading.Event()
        self.ok_presses = 0
        self.record_errors = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the outbox, the broker link and every device; raise if any of them fails."""
        cfg = self.config
        self.outbox = Outbox(
            cfg.outbox.path,
            max_age=timedelta(days=cfg.outbox.max_age_days),
            max_bytes=int(cfg.outbox.max_mb * 1024 * 1024),
        )
        _LOGGER.info(
            "outbox %s: epoch %d, next seq %d, %d waiting",
            cfg.outbox.path,
            self.outbox.epoch,
            self.outbox.next_seq,
            self.outbox.depth,
        )
        try:
            self.link = BrokerLink(cfg, self.outbox, self.clock.now, on_command=self.on_command)
            self.devices = KitDevices(
                cfg,
                self.record,
                self.record_capture,
                self.clock.now,
                pin_factory=self._pin_factory,
                on_ok=self._on_ok,
            )
            if cfg.zigbee_sensors():
                self.zigbee = ZigbeeBridge(
                    cfg.zigbee, cfg.zigbee_sensors(), cfg.kit_id, self.record_signal, self.clock.now
                )
        except Exception:
            if self.devices is not None:
                self.devices.close()
            self.outbox.close()
            raise
        self.link.start()
        if self.zigbee is not None:
            self.zigbee.start()
        if self._sample_accelerometers:
            self.devices.start()
        self._timer = threading.Thread(target=self._run_timer, name="heartbeat", daemon=True)
        self._timer.start()

    def stop(self) -> None:
        """Stop the sensors first (no event is half-recorded), then the link and the outbox."""
        self._stop.set()
        if self.zigbee is not None:
            self.zigbee.stop()
        if self.devices is not None:
            self.devices.close()
        if self._timer is not None:
            self._timer.join(timeout=5)
        if self.link is not None:
            self.link.stop()
        if self.outbox is not None:
            self.outbox.close()

    # -- recording ------------------------------------------------------------------------------

    def record(self, sensor: SensorConfig, value: bool | str) -> int | None:
        """Write one sensor signal to the outbox as a contract event; return its seq."""
        return self._record_event(sensor.id, CONTRACT_KIND[sensor.kind], value)

    def record_signal(self, signal: Signal) -> int | None:
        """Write one reading of a Zigbee sensor (or its battery) to the outbox; return its seq."""
        return self._record_event(signal.sensor_id, signal.kind, signal.value)

    def _record_event(
        self, sensor_id: str, kind: SensorKind, value: bool | float | str
    ) -> int | None:
        outbox, link = self.outbox, self.link
        if outbox is None or link is None:
            return None
        now = self.clock.now()

        def build(seq: int) -> tuple[TopicKind, bytes]:
            event = make_event(
                kit=self.config.kit_id,
                epoch=outbox.epoch,
                seq=seq,
                sensor=sensor_id,
                kind=kind,
                value=value,
                ts=now,
            )
            # On `events` in the outbox whatever the kind: the link sends the critical ones on
            # `urgent` when a hub hears it, and older firmware can still read this outbox.
            return TopicKind.EVENTS, encode(event)

        try:
            seq = outbox.append(build, critical=kind in CRITICAL_KINDS, now=now, sensor=sensor_id)
        except Exception:
            # Called from gpiozero's threads: log loudly, count, and keep the kit running.
            self.record_errors += 1
            _LOGGER.exception("could not record %s=%s from %s", kind, value, sensor_id)
            return None
        _LOGGER.debug("recorded %s %s=%s as seq %d", sensor_id, kind, value, seq)
        link.wake()
        return seq

    def record_capture(self, sensor: AccelerometerSensor, capture: Capture) -> int | None:
        """Write an accelerometer window to the outbox; return its seq."""
        outbox, link = self.outbox, self.link
        if outbox is None or link is None:
            return None
        now = self.clock.now()

        def build(seq: int) -> tuple[TopicKind, bytes]:
            window = AccelWindow(
                v=PROTOCOL_VERSION,
                kit=self.config.kit_id,
                epoch=outbox.epoch,
                seq=seq,
                sensor=sensor.id,
                ts=now,
                rate_hz=capture.rate_hz,
                start=capture.start,
                trigger_index=capture.trigger_index,
                samples=capture.samples,
            )
            return TopicKind.ACCEL, encode(window)

        try:
            seq = outbox.append(build, critical=True, now=now, sensor=sensor.id)
        except Exception:
            self.record_errors += 1
            _LOGGER.exception("could not record an accelerometer window from %s", sensor.id)
            return None
        link.wake()
        return seq

    # -- health ---------------------------------------------------------------------------------

    def build_heartbeat(self) -> Heartbeat:
        """The kit's health right now."""
        now = self.clock.now()
        outbox = self.outbox
        last = outbox.sensor_last() if outbox is not None else {}
        if self.devices is not None:
            # An idle accelerometer sends nothing; its last successful read shows it is alive.
            for sensor_id, sampler in self.devices.samplers.items():
                if sampler.last_read is not None:
                    last[sensor_id] = sampler.last_read
        unavailable: list[str] | None = None
        if self.zigbee is not None:
            # A Zigbee device that only reported its battery or link quality is still alive.
            for sensor_id, seen in self.zigbee.last_seen().items():
                if last.get(sensor_id) is None or seen > last[sensor_id]:
                    last[sensor_id] = seen
            unavailable = self.zigbee.unavailable() or None
        return Heartbeat(
            v=PROTOCOL_VERSION,
            kit=self.config.kit_id,
            ts=now,
            uptime_s=max(0.0, (now - self._started_at).total_seconds()),
            outbox_depth=outbox.depth if outbox is not None else 0,
            dropped=outbox.dropped if outbox is not None else 0,
            clock_offset_s=None,
            cpu_temp_c=read_cpu_temp(),
            sensors={sid: last.get(sid) for sid in self.config.sensor_ids()},
            unavailable=unavailable,
        )

    def send_heartbeat(self) -> bool:
        """Publish a heartbeat now; False when not connected."""
        if self.link is None:
            return False
        return self.link.publish_now(TopicKind.HEARTBEAT, encode(self.build_heartbeat()))

    def _run_timer(self) -> None:
        next_beat = time.monotonic()
        while not self._stop.is_set():
            if self._watchdog is not None and self.link is not None and self.link.alive():
                self._watchdog.watchdog()
            if time.monotonic() >= next_beat:
                next_beat += self.config.heartbeat_s
                try:
                    if self.outbox is not None:
                        self.outbox.enforce_bounds(self.clock.now())
                    if not self.send_heartbeat():
                        # Not connected yet: beat soon after the link is up, not a minute later.
                        next_beat = time.monotonic() + min(2.0, self.config.heartbeat_s)
                except Exception:
                    _LOGGER.exception("heartbeat failed")
            self._stop.wait(min(5.0, max(0.0, next_beat - time.monotonic())))

    # -- commands from the hub ------------------------------------------------------------------

    def on_command(self, command: Command) -> None:
        """Act on a hub command (ping, buzz, ask the resident, cancel)."""
        _LOGGER.info("command %s (%s)", command.action, command.id)
        devices = self.devices
        if command.action is CommandAction.PING:
            self.send_heartbeat()
        elif command.action is CommandAction.BUZZ and devices and devices.buzzer:
            seconds = float(command.params.get("seconds", 2))
            devices.buzzer.beep(on_time=0.5, off_time=0.5, n=max(1, round(seconds)))
        elif command.action is CommandAction.ASK_OK:
            self._asking.set()
            if devices and devices.led:
                devices.led.blink(on_time=0.5, off_time=0.5)
            if devices and devices.buzzer:
                devices.buzzer.beep(on_time=0.2, off_time=1.8)
        elif command.action is CommandAction.CANCEL_ASK:
            self._stop_asking()
        else:
            _LOGGER.info("command %s needs no action on this kit", command.action)

    def _stop_asking(self) -> None:
        self._asking.clear()
        devices = self.devices
        if devices and devices.led:
            devices.led.off()
        if devices and devices.buzzer:
            devices.buzzer.off()

    def _on_ok(self) -> None:
        # The prompt stops here at once; the event tells the hub, which cancels the alerts
        # that were waiting for this answer (it travels as critically as a help press).
        self.ok_presses += 1
        if self._asking.is_set():
            self._stop_asking()
        self._record_event(OK_BUTTON_SENSOR_ID, SensorKind.OK_BUTTON, "pressed")

    @property
    def started_at(self) -> datetime:
        """When the agent object was made (uptime counts from here)."""
        return self._started_at
