"""With several hubs, the routine scan checks only the homes whose partition this hub leases,
and the cold-home scan the mahallas whose area key it leases: no home is scanned twice."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from hub.cold_scan import ColdHomeScanner
from hub.coordination import DatabaseTransactions, LeaseCoordinator, LeaseSettings, area_key
from hub.persistence.sqlite_store import SqliteStore
from hub.routine_scan import RoutineScanner
from hub.stats import HubStats
from hub.store.base import AlertRecord, HomeRecord
from mehr.clock import ManualClock
from mehr_app.services.homes import home_spec
from tests.hub.factories import T0

HOMES = [f"home-{i:02d}" for i in range(30)]


class _RecordingRoutineScanner(RoutineScanner):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.scanned: list[str] = []

    def _scan_home(self, home: HomeRecord, now: datetime, offline: bool) -> list[AlertRecord]:
        self.scanned.append(home.id)
        return []


class _RecordingColdScanner(ColdHomeScanner):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.checked: list[str] = []

    def _check(self, home: HomeRecord, now: datetime) -> None:
        self.checked.append(home.id)


def test_two_hubs_scan_every_home_exactly_once_between_them(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    clock = ManualClock(T0)
    store = SqliteStore(db)
    for n, home_id in enumerate(HOMES):
        spec = home_spec(home_id, f"kit-{home_id}")
        store.register_home(spec.model_copy(update={"mahalla": f"mahalla-{n % 4}"}), T0)
    settings = LeaseSettings(partitions=64)
    hubs = [LeaseCoordinator(DatabaseTransactions(db), f"hub-{x}", clock, settings) for x in "ab"]
    for hub in hubs + hubs:
        hub.run_round()
    routine = [
        _RecordingRoutineScanner(store, clock, HubStats(), ownership=hub) for hub in hubs
    ]
    cold = [_RecordingColdScanner(store, clock, HubStats(), ownership=hub) for hub in hubs]
    for scanner in routine:
        scanner.scan()
    for cold_scanner in cold:
        cold_scanner.scan()
    store.close()

    assert all(scanner.scanned for scanner in routine)  # both hubs have homes to scan
    assert sorted(routine[0].scanned + routine[1].scanned) == HOMES
    assert sorted(cold[0].checked + cold[1].checked) == HOMES
    homes = {h.id: h for h in SqliteStore(db).homes()}
    for hub, checked_by in zip(hubs, cold, strict=True):
        # A mahalla's homes are checked together, by the hub holding its area key.
        for home_id in checked_by.checked:
            assert hub.owns(area_key(homes[home_id].mahalla, home_id))
