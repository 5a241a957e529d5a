"""Wire contract v1: every MQTT topic and payload of Mehr is built and parsed here, nowhere else.

Edge kits, the hub and the simulators all import this module; it imports nothing of the project
and nothing heavier than pydantic, so a Raspberry Pi can use it without the hub's stack.
See docs/protocol.md for the human-readable version (its examples are tested against this file).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import accumulate
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

__all__ = [
    "ACCEL_MAX_G",
    "ACCEL_MAX_SAMPLES",
    "ID_PATTERN",
    "MAX_JSON_DEPTH",
    "MAX_NUMBER_CHARS",
    "MAX_PAYLOAD_BYTES",
    "PROTOCOL_VERSION",
    "QOS",
    "TOPIC_ROOT",
    "URGENT_EVENT_KINDS",
    "WIRE_TIME_MAX",
    "WIRE_TIME_MIN",
    "AccelWindow",
    "ApplianceEvent",
    "Availability",
    "AvailabilityState",
    "BatteryEvent",
    "Command",
    "CommandAction",
    "ContractError",
    "DoorEvent",
    "Event",
    "FallEvent",
    "Heartbeat",
    "HelpButtonEvent",
    "Message",
    "MotionEvent",
    "OccupancyEvent",
    "OkButtonEvent",
    "RejectReason",
    "SensorKind",
    "TemperatureEvent",
    "TopicKind",
    "TopicRef",
    "availability_offline_payload",
    "check_json_shape",
    "encode",
    "event_topic",
    "loads",
    "make_event",
    "parse_message",
    "parse_topic",
    "subscriptions_for_hub",
    "topic_for",
    "urgent_lane_subscriptions",
    "utc_now",
    "validate_id",
]

PROTOCOL_VERSION: Final = 1
TOPIC_ROOT: Final = "mehr/v1/homes"
# Everything that matters travels at QoS 1: at least once, made exactly-once by (kit, epoch, seq).
QOS: Final = 1

# Ids become topic levels and broker user names: no '/', '+', '#', spaces or upper case.
ID_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class TopicKind(StrEnum):
    """The last level of a kit's topic: what the message on it is."""

    EVENTS = "events"
    # Help, "I'm OK" and fall events (URGENT_EVENT_KINDS), apart from the routine ones: the
    # hub's urgent lane subscribes to this topic and accel only, so the broker queues them
    # behind no routine backlog and the lane is not sent a copy of every motion event.
    URGENT = "urgent"
    ACCEL = "accel"
    HEARTBEAT = "heartbeat"
    AVAILABILITY = "availability"
    COMMANDS = "commands"


# Size limits per topic, checked before any parsing. An accelerometer window of 12 s at 50 Hz
# with three axes in 4-decimal JSON is about 25 KB; 64 KiB leaves room for 100 Hz windows.
MAX_PAYLOAD_BYTES: Final[dict[TopicKind, int]] = {
    TopicKind.EVENTS: 2048,
    TopicKind.URGENT: 2048,
    TopicKind.ACCEL: 65536,
    TopicKind.HEARTBEAT: 8192,
    TopicKind.AVAILABILITY: 512,
    TopicKind.COMMANDS: 4096,
}
ACCEL_MAX_SAMPLES: Final = 4000
# Bounds checked on the raw bytes before the JSON parser sees them: no Mehr payload nests deeper
# than 3 ([[x, y, z], ...] inside an object), and no honest number needs more than 32 characters
# (a float's shortest repr is at most 24). Deeper nesting or longer numbers only come from a
# broken or hostile sender, and would cost the parser recursion or big-integer arithmetic.
MAX_JSON_DEPTH: Final = 8
MAX_NUMBER_CHARS: Final = 32
# An accelerometer sample beyond 64 g is not a body falling: the sensor or the sender is broken.
ACCEL_MAX_G: Final = 64.0
# Timestamps outside this window are not a kit's clock but garbage; the hub adds its own, much
# tighter, skew and age rules against its clock (hub/ingest.py).
WIRE_TIME_MIN: Final = datetime(2020, 1, 1, tzinfo=UTC)
WIRE_TIME_MAX: Final = datetime(2100, 1, 1, tzinfo=UTC)
# A kit reports at most this many sensors in one heartbeat.
HEARTBEAT_MAX_SENSORS: Final = 64


