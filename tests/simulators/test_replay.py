"""A CASAS file replayed through Mosquitto arrives at a real hub event for event."""

from __future__ import annotations

from pathlib import Path

from hub.persistence.sqlite_store import SqliteStore
from hub.registry import HomeSpec, KitSpec, SensorSpec
from mehr.clock import ManualClock
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from simulators.casas import read_casas, write_casas
from simulators.home import HomeLayout, HomeSimulator, SensorPhysics
from simulators.replay import plan_replay, replay
from simulators.resident import ResidentProfile
from simulators.simple_kit import SimpleKit
from tests.conftest import kit_user
from tests.simulators.conftest import StartHub


def test_casas_replay_reaches_the_hub_event_for_event(
    tmp_path: Path, mosquitto: Mosquitto, start_hub: StartHub
) -> None:
    layout = HomeLayout.standard("home-r", "kit-r")
    path = tmp_path / "two-days.casas"
    sim = HomeSimulator(layout, ResidentProfile(seed=21), SensorPhysics(door_bounce_p=0.5))
    with path.open("w") as fh:
        write_casas(sim.days(2), fh, layout.tz)

    plan = plan_replay(read_casas(path), layout.tz)
    assert not plan.skipped
    user = kit_user("home-r", "kit-r")
    mosquitto.add_user(user)
    mosquitto.restart()
    home = HomeSpec(
        id="home-r",
        kits=[
            KitSpec(
                id="kit-r",
                sensors=[SensorSpec(id=s, kind=k, room=r) for s, (k, r) in plan.sensors.items()],
            )
        ],
    )
    # The hub's clock stands at the end of the recording: it refuses events older than 30 days
    # by its clock (a kit outbox never holds them that long), and a recording is older.
    hub = start_hub([home], clock=ManualClock(plan.events[-1].ts))
    kit = SimpleKit(
        "home-r",
        "kit-r",
        mosquitto.host,
        mosquitto.port,
        user.username,
        user.password,
        mqtt_v5=True,
    )
    kit.connect()
    sent = replay(plan, kit, speed=0)
    kit.close()
    wait_until(lambda: hub.stats.get("stored") >= sent, 30, f"{sent} events stored")

    store = SqliteStore(hub.settings.db_path)
    try:
        stored = sorted(store.events("home-r"), key=lambda e: e.seq)
    finally:
        store.close()
    assert hub.stats.get("stored") == sent == len(plan.events) == len(stored)
    assert hub.stats.rejected() == 0
    for ev, row in zip(plan.events, stored, strict=True):
        assert (row.sensor_id, row.kind, row.value, row.occurred_at) == (
            ev.sensor,
            ev.kind.value,
            ev.value,
            ev.ts,
        )
    assert [row.seq for row in stored] == list(range(1, sent + 1))


def test_replay_paces_by_speed_without_waiting() -> None:
    """At 60x, an hour of recording takes a minute: the injected sleep sees the schedule."""
    from datetime import UTC, datetime, timedelta

    from mehr.contract import SensorKind
    from simulators.replay import ReplayEvent, ReplayPlan

    t0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
    plan = ReplayPlan(
        [
            ReplayEvent(t0 + timedelta(minutes=m), "m001", SensorKind.MOTION, True, m)
            for m in (0, 30, 60)
        ],
        {"m001": (SensorKind.MOTION, "Kitchen")},
    )
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    class Sink:
        def event(self, *a: object, **k: object) -> None:
            pass

        def flush(self) -> None:
            pass

    replay(plan, Sink(), speed=60.0, sleep=sleep, monotonic=lambda: now[0])  # type: ignore[arg-type]
    assert slept == [30.0, 30.0]
