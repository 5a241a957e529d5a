"""Hostile payloads on every kit topic: the contract either returns a sane message or raises
ContractError, never anything else (findings 1 and 6 of issue #10)."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mehr.contract import (
    WIRE_TIME_MAX,
    WIRE_TIME_MIN,
    AccelWindow,
    Availability,
    ContractError,
    Heartbeat,
    Message,
    MotionEvent,
    RejectReason,
    TopicKind,
    encode,
    parse_message,
    topic_for,
)
from simulators.hostile import HOSTILE_TOPIC_KINDS, hostile_payload, valid_body, wire_time

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
_DEEP = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=30,
)


def _topic(kind: TopicKind) -> str:
    return topic_for("home-1", "kit-1", kind)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def assert_sane(message: Message) -> None:
    """What any accepted message must satisfy, whatever it was built from."""
    fields = message.model_dump()
    assert _finite(fields), fields
    for name in ("ts", "start"):
        moment = fields.get(name)
        if moment is not None:
            assert WIRE_TIME_MIN <= moment < WIRE_TIME_MAX
    for name in ("epoch", "seq", "outbox_depth", "dropped", "trigger_index"):
        if name in fields:
            assert type(fields[name]) is int and 0 <= fields[name] < 2**63
    if isinstance(message, MotionEvent):
        assert type(message.value) is bool
    if isinstance(message, AccelWindow):
        assert all(abs(g) <= 64 for row in message.samples for g in row)
    if isinstance(message, Heartbeat):
        assert 0 <= message.uptime_s <= 1e10 and len(message.sensors) <= 64
    # What was accepted survives the trip back onto the wire unchanged.
    kind = {
        AccelWindow: TopicKind.ACCEL,
        Heartbeat: TopicKind.HEARTBEAT,
        Availability: TopicKind.AVAILABILITY,
    }.get(type(message), TopicKind.EVENTS)
    assert parse_message(_topic(kind), encode(message))[1] == message


def _parse_or_reject(kind: TopicKind, payload: bytes) -> Message | None:
    try:
        _, message = parse_message(_topic(kind), payload)
    except ContractError as exc:
        assert exc.reason in set(RejectReason)
        return None
    return message


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(HOSTILE_TOPIC_KINDS), rng=st.randoms(use_true_random=False))
def test_hostile_payloads_only_ever_raise_contract_errors(
    kind: TopicKind, rng: random.Random
) -> None:
    _, payload = hostile_payload(kind, "kit-1", 1, NOW, rng)
    message = _parse_or_reject(kind, payload)
    if message is not None:
        assert_sane(message)


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(HOSTILE_TOPIC_KINDS),
    rng=st.randoms(use_true_random=False),
    value=_DEEP,
)
def test_any_json_value_in_any_field_is_accepted_sanely_or_rejected(
    kind: TopicKind, rng: random.Random, value: Any
) -> None:
    body = valid_body(kind, "kit-1", 1, NOW, rng)
    body[rng.choice(list(body))] = value
    message = _parse_or_reject(kind, json.dumps(body).encode())
    if message is not None:
        assert_sane(message)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(HOSTILE_TOPIC_KINDS), payload=st.binary(max_size=300))
def test_arbitrary_bytes_are_rejected_not_crashed_on(kind: TopicKind, payload: bytes) -> None:
    message = _parse_or_reject(kind, payload)
    if message is not None:
        assert_sane(message)


@pytest.mark.parametrize(
    ("kind", "payload", "reason"),
    [
        (TopicKind.EVENTS, b"[" * 999 + b"]" * 999, RejectReason.TOO_DEEP),
        (TopicKind.HEARTBEAT, b'{"a":' * 400 + b"1" + b"}" * 400, RejectReason.TOO_DEEP),
        (TopicKind.HEARTBEAT, None, RejectReason.NUMBER_TOO_LONG),
        (TopicKind.EVENTS, None, RejectReason.NOT_FINITE),
    ],
    ids=["brackets-999", "objects-400", "uptime-4400-digits", "nan-temperature"],
)
def test_the_issue_10_poison_payloads_are_contract_rejects(
    kind: TopicKind, payload: bytes | None, reason: RejectReason
) -> None:
    rng = random.Random(1)
    if payload is None and kind is TopicKind.HEARTBEAT:
        body = json.dumps(valid_body(kind, "kit-1", 1, NOW, rng)).encode()
        payload = body.replace(b'"uptime_s": 12.5', b'"uptime_s": ' + b"7" * 4400)
    elif payload is None:
        body = {**valid_body(kind, "kit-1", 1, NOW, rng), "kind": "temperature", "value": 0}
        payload = json.dumps(body).encode().replace(b'"value": 0', b'"value": NaN')
    with pytest.raises(ContractError) as info:
        parse_message(_topic(kind), payload)
    assert info.value.reason is reason


def _event(**changes: Any) -> bytes:
    body = valid_body(TopicKind.EVENTS, "kit-1", 1, NOW, random.Random(0))
    body.update({"sensor": "pir", "kind": "motion", "value": True, **changes})
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "changes",
    [
        {"value": 1},
        {"value": "yes"},
        {"value": "true"},
        {"kind": "door", "value": "OPEN"},
        {"kind": "temperature", "value": True},
        {"kind": "temperature", "value": "21.5"},
        {"kind": "battery", "value": 1e308},
        {"seq": 1.0},
        {"seq": "1"},
        {"seq": True},
        {"epoch": 10**300},
        {"ts": 1764396000},
        {"ts": "1764396000"},
        {"ts": "0001-01-01T00:00:00Z"},
        {"ts": "9999-12-31T23:59:59Z"},
        {"ts": "2019-12-31T23:59:59Z"},
    ],
    ids=lambda c: repr(c)[:40],
)
def test_loose_values_of_finding_6_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ContractError) as info:
        parse_message(_topic(TopicKind.EVENTS), _event(**changes))
    assert info.value.reason in {
        RejectReason.INVALID, RejectReason.NOT_FINITE, RejectReason.NUMBER_TOO_LONG
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"outbox_depth": 10**300},
        {"outbox_depth": -1},
        {"dropped": 2.5},
        {"uptime_s": 1e300},
        {"cpu_temp_c": 1000},
        {"sensors": {f"s{i}": wire_time(NOW) for i in range(65)}},
        {"sensors": {"pir": 1764396000}},
    ],
    ids=lambda c: repr(c)[:40],
)
def test_heartbeat_counters_and_sizes_are_bounded(changes: dict[str, Any]) -> None:
    body = {**valid_body(TopicKind.HEARTBEAT, "kit-1", 1, NOW, random.Random(0)), **changes}
    with pytest.raises(ContractError):
        parse_message(_topic(TopicKind.HEARTBEAT), json.dumps(body).encode())


def test_an_accelerometer_sample_beyond_64_g_is_rejected() -> None:
    body = valid_body(TopicKind.ACCEL, "kit-1", 1, NOW, random.Random(0))
    body["samples"] = [[0.0, 0.0, 1.0], [0.0, 65.0, 1.0]]
    with pytest.raises(ContractError):
        parse_message(_topic(TopicKind.ACCEL), json.dumps(body).encode())
    body["samples"] = [[0.0, 0.0, 1.0], [0.0, 63.9, -64.0]]
    assert parse_message(_topic(TopicKind.ACCEL), json.dumps(body).encode())