class RejectReason(StrEnum):
    """Why a message was not accepted; the hub counts rejects by these names."""

    TOPIC = "bad_topic"
    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    VERSION = "unsupported_version"
    UNKNOWN_FIELD = "unknown_field"
    UNKNOWN_KIND = "unknown_kind"
    INVALID = "invalid_payload"
    KIT_MISMATCH = "kit_mismatch"
    TOO_DEEP = "too_deep"
    NUMBER_TOO_LONG = "number_too_long"
    NOT_FINITE = "not_finite"
    # The following are decided by the hub against its registry and its clock, not by the
    # contract.
    UNKNOWN_KIT = "unknown_kit"
    HOME_MISMATCH = "home_mismatch"
    UNKNOWN_SENSOR = "unknown_sensor"
    CLOCK_AHEAD = "clock_ahead"
    TOO_OLD = "too_old"
    # The store refused this one message (the rest of its batch was stored without it).
    STORE_FAILED = "store_failed"
    # Anything else that went wrong with one message; never stops the others.
    INTERNAL = "internal_error"


class ContractError(ValueError):
    """A message that does not follow the contract; `reason` is the counted category."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def validate_id(value: str, what: str = "id") -> str:
    """Return `value` if it is a valid home, kit or sensor id, else raise ValueError."""
    if not ID_PATTERN.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} must be 1-64 characters of a-z, 0-9, '-' or '_', "
            "starting with a letter or digit"
        )
    return value


@dataclass(frozen=True, slots=True)
class TopicRef:
    """A parsed topic: whose home, which kit, what kind of message."""

    home_id: str
    kit_id: str
    kind: TopicKind


def topic_for(home_id: str, kit_id: str, kind: TopicKind) -> str:
    """Build the topic for one kit's messages of one kind."""
    validate_id(home_id, "home id")
    validate_id(kit_id, "kit id")
    return f"{TOPIC_ROOT}/{home_id}/kits/{kit_id}/{kind.value}"


def parse_topic(topic: str) -> TopicRef:
    """Parse a topic built by `topic_for`, or raise ContractError(TOPIC)."""
    parts = topic.split("/")
    if len(parts) != 7 or "/".join(parts[:3]) != TOPIC_ROOT or parts[4] != "kits":
        raise ContractError(RejectReason.TOPIC, f"not a Mehr v1 kit topic: {topic[:200]!r}")
    home_id, kit_id, last = parts[3], parts[5], parts[6]
    try:
        validate_id(home_id, "home id")
        validate_id(kit_id, "kit id")
        kind = TopicKind(last)
    except ValueError as exc:
        raise ContractError(RejectReason.TOPIC, f"{exc} in topic {topic[:200]!r}") from None
    return TopicRef(home_id, kit_id, kind)


def urgent_lane_subscriptions(reads_events: bool = False) -> list[str]:
    """Topic filters of the hub's urgent lane: where help, "I'm OK" and fall events and
    accelerometer windows travel; with `reads_events`, also `events`, where kits from before the
    urgent topic (and MQTT 3.1.1 kits) send them (hub/triage.py picks them out)."""
    kinds = (TopicKind.URGENT, TopicKind.ACCEL) + ((TopicKind.EVENTS,) if reads_events else ())
    return [f"{TOPIC_ROOT}/+/kits/+/{kind.value}" for kind in kinds]


def subscriptions_for_hub(shared_group: str | None = None) -> list[str]:
    """Topic filters the hub subscribes to (optionally as an MQTT v5 shared subscription)."""
    filters = [
        f"{TOPIC_ROOT}/+/kits/+/{kind.value}"
        for kind in (
            TopicKind.EVENTS,
            TopicKind.URGENT,
            TopicKind.ACCEL,
            TopicKind.HEARTBEAT,
            TopicKind.AVAILABILITY,
        )
    ]
    if shared_group:
        filters = [f"$share/{shared_group}/{f}" for f in filters]
    return filters


