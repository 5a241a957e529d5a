"""Impact trigger, the MCP3008 read path on mock SPI, and reconnect backoff."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from gpiozero.pins.mock import MockFactory

from edge.accel import ImpactTrigger
from edge.backoff import Backoff
from edge.config import KitConfig
from edge.devices import KitDevices
from edge.mockhw import attach_mock_mcp3008
from mehr.clock import ManualClock
from mehr.contract import AccelWindow, parse_message

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def _feed(trigger: ImpactTrigger, rows: list[tuple[float, float, float]]) -> list:  # type: ignore[type-arg]
    out = []
    for i, row in enumerate(rows):
        capture = trigger.feed(T0 + timedelta(seconds=i / 50), row)
        if capture is not None:
            out.append(capture)
    return out


def test_impact_ships_window_with_seconds_before_and_after() -> None:
    trigger = ImpactTrigger(rate_hz=50, impact_g=2.5, before_s=2, after_s=1, refractory_s=5)
    still = [(0.0, 0.0, 1.0)] * 300
    rows = [*still[:200], (2.0, 2.0, 1.0), *still[:100]]
    captures = _feed(trigger, rows)
    assert len(captures) == 1
    cap = captures[0]
    assert len(cap.samples) == 100 + 1 + 50
    assert cap.trigger_index == 100
    assert cap.samples[cap.trigger_index] == (2.0, 2.0, 1.0)
    assert cap.start == T0 + timedelta(seconds=100 / 50)
    assert cap.peak_g > 2.9


def test_no_window_while_still_and_refractory_after_one() -> None:
    trigger = ImpactTrigger(rate_hz=50, impact_g=2.5, before_s=1, after_s=1, refractory_s=2)
    hit = (3.0, 0.0, 0.0)
    assert _feed(trigger, [(0.0, 0.0, 1.0)] * 500) == []
    # Two hits 1.5 s apart: the second falls in the refractory period (after the window).
    rows = [hit] + [(0.0, 0.0, 1.0)] * 74 + [hit] + [(0.0, 0.0, 1.0)] * 200
    assert len(_feed(trigger, rows)) == 1


def test_accelerometer_reads_mcp3008_and_window_fits_the_contract(
    mock_factory: MockFactory,
) -> None:
    adc = attach_mock_mcp3008(mock_factory)
    config = KitConfig.model_validate(
        {
            "home_id": "h",
            "kit_id": "k",
            "broker": {"url": "mqtts://b:8883", "password_file": "p"},
            "sensors": [
                {"id": "acc", "kind": "accelerometer", "room": "stairs", "before_s": 1,
                 "after_s": 1, "impact_g": 2.5}
            ],
        }
    )
    clock = ManualClock(T0)
    captures = []
    devices = KitDevices(
        config, lambda s, v: None, lambda s, c: captures.append(c), clock.now,
        pin_factory=mock_factory,
    )
    try:
        sampler = devices.samplers["acc"]
        adc.levels[:3] = [0.5, 0.5, 0.5 + 0.0909]  # resting: 1 g on z
        x, y, z = sampler.read()
        assert abs(x) < 0.02 and abs(y) < 0.02 and abs(z - 1) < 0.02
        for step in range(120):
            adc.levels[0] = 0.5 + 0.0909 * 3 if step == 60 else 0.5  # a 3 g knock on x
            clock.advance(0.02)
            sampler.sample_once()
        assert len(captures) == 1
        cap = captures[0]
        assert cap.trigger_index == 50 and len(cap.samples) == 101
        assert abs(cap.samples[50][0] - 3) < 0.05
        window = AccelWindow(
            v=1, kit="k", epoch=1, seq=1, sensor="acc", ts=clock.now(), rate_hz=cap.rate_hz,
            start=cap.start, trigger_index=cap.trigger_index, samples=cap.samples,
        )
        payload = window.model_dump_json().encode()
        _, parsed = parse_message("mehr/v1/homes/h/kits/k/accel", payload)
        assert isinstance(parsed, AccelWindow) and len(json.loads(payload)["samples"]) == 101
    finally:
        devices.close()


def test_backoff_grows_caps_and_jitters() -> None:
    backoff = Backoff(1, 30, rng=random.Random(7))
    delays = [backoff.next() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 16, 30, 30, 30]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays[5:]}) == 3  # jittered, not all 30
    backoff.reset()
    assert backoff.next() <= 1
