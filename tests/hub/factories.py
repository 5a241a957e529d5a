"""Small builders for hub tests: a registered home, raw messages in wire form."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hub.ingest import RawMessage
from hub.registry import HomeSpec, KitSpec, SensorSpec
from mehr.contract import SensorKind, TopicKind, encode, make_event, topic_for

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def home_spec(home_id: str = "home-1", kit_id: str = "kit-1") -> HomeSpec:
    """A home with one kit: motion in two rooms, a front door and a help button."""
    return HomeSpec(
        id=home_id,
        name=f"Resident of {home_id}",
        mahalla="Navbahor",
        kits=[
            KitSpec(
                id=kit_id,
                sensors=[
                    SensorSpec(id="pir-kitchen", kind=SensorKind.MOTION, room="Kitchen"),
                    SensorSpec(id="pir-bath", kind=SensorKind.MOTION, room="Bathroom"),
                    SensorSpec(id="door-front", kind=SensorKind.DOOR, room="Hallway"),
                    SensorSpec(id="help", kind=SensorKind.HELP_BUTTON, room="Bedroom"),
                    SensorSpec(id="fall-radar", kind=SensorKind.FALL, room="Bathroom"),
                ],
            )
        ],
    )


def event_bytes(
    seq: int,
    *,
    kit: str = "kit-1",
    epoch: int = 1,
    sensor: str = "pir-kitchen",
    kind: SensorKind = SensorKind.MOTION,
    value: bool | float | str = True,
    ts: datetime = T0,
) -> bytes:
    """One event as it travels on the wire."""
    return encode(
        make_event(kit=kit, epoch=epoch, seq=seq, sensor=sensor, kind=kind, value=value, ts=ts)
    )


def raw_event(seq: int, home: str = "home-1", kit: str = "kit-1", **kw: object) -> RawMessage:
    """A raw message as the broker would hand it to the hub."""
    return RawMessage(
        topic=topic_for(home, kit, TopicKind.EVENTS),
        payload=event_bytes(seq, kit=kit, **kw),  # type: ignore[arg-type]
        received_at=T0,
    )


def raw(topic: str, body: object) -> RawMessage:
    """A raw message with any JSON body (or bytes)."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RawMessage(topic=topic, payload=payload, received_at=T0)