def _utc(value: datetime) -> datetime:
    if value.utcoffset() != timedelta(0):
        raise ValueError("time must be UTC (end with 'Z' or '+00:00')")
    value = value.astimezone(UTC)
    if not WIRE_TIME_MIN <= value < WIRE_TIME_MAX:
        raise ValueError(
            f"time must lie between {WIRE_TIME_MIN.year} and {WIRE_TIME_MAX.year}, "
            f"got {value.isoformat()}"
        )
    return value


_ISO_UTC = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def _iso_string_only(value: object) -> object:
    # On the wire a time is an ISO 8601 string, never a number: pydantic would otherwise take an
    # integer (or a string of digits) as Unix seconds or milliseconds, which hides a kit's bug.
    # Python callers (the kit's own code) may pass a datetime.
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_UTC.fullmatch(value)):
        return value
    raise ValueError("time must be an ISO 8601 string in UTC, e.g. 2026-11-23T06:00:00Z")


UtcTime = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_string_only),
    AfterValidator(_utc),
    Field(description="A moment in UTC, ISO 8601 with 'Z', between 2020 and 2100."),
]
# Strict numbers: no booleans or strings for numbers, no NaN or Infinity, ranges per field.
Counter = Annotated[int, Field(strict=True, ge=0, lt=2**63)]
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
KitId = Annotated[str, Field(pattern=ID_PATTERN.pattern, description="The kit's id.")]
SensorId = Annotated[str, Field(pattern=ID_PATTERN.pattern, description="The sensor's id.")]


class _Payload(BaseModel):
    # Strict where it matters is set per field (numbers, booleans, times): whole-model strict
    # mode would also refuse JSON arrays for tuples and strings for enums.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)

    v: Literal[1] = Field(description="Protocol version of this payload.")


class SensorKind(StrEnum):
    """What a sensor is; decides the type of an event's value."""

    MOTION = "motion"
    DOOR = "door"
    HELP_BUTTON = "help_button"
    OK_BUTTON = "ok_button"
    FALL = "fall"
    ACCEL_WINDOW = "accel_window"
    TEMPERATURE = "temperature"
    BATTERY = "battery"
    OCCUPANCY = "occupancy"
    APPLIANCE = "appliance"


# The event kinds a person's safety hangs on at once: published on TopicKind.URGENT.
URGENT_EVENT_KINDS: Final = frozenset(
    {SensorKind.HELP_BUTTON, SensorKind.OK_BUTTON, SensorKind.FALL}
)


def event_topic(kind: SensorKind) -> TopicKind:
    """The topic an event of this kind is published on: urgent ones apart from the rest."""
    return TopicKind.URGENT if kind in URGENT_EVENT_KINDS else TopicKind.EVENTS


class _SequencedPayload(_Payload):
    kit: KitId
    epoch: int = Field(
        strict=True,
        ge=1,
        lt=2**63,
        description="Identifies the kit's outbox database; changes when the kit's disk is "
        "re-created, so a restarted sequence is never mistaken for duplicates.",
    )
    seq: int = Field(
        strict=True, ge=1, lt=2**63, description="Per-kit sequence number, kept on the kit's disk."
    )
    sensor: SensorId
    ts: UtcTime = Field(description="When it happened, by the kit's clock, UTC.")


class MotionEvent(_SequencedPayload):
    kind: Literal[SensorKind.MOTION]
    value: bool = Field(strict=True, description="true: motion started; false: motion ended.")


class DoorEvent(_SequencedPayload):
    kind: Literal[SensorKind.DOOR]
    value: Literal["open", "closed"]


class HelpButtonEvent(_SequencedPayload):
    kind: Literal[SensorKind.HELP_BUTTON]
    value: Literal["pressed"]


class OkButtonEvent(_SequencedPayload):
    kind: Literal[SensorKind.OK_BUTTON]
    value: Literal["pressed"] = Field(
        description='The resident answered the kit\'s question ("are you OK?") with the '
        "I'm OK button; the hub cancels alerts that were waiting for this answer."
    )


class FallEvent(_SequencedPayload):
    kind: Literal[SensorKind.FALL]
    value: Literal["detected", "cleared"] = Field(
        description="A digital fall sensor's alarm output (radar, pendant receiver)."
    )


