"""The urgent inbox is bounded too: a flood of urgent-looking messages (a faulty or hostile kit
pressing help, or sending accelerometer windows, faster than they can be stored) must not grow
the hub's memory without end. Beyond `urgent_inbox_max` they are stored at the routine pace;
none is lost, and none is stored twice."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mehr.contract import SensorKind, TopicKind, topic_for
from mehr_app.services.mosquitto import Mosquitto
from mehr_app.services.wait import wait_until
from tests.hub.one_kit import start_one_kit_hub

URGENT_MAX = 16
PRESSES = 80


@pytest.mark.parametrize("link_process", [False, True], ids=["in-process", "link-process"])
def test_a_flood_of_presses_beyond_the_urgent_bound_is_stored_at_the_routine_pace(
    tmp_path: Path, mosquitto: Mosquitto, hub_password: str, link_process: bool
) -> None:
    hub, kit, db = start_one_kit_hub(
        tmp_path, mosquitto, hub_password,
        lane=True,
        link_process=link_process,
        urgent_inbox_max=URGENT_MAX,
        urgent_per_kit_burst=10_000,  # this kit's flood is the inbox bound's to meet
    )  # fmt: skip
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        assert hub.urgent_lane is not None
        wait_until(hub.urgent_lane.connected.is_set, 10, "urgent lane connected")
        kit.connect()
        kit.flush()
        wait_until(hub.inbox.empty, 10, "the kit's first messages taken")
        blocker.execute("BEGIN IMMEDIATE")  # nothing can be stored: the presses pile up
        for _ in range(PRESSES):
            kit.event("help", SensorKind.HELP_BUTTON, "pressed")
        kit.flush()  # every press acknowledged by the broker
        wait_until(lambda: hub.stats.get("urgent_demoted") >= 1, 20, "the urgent inbox filled")
        assert hub.urgent_inbox.qsize() <= URGENT_MAX
        blocker.execute("ROLLBACK")
        wait_until(lambda: _presses(db) >= PRESSES, 60, "every press stored")
    finally:
        blocker.close()
        kit.close()
        hub.stop()
    assert hub.stats.rejected() == 0
    assert _presses(db) == PRESSES, "each press stored exactly once"


def _presses(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT COUNT(*) FROM events WHERE sensor_id='help'").fetchone()
    return int(row[0])


OVER_BURST = 5


@pytest.mark.parametrize("link_process", [False, True], ids=["in-process", "link-process"])
def test_a_kit_past_its_urgent_allowance_is_stored_at_the_routine_pace(
    tmp_path: Path,
    mosquitto: Mosquitto,
    hub_password: str,
    link_process: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One kit flooding help presses takes its allowance of the urgent path and no more (the
    other homes' presses share it); the rest of its presses are stored the routine way, every
    one of them, once."""
    hub, kit, db = start_one_kit_hub(
        tmp_path, mosquitto, hub_password,
        lane=True,
        link_process=link_process,
        urgent_per_kit_burst=OVER_BURST,
        urgent_per_kit_per_s=0.001,  # nothing refills within the test
    )  # fmt: skip
    try:
        wait_until(hub.link.connected.is_set, 10, "hub connected")
        assert hub.urgent_lane is not None
        wait_until(hub.urgent_lane.connected.is_set, 10, "urgent lane connected")
        kit.connect()
        for _ in range(PRESSES):
            kit.event("help", SensorKind.HELP_BUTTON, "pressed")
        kit.flush()
        wait_until(lambda: _presses(db) >= PRESSES, 60, "every press stored")
        wait_until(
            lambda: hub.stats.get("urgent_over_rate") >= PRESSES - OVER_BURST, 10,
            "the presses past the allowance counted",
        )  # fmt: skip
    finally:
        kit.close()
        hub.stop()
    # Counted once each (the main connection stores them; the lane lets its copies go).
    assert hub.stats.get("urgent_over_rate") == PRESSES - OVER_BURST
    assert hub.stats.rejected() == 0
    assert _presses(db) == PRESSES, "each press stored exactly once"
    # The operator is told which kit, once in the minute however many presses came.
    lines = [r.getMessage() for r in caplog.records]
    named = [line for line in lines if "past their kit's allowance" in line]
    assert len(named) == 1, named
    assert topic_for("home-1", "kit-1", TopicKind.URGENT) in named[0]
