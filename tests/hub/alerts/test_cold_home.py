"""A winter night with the heating off, through the hub's real store, cold-home scan and alert
engine on a manual clock: one alert per cold home, one per mahalla when its homes cool together."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

from hub.alerts.config import Language
from hub.alerts.messages import what_happened
from hub.cold_scan import COLD_AREA, COLD_HOME, ColdHomeScanner
from hub.persistence.sqlite_store import SqliteStore
from hub.stats import HubStats
from hub.store.base import NewEvent
from tests.hub.alerts.conftest import T0, Rig, home, make_rig

NIGHT_H = 12.0  # T0 is 10:00 in Tashkent; the night starts at 22:00
STEP_S = 600


def _indoor_c(hours_since_off: float | None) -> float:
    """21 °C while heated; then Newton cooling towards -6 °C outside (time constant 18 h)."""
    if hours_since_off is None or hours_since_off < 0:
        return 21.0
    return round(-6.0 + 27.0 * math.exp(-hours_since_off / 18.0), 1)


def _night(rig: Rig, heating_off_h: dict[str, float | None], hours: float) -> None:
    """Every ten minutes: each home's sensor reports, then the hub's scan and engine run."""
    store = SqliteStore(rig.db_path)
    scanner = ColdHomeScanner(store, rig.clock, HubStats())
    seq = 0
    try:
        for step in range(int(hours * 3600 / STEP_S) + 1):
            seconds = NIGHT_H * 3600 + step * STEP_S
            rig.clock.set(T0 + timedelta(seconds=seconds))
            seq += 1
            events = []
            for home_id, off_h in heating_off_h.items():
                since = None if off_h is None else step * STEP_S / 3600 - off_h
                events.append(NewEvent(
                    home_id, home_id.replace("home", "kit"), 1, seq, "living-temp",
                    "temperature", _indoor_c(since), "living room", rig.clock.now(),
                    rig.clock.now(),
                ))
            store.store_events(events, rig.clock.now())
            store.commit()
            scanner.scan()
            rig.at(seconds)
    finally:
        store.close()


def _cold_alerts(rig: Rig) -> list[tuple[str, str]]:
    return [
        (a.kind, a.home_id)
        for a in rig.engine.service.list_alerts("test")
        if a.kind in (COLD_HOME, COLD_AREA)
    ]


def test_a_mahalla_whose_gas_stops_gets_one_grouped_alert_and_a_lone_home_its_own(
    tmp_path: Path,
) -> None:
    homes = [home(f"home-{i}", f"kit-{i}") for i in range(1, 6)]  # Navbahor
    homes.append(home("home-9", "kit-9", mahalla="Olmazor"))
    rig = make_rig(tmp_path, homes=homes)
    # The gas of Navbahor stops at midnight for homes 1-4; home 5 has an electric heater; in
    # Olmazor one old boiler fails at 01:00.
    off: dict[str, float | None] = {f"home-{i}": 2.0 for i in range(1, 5)}
    off |= {"home-5": None, "home-9": 3.0}
    _night(rig, off, hours=9)
    assert sorted(_cold_alerts(rig)) == [
        (COLD_AREA, "area:Navbahor"), (COLD_HOME, "home-9")
    ]
    alerts = {a.home_id: a for a in rig.engine.service.list_alerts("test")}
    area = alerts["area:Navbahor"]
    assert area.detail["homes"] == ["home-1", "home-2", "home-3", "home-4"]
    assert area.detail["trend_c_per_h"] < -0.5
    lone = alerts["home-9"]
    assert lone.detail["safe_c"] == 18.0
    assert lone.detail["latest_c"] < 18.0 and lone.detail["trend_c_per_h"] < 0
    # Local time (Tashkent) where a person reads it: cold since about 03:40, not 22:40 UTC.
    assert "since 03:" in lone.detail["explanation"]["en"] or "since 04:" in lone.detail[
        "explanation"]["en"]
    # The night worker of Navbahor is told once about the area, not four times.
    assert rig.sent_to().count("sw-night") == 1


def test_a_home_that_goes_cold_later_joins_its_areas_open_alert(tmp_path: Path) -> None:
    homes = [home(f"home-{i}", f"kit-{i}") for i in range(1, 5)]
    rig = make_rig(tmp_path, homes=homes)
    off: dict[str, float | None] = {"home-1": 0.0, "home-2": 0.0, "home-3": 0.5, "home-4": 5.0}
    _night(rig, off, hours=11)
    assert _cold_alerts(rig) == [(COLD_AREA, "area:Navbahor")]
    area = rig.engine.service.list_alerts("test")[0]
    assert area.detail["homes"] == ["home-1", "home-2", "home-3", "home-4"]
    assert rig.sent_to().count("sw-night") == 1


def test_two_cold_homes_are_not_an_area_and_each_gets_one_alert(tmp_path: Path) -> None:
    homes = [home(f"home-{i}", f"kit-{i}") for i in range(1, 4)]
    rig = make_rig(tmp_path, homes=homes)
    _night(rig, {"home-1": 0.0, "home-2": 1.0, "home-3": None}, hours=8)
    assert sorted(_cold_alerts(rig)) == [(COLD_HOME, "home-1"), (COLD_HOME, "home-2")]


def test_cold_alerts_read_in_three_languages() -> None:
    assert what_happened(COLD_HOME, Language.UZ) == "Uyda sovuq"
    assert what_happened(COLD_HOME, Language.RU) == "В доме холодно"
    assert what_happened(COLD_AREA, Language.EN) == "Cold homes in area"