class TemperatureEvent(_SequencedPayload):
    kind: Literal[SensorKind.TEMPERATURE]
    value: Finite = Field(ge=-40, le=85, description="Degrees Celsius.")


class BatteryEvent(_SequencedPayload):
    kind: Literal[SensorKind.BATTERY]
    value: Finite = Field(ge=0, le=100, description="Percent of charge.")


class OccupancyEvent(_SequencedPayload):
    """A chair or bed pressure mat: someone sitting or lying there is a resident, not a silence."""

    kind: Literal[SensorKind.OCCUPANCY]
    # Strict: a mat is a digital input, so "true"/1 from a sloppy kit is rejected, not coerced.
    value: Annotated[bool, Field(strict=True)] = Field(
        description="true: someone is on the mat (sitting or lying); false: the mat is empty."
    )


class ApplianceEvent(_SequencedPayload):
    """An appliance or toilet-flush signal (current sensor, float switch): a sign of life."""

    kind: Literal[SensorKind.APPLIANCE]
    value: Annotated[bool, Field(strict=True)] = Field(
        description="true: the appliance is in use, or the toilet was flushed; false: it stopped."
    )


# The public name for any sensor event model.
Event = (
    MotionEvent
    | DoorEvent
    | HelpButtonEvent
    | OkButtonEvent
    | FallEvent
    | TemperatureEvent
    | BatteryEvent
    | OccupancyEvent
    | ApplianceEvent
)
_EVENT_ADAPTER: Final = TypeAdapter(Annotated[Event, Field(discriminator="kind")])
EVENT_KINDS: Final = frozenset(
    {
        SensorKind.MOTION,
        SensorKind.DOOR,
        SensorKind.HELP_BUTTON,
        SensorKind.OK_BUTTON,
        SensorKind.FALL,
        SensorKind.TEMPERATURE,
        SensorKind.BATTERY,
        SensorKind.OCCUPANCY,
        SensorKind.APPLIANCE,
    }
)


def make_event(
    *,
    kit: str,
    epoch: int,
    seq: int,
    sensor: str,
    kind: SensorKind,
    value: bool | float | str,
    ts: datetime,
) -> Event:
    """Build a validated sensor event (the kind decides which value is allowed)."""
    data = {
        "v": PROTOCOL_VERSION,
        "kit": kit,
        "epoch": epoch,
        "seq": seq,
        "sensor": sensor,
        "kind": kind.value,
        "value": value,
        "ts": ts,
    }
    try:
        return _EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise ContractError(_reason_for(exc), _describe(exc)) from None


AccelG = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-ACCEL_MAX_G, le=ACCEL_MAX_G)]


class AccelWindow(_SequencedPayload):
    """Accelerometer samples around an impact the kit detected cheaply; the hub decides."""

    kind: Literal[SensorKind.ACCEL_WINDOW] = SensorKind.ACCEL_WINDOW
    rate_hz: Finite = Field(gt=0, le=1000, description="Sampling rate of `samples`.")
    start: UtcTime = Field(description="Time of the first sample, UTC.")
    trigger_index: int = Field(
        strict=True,
        ge=0,
        lt=ACCEL_MAX_SAMPLES,
        description="Index of the sample that triggered the kit.",
    )
    samples: list[tuple[AccelG, AccelG, AccelG]] = Field(
        min_length=1,
        max_length=ACCEL_MAX_SAMPLES,
        description="x, y, z acceleration in g, one row per sample.",
    )

    @model_validator(mode="after")
    def _trigger_inside(self) -> AccelWindow:
        if self.trigger_index >= len(self.samples):
            raise ValueError("trigger_index must point inside samples")
        return self


