"""The fleet's fast encoding path writes exactly the bytes the contract's models write."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mehr.contract import (
    PROTOCOL_VERSION,
    Heartbeat,
    SensorKind,
    TopicKind,
    encode,
    make_event,
    parse_message,
    topic_for,
)
from simulators.fleet import event_payload, heartbeat_payload, wire_time, wire_times

# Every kind the fleet sends, with every value it sends; the other string-valued kinds too.
VALUES: list[tuple[SensorKind, bool | str]] = [
    (SensorKind.MOTION, True),
    (SensorKind.MOTION, False),
    (SensorKind.DOOR, "open"),
    (SensorKind.DOOR, "closed"),
    (SensorKind.HELP_BUTTON, "pressed"),
    (SensorKind.OK_BUTTON, "pressed"),
    (SensorKind.FALL, "detected"),
    (SensorKind.FALL, "cleared"),
]


def _moments(n: int, seed: int) -> list[datetime]:
    rng = random.Random(seed)
    base = datetime(2026, 3, 2, 3, tzinfo=UTC)
    out = [base, base + timedelta(microseconds=1), base + timedelta(microseconds=123_000)]
    out += [base + timedelta(microseconds=rng.randrange(0, 400 * 86_400 * 10**6)) for _ in range(n)]
    return out


@pytest.mark.parametrize(("kind", "value"), VALUES)
def test_event_bytes_equal_the_contract_models_and_parse(
    kind: SensorKind, value: bool | str
) -> None:
    rng = random.Random(str(kind) + str(value))
    topic = topic_for("fleet-00042", "fleet-kit-00042", TopicKind.EVENTS)
    for moment in _moments(200, rng.randrange(10**6)):
        seq, epoch = rng.randrange(1, 2**40), rng.randrange(1, 2**62)
        sensor = rng.choice(["pir-bed", "door-front", "help", "fall-bath", "a_1"])
        fast = event_payload("fleet-kit-00042", epoch, seq, sensor, kind, value, wire_time(moment))
        model = make_event(
            kit="fleet-kit-00042", epoch=epoch, seq=seq, sensor=sensor, kind=kind, value=value,
            ts=moment,
        )  # fmt: skip
        assert fast == encode(model)
        ref, parsed = parse_message(topic, fast)
        assert parsed == model
        assert ref.kit_id == "fleet-kit-00042"


def test_heartbeat_bytes_equal_the_contract_model_and_parse() -> None:
    rng = random.Random(7)
    topic = topic_for("fleet-00001", "fleet-kit-00001", TopicKind.HEARTBEAT)
    uptimes = [0.0, 1e-7, 12.0, 59.99999999, 0.1 + 0.2, 1e9, 3.5e-5]
    uptimes += [rng.uniform(0, 10**7) for _ in range(300)]
    for moment, uptime in zip(_moments(len(uptimes), 8), uptimes, strict=False):
        fast = heartbeat_payload("fleet-kit-00001", wire_time(moment), uptime, 3, 1)
        model = Heartbeat(
            v=PROTOCOL_VERSION, kit="fleet-kit-00001", ts=moment, uptime_s=uptime,
            outbox_depth=3, dropped=1,
        )  # fmt: skip
        assert fast == encode(model)
        assert parse_message(topic, fast)[1] == model


def test_vectorised_times_match_the_scalar_format() -> None:
    moments = _moments(500, 9)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    micros = np.array([(m - epoch) // timedelta(microseconds=1) for m in moments], dtype=np.int64)
    assert wire_times(micros) == [wire_time(m) for m in moments]


def test_a_value_that_would_need_escaping_is_refused() -> None:
    with pytest.raises(ValueError, match="escaping"):
        event_payload("k", 1, 1, "s", SensorKind.DOOR, 'op"en', "2026-03-02T03:00:00Z")
