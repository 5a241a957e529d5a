"""Small builders for hub tests: a registered home, raw messages in wire form."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hub.ingest import RawMessage
from mehr.contract import SensorKind, TopicKind, encode, make_event, topic_for
from mehr_app.services.homes import home_spec

__all__ = ["T0", "event_bytes", "home_spec", "raw", "raw_event"]

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


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