class Heartbeat(_Payload):
    """A kit's health, every 60 s; the newest one wins, so it has no sequence number."""

    kit: KitId
    ts: UtcTime
    uptime_s: Finite = Field(ge=0, le=1e10, description="Seconds since the agent started.")
    outbox_depth: Counter = Field(description="Events waiting on the kit's disk.")
    dropped: Counter = Field(description="Routine events the full outbox had to drop.")
    clock_offset_s: Finite | None = Field(
        default=None,
        ge=-1e9,
        le=1e9,
        description="Kit clock minus NTP time, when known.",
    )
    cpu_temp_c: Finite | None = Field(default=None, ge=-60, le=150)
    sensors: dict[SensorId, UtcTime | None] = Field(
        default_factory=dict,
        max_length=HEARTBEAT_MAX_SENSORS,
        description="Each sensor's last signal (None: never).",
    )
    # Additive: absent (None) unless a wireless sensor is unreachable, so kits with no such
    # sensor send exactly what older hubs accept.
    unavailable: list[SensorId] | None = Field(
        default=None,
        max_length=256,
        description="Sensors the kit knows are unreachable right now (a Zigbee device its "
        "coordinator reports offline, or the Zigbee2MQTT bridge itself being down).",
    )


class AvailabilityState(StrEnum):
    """Retained on the availability topic; `offline` is also the MQTT last will."""

    ONLINE = "online"
    OFFLINE = "offline"


class Availability(_Payload):
    """Retained availability of a kit (the broker publishes the offline will if it dies)."""

    kit: KitId
    state: AvailabilityState
    ts: UtcTime | None = Field(
        default=None, description="Set on birth; absent in the will, which is fixed at connect."
    )


class CommandAction(StrEnum):
    """What the hub asks a kit to do."""

    PING = "ping"
    ASK_OK = "ask_ok"
    CANCEL_ASK = "cancel_ask"
    BUZZ = "buzz"
    WALK_TEST = "walk_test"


class Command(_Payload):
    """Hub to kit."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    ts: UtcTime
    action: CommandAction
    params: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=32)


Message = Event | AccelWindow | Heartbeat | Availability | Command

_MODELS_BY_TOPIC: Final[dict[TopicKind, type[BaseModel] | TypeAdapter[Any]]] = {
    TopicKind.EVENTS: _EVENT_ADAPTER,
    TopicKind.URGENT: _EVENT_ADAPTER,
    TopicKind.ACCEL: AccelWindow,
    TopicKind.HEARTBEAT: Heartbeat,
    TopicKind.AVAILABILITY: Availability,
    TopicKind.COMMANDS: Command,
}


def _reason_for(exc: ValidationError) -> RejectReason:
    types = {err["type"] for err in exc.errors()}
    locs = {err["loc"][0] if err["loc"] else "" for err in exc.errors()}
    if "extra_forbidden" in types:
        return RejectReason.UNKNOWN_FIELD
    if "union_tag_invalid" in types or ("literal_error" in types and "kind" in locs):
        return RejectReason.UNKNOWN_KIND
    if "v" in locs:
        return RejectReason.VERSION
    if "finite_number" in types:
        return RejectReason.NOT_FINITE
    return RejectReason.INVALID


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "(payload)"
        parts.append(f"{loc[:80]}: {err['msg'][:200]}")
    return "; ".join(parts)


# A JSON string (with escapes) and a run of characters that can only be a number, both on bytes.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: 3x faster than (a|b)*
# Number characters become "1", all else " ": a number too long is then a plain substring test
# (a regex with a repeat count rescans every run from each of its positions: 20x slower here).
_NUMBER_CHARS = bytes(0x31 if chr(i) in "-+.0123456789eE" else 0x20 for i in range(256))
_LONG_NUMBER = b"1" * (MAX_NUMBER_CHARS + 1)
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def check_json_shape(payload: bytes) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH or a number longer than MAX_NUMBER_CHARS.

    Runs on the raw bytes before any parser: a parser given `[` x 999 recurses until Python's
    stack guard trips, and a 4,400-digit integer costs quadratic time to convert.
    """
    outside_strings = _JSON_STRING.sub(b'""', payload)
    if _LONG_NUMBER in outside_strings.translate(_NUMBER_CHARS):
        raise ContractError(
            RejectReason.NUMBER_TOO_LONG, f"a number longer than {MAX_NUMBER_CHARS} characters"
        )
    brackets = outside_strings.translate(None, _BRACKETS)
    # Each pass removes the innermost pairs, so depth <= n once n passes leave nothing (C-speed
    # bytes.replace: an accelerometer window has thousands of brackets, only 3 deep).
    for _ in range(MAX_JSON_DEPTH):
        if not brackets:
            return
        brackets = brackets.replace(b"[]", b"").replace(b"{}", b"")
    if not brackets:
        return
    # Deep or unbalanced: measure it (unbalanced JSON is left to the parser to refuse).
    depth = max(accumulate(_DEPTH_STEP[b] for b in outside_strings.translate(None, _BRACKETS)))
    if depth > MAX_JSON_DEPTH:
        raise ContractError(
            RejectReason.TOO_DEEP, f"JSON nested {depth} deep (limit {MAX_JSON_DEPTH})"
        )


