"""The wire contract accepts what it promises and rejects the rest with the right reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mehr.contract import (
    MAX_PAYLOAD_BYTES,
    URGENT_EVENT_KINDS,
    AccelWindow,
    ContractError,
    RejectReason,
    SensorKind,
    TopicKind,
    encode,
    event_topic,
    make_event,
    parse_message,
    parse_topic,
    subscriptions_for_hub,
    topic_for,
    urgent_lane_subscriptions,
)

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
TOPIC = topic_for("home-1", "kit-1", TopicKind.EVENTS)


def _event(**changes: object) -> bytes:
    body = json.loads(
        encode(
            make_event(
                kit="kit-1",
                epoch=5,
                seq=1,
                sensor="pir",
                kind=SensorKind.MOTION,
                value=True,
                ts=T0,
            )
        )
    )
    body.update(changes)
    return json.dumps(body).encode()


def _reason(topic: str, payload: bytes) -> RejectReason:
    with pytest.raises(ContractError) as info:
        parse_message(topic, payload)
    return info.value.reason


def test_an_event_round_trips_through_the_wire() -> None:
    ref, message = parse_message(TOPIC, _event())
    assert (ref.home_id, ref.kit_id, ref.kind) == ("home-1", "kit-1", TopicKind.EVENTS)
    assert message.kind is SensorKind.MOTION and message.value is True
    assert message.ts == T0


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("door", "open"),
        ("door", "closed"),
        ("help_button", "pressed"),
        ("fall", "detected"),
        ("temperature", 21.5),
        ("battery", 80),
    ],
)
def test_each_kind_takes_its_own_value(kind: str, value: object) -> None:
    _, message = parse_message(TOPIC, _event(kind=kind, value=value))
    assert message.kind.value == kind


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"v": 2}, RejectReason.VERSION),
        ({"colour": "red"}, RejectReason.UNKNOWN_FIELD),
        ({"kind": "smoke"}, RejectReason.UNKNOWN_KIND),
        ({"kind": "door", "value": True}, RejectReason.INVALID),
        ({"kind": "battery", "value": 140}, RejectReason.INVALID),
        ({"seq": 0}, RejectReason.INVALID),
        ({"ts": "2026-11-23T11:00:00+05:00"}, RejectReason.INVALID),
        ({"ts": "2026-11-23T06:00:00"}, RejectReason.INVALID),
        ({"kit": "kit-2"}, RejectReason.KIT_MISMATCH),
    ],
)
def test_bad_events_are_rejected_with_their_reason(
    changes: dict[str, object], reason: RejectReason
) -> None:
    assert _reason(TOPIC, _event(**changes)) is reason


def test_oversized_payload_is_rejected_before_parsing() -> None:
    big = b"{" + b" " * MAX_PAYLOAD_BYTES[TopicKind.EVENTS] + b"}"
    assert _reason(TOPIC, big) is RejectReason.TOO_LARGE


@pytest.mark.parametrize("payload", [b"", b"\xff\xfe", b"{", b"[1,2]", b"null", b'"x"'])
def test_non_objects_are_rejected(payload: bytes) -> None:
    assert _reason(TOPIC, payload) in {RejectReason.NOT_JSON, RejectReason.INVALID}


@pytest.mark.parametrize(
    "topic",
    [
        "mehr/v1/homes/home-1/kits/kit-1",
        "mehr/v2/homes/home-1/kits/kit-1/events",
        "mehr/v1/homes/Home 1/kits/kit-1/events",
        "mehr/v1/homes/home-1/kits/kit-1/smoke",
        "mehr/v1/homes/home-1/sensors/kit-1/events",
        "",
    ],
)
def test_foreign_topics_are_rejected(topic: str) -> None:
    with pytest.raises(ContractError) as info:
        parse_topic(topic)
    assert info.value.reason is RejectReason.TOPIC


def test_accel_window_trigger_must_point_inside_the_samples() -> None:
    body = {
        "v": 1,
        "kit": "kit-1",
        "epoch": 1,
        "seq": 3,
        "sensor": "pendant",
        "kind": "accel_window",
        "ts": "2026-11-23T06:00:01Z",
        "rate_hz": 50,
        "start": "2026-11-23T06:00:00Z",
        "trigger_index": 2,
        "samples": [[0, 0, 1], [0, 0, 1]],
    }
    topic = topic_for("home-1", "kit-1", TopicKind.ACCEL)
    assert _reason(topic, json.dumps(body).encode()) is RejectReason.INVALID
    body["trigger_index"] = 1
    _, message = parse_message(topic, json.dumps(body).encode())
    assert isinstance(message, AccelWindow)


def test_hub_subscriptions_cover_kit_topics_but_not_commands() -> None:
    filters = subscriptions_for_hub()
    assert all(f.startswith("mehr/v1/homes/+/kits/+/") for f in filters)
    assert not any(f.endswith("commands") for f in filters)
    assert subscriptions_for_hub("hubs")[0].startswith("$share/hubs/")


def _urgent_event(kind: SensorKind, value: object) -> bytes:
    return json.dumps(
        {"v": 1, "kit": "kit-1", "epoch": 5, "seq": 9, "sensor": "s", "kind": kind.value,
         "value": value, "ts": "2026-11-23T06:00:00Z"}
    ).encode()  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "value"),
    [(SensorKind.HELP_BUTTON, "pressed"), (SensorKind.OK_BUTTON, "pressed"),
     (SensorKind.FALL, "detected")],
)  # fmt: skip
def test_help_ok_and_fall_travel_on_urgent(kind: SensorKind, value: object) -> None:
    assert event_topic(kind) is TopicKind.URGENT
    topic = topic_for("home-1", "kit-1", TopicKind.URGENT)
    _, message = parse_message(topic, _urgent_event(kind, value))
    assert getattr(message, "kind", None) is kind
    # Older kits send them on `events`: still accepted there.
    _, message = parse_message(TOPIC, _urgent_event(kind, value))
    assert getattr(message, "kind", None) is kind


@pytest.mark.parametrize(
    ("kind", "value"),
    [(SensorKind.MOTION, True), (SensorKind.DOOR, "open"), (SensorKind.OCCUPANCY, True),
     (SensorKind.TEMPERATURE, 21.5)],
)  # fmt: skip
def test_routine_events_are_refused_on_urgent(kind: SensorKind, value: object) -> None:
    assert event_topic(kind) is TopicKind.EVENTS
    topic = topic_for("home-1", "kit-1", TopicKind.URGENT)
    with pytest.raises(ContractError) as caught:
        parse_message(topic, _urgent_event(kind, value))
    assert caught.value.reason is RejectReason.TOPIC
    assert kind.value in str(caught.value)


def test_the_urgent_lane_reads_urgent_and_accel_and_no_routine_event() -> None:
    lane = urgent_lane_subscriptions()
    hub = subscriptions_for_hub()

    def heard_by(filters: list[str], kind: TopicKind) -> bool:
        topic = topic_for("home-1", "kit-1", kind)
        return any(mqtt.topic_matches_sub(f, topic) for f in filters)

    assert heard_by(lane, TopicKind.URGENT) and heard_by(lane, TopicKind.ACCEL)
    for kind in (TopicKind.EVENTS, TopicKind.HEARTBEAT, TopicKind.AVAILABILITY):
        assert not heard_by(lane, kind), kind
    # The main connection hears every kit topic, `urgent` included: the lane is a second way in.
    for kind in TopicKind:
        assert heard_by(hub, kind) is (kind is not TopicKind.COMMANDS), kind
    assert {k.value for k in URGENT_EVENT_KINDS} == {"help_button", "ok_button", "fall"}


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_anything_but_a_contract_error(payload: bytes) -> None:
    try:
        parse_message(TOPIC, payload)
    except ContractError as exc:
        assert exc.reason in set(RejectReason)


@pytest.mark.parametrize("kind", ["occupancy", "appliance"])
@pytest.mark.parametrize("value", [True, False])
def test_mats_and_appliances_take_a_json_boolean(kind: str, value: bool) -> None:
    _, message = parse_message(TOPIC, _event(kind=kind, value=value))
    assert message.kind.value == kind and message.value is value


@pytest.mark.parametrize("kind", ["occupancy", "appliance"])
@pytest.mark.parametrize("value", ["true", 1, 0, "on", None])
def test_mats_and_appliances_refuse_anything_but_a_boolean(kind: str, value: object) -> None:
    # A mat is a digital input: a kit that sends "true" or 1 has a bug the hub must not paper over.
    assert _reason(TOPIC, _event(kind=kind, value=value)) is RejectReason.INVALID
