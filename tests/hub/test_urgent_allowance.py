"""Each kit's allowance on the urgent path (hub/urgent_allowance.py): a burst, then a refill
rate; one kit spending its allowance leaves every other kit's untouched."""

from __future__ import annotations

import pytest

from hub import urgent_allowance
from hub.urgent_allowance import UrgentAllowance, kit_of_topic
from mehr.contract import TOPIC_ROOT, TopicKind, topic_for

KIT_1, KIT_2 = f"{TOPIC_ROOT}/home-1/kits/kit-1", f"{TOPIC_ROOT}/home-2/kits/kit-2"


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_kit_gets_its_burst_then_its_refill_rate() -> None:
    clock = _Clock()
    allowance = UrgentAllowance(burst=3, per_s=0.5, monotonic=clock)
    assert [allowance.take("kit-a") for _ in range(4)] == [True, True, True, False]
    clock.now += 1.0  # half a message refilled
    assert not allowance.take("kit-a")
    clock.now += 1.0
    assert allowance.take("kit-a")
    assert not allowance.take("kit-a")
    clock.now += 100.0  # refilled to the burst, never past it
    assert [allowance.take("kit-a") for _ in range(4)] == [True, True, True, False]


def test_one_kits_flood_leaves_the_others_allowance_alone() -> None:
    allowance = UrgentAllowance(burst=2, per_s=0.1, monotonic=_Clock())
    flooding = [allowance.take(KIT_1) for _ in range(50)]
    assert flooding.count(True) == 2
    assert allowance.take(KIT_2)
    assert allowance.take(KIT_2)


def test_the_kit_is_named_by_its_topic_whatever_it_sends() -> None:
    help_topic = topic_for("home-1", "kit-1", TopicKind.URGENT)
    accel_topic = topic_for("home-1", "kit-1", TopicKind.ACCEL)
    assert kit_of_topic(help_topic) == f"{TOPIC_ROOT}/home-1/kits/kit-1"
    assert kit_of_topic(accel_topic) == kit_of_topic(help_topic)
    assert kit_of_topic(topic_for("home-2", "kit-1", TopicKind.URGENT)) != kit_of_topic(help_topic)


def test_kits_whose_allowance_refilled_are_forgotten_and_flooding_ones_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(urgent_allowance, "_PRUNE_ABOVE", 4)
    clock = _Clock()
    allowance = UrgentAllowance(burst=2, per_s=1.0, monotonic=clock)
    for _ in range(3):
        allowance.take("flooding")  # out of allowance
    for n in range(3):
        allowance.take(f"quiet-{n}")  # one message each
    assert allowance.kits_tracked() == 4
    clock.now += 1.0  # the quiet kits have refilled; the flooding one goes on
    assert allowance.take("flooding")
    assert allowance.take("new")  # the fifth kit: the table is pruned
    assert allowance.kits_tracked() == 2  # the flooding kit and the new one
    assert not allowance.take("flooding")  # forgetting others gave it nothing back


def test_a_zero_allowance_is_refused() -> None:
    with pytest.raises(ValueError, match="burst must be >= 1"):
        UrgentAllowance(burst=0, per_s=1.0)