def _refuse_constant(token: str) -> float:
    raise ContractError(RejectReason.NOT_FINITE, f"{token} is not a JSON number")


# Built once: json.loads with a hook would build a new decoder for every message.
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)


def loads(payload: bytes) -> Any:
    """Parse JSON bytes with the contract's bounds: depth, number size, finite numbers only."""
    check_json_shape(payload)
    try:
        # Numbers beyond a float's range (1e400) parse as inf; the models refuse them
        # (allow_inf_nan=False on every float), which is cheaper than a hook on every float.
        return _DECODER.decode(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(RejectReason.NOT_JSON, str(exc)[:200]) from None
    except RecursionError:  # cannot happen after check_json_shape; kept as a last guard
        raise ContractError(RejectReason.TOO_DEEP, "JSON nested too deep") from None


def parse_message(topic: str, payload: bytes) -> tuple[TopicRef, Message]:
    """Parse one MQTT message into its topic and payload model, or raise ContractError.

    Checks, in order: topic shape, size limit, JSON shape (depth, number size), JSON (finite
    numbers only), version, schema, and that the kit named in the payload is the kit of the
    topic (a kit may only speak for itself). Any other failure is a ContractError too.
    """
    ref = parse_topic(topic)
    limit = MAX_PAYLOAD_BYTES[ref.kind]
    if len(payload) > limit:
        raise ContractError(
            RejectReason.TOO_LARGE, f"{len(payload)} bytes on {ref.kind.value} (limit {limit})"
        )
    data = loads(payload)
    if not isinstance(data, dict):
        raise ContractError(RejectReason.INVALID, "payload must be a JSON object")
    version = data.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ContractError(
            RejectReason.VERSION, f"v={str(version)[:40]!r}, this hub speaks v{PROTOCOL_VERSION}"
        )
    model = _MODELS_BY_TOPIC[ref.kind]
    try:
        if isinstance(model, TypeAdapter):
            message = model.validate_python(data)
        else:
            message = model.model_validate(data)
    except ValidationError as exc:
        raise ContractError(_reason_for(exc), _describe(exc)) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # pydantic wraps validator errors; anything escaping it is still this message's fault.
        raise ContractError(RejectReason.INVALID, f"{type(exc).__name__}: {exc}"[:200]) from None
    if ref.kind is TopicKind.URGENT and getattr(message, "kind", None) not in URGENT_EVENT_KINDS:
        # The urgent lane carries only what cannot wait: routine traffic here would queue in
        # front of a help press again.
        raise ContractError(
            RejectReason.TOPIC,
            f"a {getattr(message, 'kind', '?')} event does not belong on the urgent topic",
        )
    kit = getattr(message, "kit", None)
    if kit is not None and kit != ref.kit_id:
        raise ContractError(
            RejectReason.KIT_MISMATCH, f"payload kit {kit!r} on topic of kit {ref.kit_id!r}"
        )
    return ref, message


def encode(message: BaseModel) -> bytes:
    """Serialise a payload model to the compact JSON that goes on the wire."""
    return message.model_dump_json(exclude_none=True).encode()


def availability_offline_payload(kit_id: str) -> bytes:
    """The retained last-will payload a kit registers when it connects."""
    return encode(Availability(v=PROTOCOL_VERSION, kit=kit_id, state=AvailabilityState.OFFLINE))


def utc_now() -> datetime:
    """Current time in UTC; only for callers that have no injected clock (the CLI)."""
    return datetime.now(UTC)
