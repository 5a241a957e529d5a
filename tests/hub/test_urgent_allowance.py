"""Each kit's allowance on the urgent path (hub/urgent_allowance.py): a burst, then a refill
rate; one kit spending its allowance leaves every other kit's untouched, and its windows leave
its own presses' allowance untouched."""

from __future__ import annotations

import queue
from collections import Counter

import pytest

from hub import urgent_allowance
from hub.config import HubSettings
from hub.mqtt_link import MqttLink, QueuedMessage
from hub.urgent_allowance import UrgentAllowance
from mehr.clock import SystemClock
from mehr.contract import SensorKind, TopicKind, topic_for
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from simulators.simple_kit import SimpleKit
from tests.conftest import HUB_USER, kit_user
from tests.support.ticks import Ticks

KIT_1 = topic_for("home-1", "kit-1", TopicKind.URGENT)
KIT_2 = topic_for("home-2", "kit-2", TopicKind.URGENT)


def test_a_kit_gets_its_burst_then_its_refill_rate() -> None:
    clock = Ticks()
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
    allowance = UrgentAllowance(burst=2, per_s=0.1, monotonic=Ticks())
    flooding = [allowance.take(KIT_1) for _ in range(50)]
    assert flooding.count(True) == 2
    assert allowance.take(KIT_2)
    assert allowance.take(KIT_2)


def test_kits_whose_allowance_refilled_are_forgotten_and_flooding_ones_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(urgent_allowance, "_PRUNE_ABOVE", 4)
    clock = Ticks()
    allowance = UrgentAllowance(burst=2, per_s=1.0, monotonic=clock)
    for _ in range(3):
        allowance.take("flooding")  # out of allowance
    for n in range(3):
        allowance.take(f"quiet-{n}")  # one message each
    assert allowance.tracked() == 4
    clock.now += 1.0  # the quiet kits have refilled; the flooding one goes on
    assert allowance.take("flooding")
    assert allowance.take("new")  # the fifth kit: the table is pruned
    assert allowance.tracked() == 2  # the flooding kit and the new one
    assert not allowance.take("flooding")  # forgetting others gave it nothing back


def test_a_zero_allowance_is_refused() -> None:
    with pytest.raises(ValueError, match="burst must be >= 1"):
        UrgentAllowance(burst=0, per_s=1.0)


def test_through_the_broker_one_kits_flood_takes_only_its_allowance(
    mosquitto: Mosquitto, hub_password: str
) -> None:
    """The hub's connection to a real Mosquitto: kit 1 floods presses and windows; past its
    allowance of each they go to the routine inbox (none dropped), its first presses and
    windows and kit 2's press to the urgent one."""
    users = [kit_user("home-1", "kit-1"), kit_user("home-2", "kit-2")]
    for user in users:
        mosquitto.add_user(user)
    mosquitto.restart()
    settings = HubSettings(
        mqtt_url=mosquitto.url, mqtt_username=HUB_USER, mqtt_password=hub_password,
        stats_port=0, urgent_per_kit_burst=5, urgent_per_kit_per_s=0.001,
    )  # fmt: skip
    routine: queue.Queue[QueuedMessage] = queue.Queue()
    urgent: queue.Queue[QueuedMessage] = queue.Queue()
    over_rate: Counter[str] = Counter()
    link = MqttLink(
        settings, SystemClock(), routine, urgent=urgent,
        on_urgent_over_rate=lambda topic, count: over_rate.update({topic: count}),
    )  # fmt: skip
    kits = [
        SimpleKit(home, kit, mosquitto.host, mosquitto.port, user.username, user.password,
                  mqtt_v5=True)
        for (home, kit), user in zip([("home-1", "kit-1"), ("home-2", "kit-2")], users, strict=True)
    ]  # fmt: skip
    link.start()
    try:
        wait_until(link.connected.is_set, 10, "the hub's connection")
        for kit in kits:
            kit.connect()
        for _ in range(12):
            kits[0].event("help", SensorKind.HELP_BUTTON, "pressed")
        windows = topic_for("home-1", "kit-1", TopicKind.ACCEL)
        for n in range(8):
            kits[0].publish_raw(windows, f"window {n}".encode())
        kits[1].event("help", SensorKind.HELP_BUTTON, "pressed")
        for kit in kits:
            kit.flush()
        wait_until(lambda: len(_flood(routine)) + urgent.qsize() == 21, 10, "all of it taken")
    finally:
        for kit in kits:
            kit.close()
        link.stop()
    fast = Counter(m.raw.topic for m in urgent.queue)
    assert fast == {KIT_1: 5, windows: 5, KIT_2: 1}
    assert Counter(_flood(routine)) == {KIT_1: 7, windows: 3}
    assert over_rate == {KIT_1: 7, windows: 3}


def _flood(routine: queue.Queue[QueuedMessage]) -> list[str]:
    """The topics of what the kits flooded that went the routine way (not their births)."""
    return [m.raw.topic for m in routine.queue if not m.raw.topic.endswith("/availability")]
