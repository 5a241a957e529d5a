"""A hostile or broken kit: payloads for every kit topic that a hub must reject without harm.

Used by the hypothesis tests (with a Random that hypothesis drives) and by bench/fuzz.py (with a
seeded Random, for volume). Each payload is what a faulty kit or an attacker holding a kit's
credentials could publish: deep nesting, huge numbers, NaN/Infinity tokens, wrong types, bad
timestamps, odd unicode, payloads at and over the size limits, fields missing or added.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from mehr.contract import ACCEL_MAX_SAMPLES, MAX_PAYLOAD_BYTES, TopicKind

__all__ = [
    "HOSTILE_TOPIC_KINDS",
    "STYLES",
    "hostile_payload",
    "valid_body",
    "wire_time",
]

# The topics a kit may publish on and the hub reads.
HOSTILE_TOPIC_KINDS: Final = (
    TopicKind.EVENTS,
    TopicKind.URGENT,
    TopicKind.ACCEL,
    TopicKind.HEARTBEAT,
    TopicKind.AVAILABILITY,
)

_RAW = "\x00raw\x00"  # placeholder replaced by raw JSON bytes that json.dumps cannot produce

# JSON fragments no honest encoder writes: non-finite tokens, numbers beyond any range, deep
# nesting, lone surrogates, leading zeros and hex.
RAW_TOKENS: Final[tuple[bytes, ...]] = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e400",
    b"-1e400",
    b"9" * 4400,
    b"1" + b"0" * 300,
    b"0." + b"1" * 200,
    b"[" * 999 + b"]" * 999,
    b"{" + b'"a":{' * 200 + b"}" * 201,
    b"[" * 9 + b"1" + b"]" * 9,
    b'"\\ud800"',
    b"01",
    b"0x10",
    b"1_000",
    b"+1",
    b".5",
    b"tru",
    b"nul",
)

# Values json.dumps can write that are still wrong somewhere: types, ranges, sizes.
HOSTILE_VALUES: Final[tuple[Any, ...]] = (
    None,
    True,
    False,
    0,
    1,
    -1,
    2**63,
    2**64 + 1,
    10**300,
    -(10**30),
    1.5,
    -0.0,
    1e308,
    -1e308,
    5e-324,
    "",
    "yes",
    "true",
    "1",
    "NaN",
    "Infinity",
    "pressed ",
    "PRESSED",
    "open\u0000",
    "o\u0307pen",
    "\u202eneppo",
    "😀" * 40,
    "ʻoʻgʻ",
    "a" * 3000,
    "../../etc/passwd",
    "'; DROP TABLE events; --",
    "<script>alert(1)</script>",
    [],
    [1, 2, 3],
    [[1.0, 2.0]],
    {},
    {"v": 1},
)

BAD_TIMES: Final[tuple[Any, ...]] = (
    1764396000,
    1764396000000,
    1764396000.5,
    "1764396000",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2019-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2099-06-01T00:00:00Z",
    "2026-11-23T06:00:00",
    "2026-11-23T11:00:00+05:00",
    "2026-13-45T25:61:61Z",
    "2026-11-23",
    "06:00:00Z",
    "yesterday",
    "2026-11-23T06:00:00.1234567890123456789Z",
    "２０２６-11-23T06:00:00Z",
    "",
)


def wire_time(moment: datetime) -> str:
    """A UTC moment as the contract writes it."""
    return moment.isoformat().replace("+00:00", "Z")


def valid_body(
    kind: TopicKind, kit: str, seq: int, now: datetime, rng: random.Random
) -> dict[str, Any]:
    """A valid payload for one topic kind, stamped `now`."""
    ts = wire_time(now)
    if kind in (TopicKind.EVENTS, TopicKind.URGENT):
        choices: list[tuple[str, str, object]] = (
            [
                ("help", "help_button", "pressed"),
                ("ok", "ok_button", "pressed"),
                ("fall-radar", "fall", "cleared"),
            ]
            if kind is TopicKind.URGENT
            else [
                ("pir-kitchen", "motion", True),
                ("pir-bath", "motion", False),
                ("door-front", "door", "open"),
                ("door-front", "door", "closed"),
                ("fall-radar", "fall", "cleared"),
                ("temp", "temperature", 21.5),
                ("batt", "battery", 88),
            ]
        )
        sensor, event_kind, value = rng.choice(choices)
        return {
            "v": 1, "kit": kit, "epoch": 1, "seq": seq, "sensor": sensor,
            "kind": event_kind, "value": value, "ts": ts,
        }  # fmt: skip
    if kind is TopicKind.ACCEL:
        samples = [[0.0, 0.0, 1.0] for _ in range(rng.randint(1, 50))]
        return {
            "v": 1, "kit": kit, "epoch": 1, "seq": seq, "sensor": "pendant",
            "kind": "accel_window", "ts": ts, "rate_hz": 50, "start": ts,
            "trigger_index": 0, "samples": samples,
        }  # fmt: skip
    if kind is TopicKind.HEARTBEAT:
        return {
            "v": 1, "kit": kit, "ts": ts, "uptime_s": 12.5, "outbox_depth": 0, "dropped": 0,
            "clock_offset_s": 0.01, "cpu_temp_c": 48.0, "sensors": {"pir-kitchen": ts},
        }  # fmt: skip
    return {"v": 1, "kit": kit, "state": "online", "ts": ts}


def _dump(body: Any, raw: bytes | None = None) -> bytes:
    text = json.dumps(body, ensure_ascii=False).encode("utf-8", errors="surrogatepass")
    if raw is not None:
        text = text.replace(json.dumps(_RAW).encode(), raw, 1)
    return text


def _set_path(body: dict[str, Any], rng: random.Random, value: Any) -> None:
    """Put `value` at a random field (or inside a sample row, or a heartbeat's sensors)."""
    key = rng.choice(list(body))
    if key == "samples" and rng.random() < 0.7:
        row = rng.randrange(len(body["samples"]))
        body["samples"][row] = list(body["samples"][row])
        body["samples"][row][rng.randrange(3)] = value
    elif key == "sensors" and rng.random() < 0.7:
        body["sensors"] = {rng.choice(["pir-kitchen", "X", "a/b", "ʻ"]): value}
    else:
        body[key] = value


def _field_value(body: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    _set_path(body, rng, rng.choice(HOSTILE_VALUES))
    return _dump(body)


def _raw_token(body: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    _set_path(body, rng, _RAW)
    return _dump(body, rng.choice(RAW_TOKENS))


def _bad_time(body: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    keys = [k for k in ("ts", "start") if k in body] or ["ts"]
    body[rng.choice(keys)] = rng.choice(BAD_TIMES)
    return _dump(body)


def _skewed_time(body: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    shift = rng.choice([301, 3600, 35 * 3600, 400 * 86400, -31 * 86400, -5 * 365 * 86400])
    body["ts"] = wire_time(now + timedelta(seconds=shift))
    return _dump(body)


def _extra_or_missing(body: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    if rng.random() < 0.5:
        body[rng.choice(["extra", "V", "kit ", "__proto__", "ʻkit"])] = rng.choice(HOSTILE_VALUES)
    else:
        body.pop(rng.choice(list(body)))
    return _dump(body)


def _wrong_version_or_kit(body: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    if rng.random() < 0.5:
        body["v"] = rng.choice([0, 2, "1", 1.0, True, None, 10**40])
    else:
        body["kit"] = rng.choice(["kit-other", "KIT-1", "", "kit 1", "k" * 65])
    return _dump(body)


def _near_limit(body: dict[str, Any], rng: random.Random, now: datetime, kind: TopicKind) -> bytes:
    limit = MAX_PAYLOAD_BYTES[kind]
    if kind is TopicKind.ACCEL and rng.random() < 0.5:
        body["samples"] = [[0.0, 0.0, 1.0]] * rng.choice([ACCEL_MAX_SAMPLES, ACCEL_MAX_SAMPLES + 1])
        return _dump(body)
    base = len(_dump(body))
    pad = max(0, limit - base + rng.choice([-20, -1, 0, 1, 2, 500]))
    body["pad"] = "x" * pad
    return _dump(body)


_NOT_OBJECTS: Final = (b"", b"null", b"1", b'"x"', b"[]", b"true", b"\xff\xfe", b"\xef\xbb\xbf{}")


def _structure(body: dict[str, Any], rng: random.Random, now: datetime) -> bytes:
    text = _dump(body)
    shapes: list[Callable[[], bytes]] = [
        lambda: text[: rng.randrange(len(text))],  # truncated
        lambda: bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))),  # noise
        lambda: b"[" + text + b"]",
        lambda: text.replace(b"{", b'{"v":1,', 1),  # a duplicate key
        lambda: rng.choice(_NOT_OBJECTS),
        lambda: text.replace(b'"', b"'"),
        lambda: b" " * rng.randint(1, 100) + text + b"\n" * rng.randint(1, 100),
        lambda: text.decode("utf-8", "replace").encode("utf-16"),
    ]
    return rng.choice(shapes)()


_Mutator = Callable[[dict[str, Any], random.Random, datetime], bytes]
STYLES: Final[dict[str, _Mutator]] = {
    "field_value": _field_value,
    "raw_token": _raw_token,
    "bad_time": _bad_time,
    "skewed_time": _skewed_time,
    "extra_or_missing": _extra_or_missing,
    "version_or_kit": _wrong_version_or_kit,
    "structure": _structure,
}


def hostile_payload(
    kind: TopicKind, kit: str, seq: int, now: datetime, rng: random.Random
) -> tuple[str, bytes]:
    """One hostile payload for `kind`: returns (style, bytes)."""
    body = valid_body(kind, kit, seq, now, rng)
    styles = [*STYLES, "near_limit"]
    style = rng.choice(styles)
    if style == "near_limit":
        return style, _near_limit(body, rng, now, kind)
    return style, STYLES[style](body, rng, now)
