"""The running hub keeps sensor states in its routine writer and writes them a cycle later
(`sensor_state_write_s`): a quiet hub writes them between batches, a stopping hub writes what
it holds. Through a real Mosquitto into an in-process hub on a SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mehr.clock import ManualClock
from mehr.contract import SensorKind
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from tests.hub.factories import T0
from tests.hub.one_kit import start_one_kit_hub


def _states(db: Path) -> list[tuple[str, str]]:
    """(sensor, value) rows as another connection (a dashboard, the scan) reads them."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT sensor_id, value FROM sensor_state ORDER BY sensor_id")
        return rows.fetchall()


def test_a_quiet_hub_writes_the_states_it_holds_within_the_cycle(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    clock = ManualClock(T0)
    hub, kit, db = start_one_kit_hub(
        tmp_path, mosquitto, hub_password, clock=clock, sensor_state_write_s=1
    )
    try:
        kit.connect()
        kit.event("pir-kitchen", SensorKind.MOTION, True)
        kit.flush()
        wait_until(lambda: hub.stats.get("stored") == 1, 10, "the event stored")
        assert _states(db) == []  # held: no time has passed on the hub's clock

        def written_as_time_passes() -> bool:
            # No batch commits after the event: the writer's idle turns write it once the
            # cycle it was noted in has turned and the next has run.
            clock.advance(0.25)
            return _states(db) == [("pir-kitchen", "true")]

        wait_until(written_as_time_passes, 10, "the state written")
    finally:
        kit.close()
        hub.stop()


def test_the_hub_holds_states_for_the_cycle_and_writes_them_when_it_stops(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str
) -> None:
    hub, kit, db = start_one_kit_hub(tmp_path, mosquitto, hub_password, sensor_state_write_s=60)
    try:
        kit.connect()
        kit.event("pir-kitchen", SensorKind.MOTION, True)
        kit.event("door-front", SensorKind.DOOR, "open")
        kit.flush()
        wait_until(lambda: hub.stats.get("stored") == 2, 10, "the events stored")
        assert _states(db) == []  # held: the first cycle has not turned
    finally:
        kit.close()
        hub.stop()
    assert _states(db) == [("door-front", '"open"'), ("pir-kitchen", "true")]
