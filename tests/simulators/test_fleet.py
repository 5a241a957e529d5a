"""The fleet driver's messages follow the contract; every kit beats once a minute."""

from __future__ import annotations

from datetime import UTC, datetime

from mehr.contract import Heartbeat, parse_message
from simulators.fleet import Fleet


def test_fleet_slices_are_contract_messages_and_every_kit_beats() -> None:
    fleet = Fleet(200, "127.0.0.1", 1, connections=2, seed=3)
    sent: list[tuple[str, bytes]] = []
    fleet._send = lambda home, topic, payload: sent.append((topic, payload))  # type: ignore[method-assign]
    start = datetime(2026, 3, 2, 3, tzinfo=UTC)  # 08:00 in Tashkent
    events = beats = 0
    for i in range(10):
        e, b = fleet.slice(i * 6.0, (i + 1) * 6.0, start)
        events, beats = events + e, beats + b
    assert beats == 200  # 60 s played: one heartbeat per kit
    assert events > 100  # 200 awake residents for a minute
    kits_seen = set()
    seqs: dict[str, list[int]] = {}
    for topic, payload in sent:
        ref, msg = parse_message(topic, payload)
        kits_seen.add(ref.kit_id)
        if not isinstance(msg, Heartbeat):
            seqs.setdefault(ref.kit_id, []).append(msg.seq)
    assert len(kits_seen) == 200
    for values in seqs.values():
        assert values == list(range(1, len(values) + 1))
