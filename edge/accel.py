"""A cheap impact trigger for the accelerometer: keep a few seconds of samples, ship a window.

The kit only notices that something hit hard (magnitude over a threshold); the hub's detector
decides whether it was a fall. `ImpactTrigger` is pure (samples in, windows out) so it is
tested with arrays; `AccelSampler` reads three MCP3008 channels at a fixed rate and feeds it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["AccelSampler", "AnalogChannel", "Capture", "ImpactTrigger"]

_LOGGER = logging.getLogger(__name__)

Sample = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Capture:
    """A window of samples around one impact."""

    start: datetime
    rate_hz: float
    trigger_index: int
    samples: list[Sample]
    peak_g: float


class ImpactTrigger:
    """Keeps `before_s` of samples; on a magnitude >= impact_g, collects `after_s` more."""

    def __init__(
        self,
        rate_hz: float,
        impact_g: float,
        before_s: float,
        after_s: float,
        refractory_s: float = 0.0,
    ) -> None:
        self.rate_hz = rate_hz
        self.impact_g = impact_g
        self._before_n = max(1, round(before_s * rate_hz))
        self._after_n = max(1, round(after_s * rate_hz))
        self._refractory_n = round(refractory_s * rate_hz)
        self._ring: deque[tuple[datetime, Sample]] = deque(maxlen=self._before_n)
        self._capture: list[tuple[datetime, Sample]] | None = None
        self._trigger_index = 0
        self._peak = 0.0
        self._remaining = 0
        self._quiet = 0  # samples left in the refractory period

    def feed(self, ts: datetime, sample: Sample) -> Capture | None:
        """Add one sample; return a Capture when a window has just been completed."""
        magnitude = math.sqrt(sample[0] ** 2 + sample[1] ** 2 + sample[2] ** 2)
        if self._capture is not None:
            self._capture.append((ts, sample))
            self._peak = max(self._peak, magnitude)
            self._remaining -= 1
            if self._remaining > 0:
                return None
            rows = self._capture
            self._capture = None
            self._ring.clear()
            self._quiet = self._refractory_n
            return Capture(
                start=rows[0][0],
                rate_hz=self.rate_hz,
                trigger_index=self._trigger_index,
                samples=[s for _, s in rows],
                peak_g=self._peak,
            )
        if self._quiet > 0:
            self._quiet -= 1
        elif magnitude >= self.impact_g:
            self._capture = [*self._ring, (ts, sample)]
            self._trigger_index = len(self._capture) - 1
            self._peak = magnitude
            self._remaining = self._after_n
            return None
        self._ring.append((ts, sample))
        return None


class AnalogChannel(Protocol):
    """What the sampler needs of an ADC channel (gpiozero's MCP3008 has it)."""

    @property
    def value(self) -> float:
        """Reading from 0 to 1 of full scale."""
        ...

    def close(self) -> None:
        """Release the device."""
        ...


class AccelSampler:
    """Reads x, y, z at a fixed rate on its own thread and hands finished windows on."""

    def __init__(
        self,
        channels: tuple[AnalogChannel, AnalogChannel, AnalogChannel],
        trigger: ImpactTrigger,
        zero_g: float,
        scale_per_g: float,
        now: Callable[[], datetime],
        on_capture: Callable[[Capture], object],
    ) -> None:
        self.channels = channels
        self.trigger = trigger
        self.zero_g = zero_g
        self.scale_per_g = scale_per_g
        self._now = now
        self._on_capture = on_capture
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_signal: datetime | None = None
        self.last_read: datetime | None = None
        self.overruns = 0

    def read(self) -> Sample:
        """Read the three channels once and convert them to g."""
        x, y, z = (round((c.value - self.zero_g) / self.scale_per_g, 4) for c in self.channels)
        return (x, y, z)

    def sample_once(self) -> Capture | None:
        """Take one sample now and feed the trigger; returns (and hands on) a finished window."""
        ts = self._now()
        capture = self.trigger.feed(ts, self.read())
        self.last_read = ts
        if capture is not None:
            self.last_signal = ts
            _LOGGER.info("impact of %.1f g: shipping a %d-sample window",
                         capture.peak_g, len(capture.samples))
            self._on_capture(capture)
        return capture

    def start(self) -> None:
        """Start sampling on a background thread."""
        self._thread = threading.Thread(target=self._run, name="accel", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = 1.0 / self.trigger.rate_hz
        # A fixed schedule on the monotonic clock: jitter in one read does not shift the rest.
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.sample_once()
            except Exception:
                _LOGGER.exception("accelerometer read failed")
            next_at += period
            delay = next_at - time.monotonic()
            if delay < 0:
                self.overruns += 1
                next_at = time.monotonic()
                delay = 0
            if self._stop.wait(delay):
                break

    def stop(self) -> None:
        """Stop sampling and release the ADC."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for channel in self.channels:
            channel.close()
