"""The cold-home scan: every home's recent temperature readings through detectors.cold_home.

A home below its safe indoor temperature for too long gets one `cold_home` alert with the
trend; when several homes of one mahalla went cold together (a gas or power cut), they get one
alert for the area instead, kind `cold_area` on home `area:<mahalla>` (as the alert engine
groups `area_outage`), and homes that go cold later join it. Decisions are the detector's;
this module reads the store and raises alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np

from detectors.cold_home import SAFE_INDOOR_C, ColdHome, check_cold_home, onset_clusters
from detectors.errors import DetectorError
from hub.alerts.severity import severity_for
from hub.coordination import EVERY_HOME, Ownership, area_key
from hub.persistence import alerts as alerts_repo
from hub.persistence.events import readings
from hub.persistence.sqlite_store import SqlStore
from hub.stats import HubStats
from hub.store.base import AlertRecord, HomeRecord, NewAlert
from mehr.catalogue import LANGUAGES, text
from mehr.clock import Clock
from mehr.vocabulary import AlertKind

__all__ = ["COLD_AREA", "COLD_HOME", "ColdHomeScanner", "ColdScanSettings"]

_LOGGER = logging.getLogger(__name__)

COLD_HOME: Final = AlertKind.COLD_HOME.value
COLD_AREA: Final = AlertKind.COLD_AREA.value
_OPEN: Final = ("raised", "notified", "acknowledged")


@dataclass(frozen=True, slots=True)
class ColdScanSettings:
    """Thresholds of the cold-home rule; `safe_c_by_home` holds care-plan exceptions."""

    safe_c: float = SAFE_INDOOR_C
    safe_c_by_home: dict[str, float] = field(default_factory=dict)
    min_duration: timedelta = timedelta(hours=2)
    lookback: timedelta = timedelta(hours=24)
    # Homes of one mahalla whose cold spells began within this window share a cause.
    area_window: timedelta = timedelta(hours=3)
    area_min_homes: int = 3


class ColdHomeScanner:
    """Scans all homes for cold spells; owns no connection of its own (uses the store's)."""

    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        stats: HubStats,
        on_alert: Callable[[AlertRecord], None] | None = None,
        settings: ColdScanSettings | None = None,
        ownership: Ownership = EVERY_HOME,
    ) -> None:
        # Homes are grouped by mahalla (cold areas), so this scan is partitioned by area: the
        # hub holding `area:<mahalla>` checks its homes (hub/coordination.py).
        self.ownership = ownership
        self.store = store
        self.clock = clock
        self.stats = stats
        self.on_alert = on_alert
        self.settings = settings or ColdScanSettings()

    def scan(self) -> list[AlertRecord]:
        """Check every home once at the clock's now; return the alerts newly raised."""
        now = self.clock.now()
        found: dict[str, list[tuple[HomeRecord, ColdHome]]] = {}
        for home in self.store.homes():
            if not self.ownership.owns(area_key(home.mahalla, home.id)):
                continue
            try:
                spell = self._check(home, now)
            except DetectorError as exc:
                self.stats.incr("cold_scan_errors")
                _LOGGER.warning("cold-home scan of %s failed: %s", home.id, exc)
                continue
            if spell is not None and not self._covered(home):
                found.setdefault(home.mahalla, []).append((home, spell))
        raised: list[AlertRecord] = []
        for mahalla, spells in found.items():
            raised += self._raise_group(mahalla, spells, now)
        self.store.commit()
        for alert in raised:
            self.stats.incr("alerts_raised")
            _LOGGER.warning("ALERT %s in %s", alert.kind, alert.home_id)
            if self.on_alert is not None:
                self.on_alert(alert)
        return raised

    def _check(self, home: HomeRecord, now: datetime) -> ColdHome | None:
        since = now - self.settings.lookback
        rows = readings(self.store.connection, home.id, "temperature", since)
        if not rows:
            return None
        codes: dict[str, int] = {}
        sensor_codes = [codes.setdefault(r.sensor_id, len(codes)) for r in rows]
        sensors = np.array(sensor_codes, dtype=np.int64)
        return check_cold_home(
            np.array([r.occurred_s for r in rows], dtype=np.float64),
            np.array([r.value for r in rows], dtype=np.float64),
            sensors,
            now.timestamp(),
            safe_c=self.settings.safe_c_by_home.get(home.id, self.settings.safe_c),
            # Every current spell, however young: homes cooling together are grouped before
            # the first of them is old enough to alert on its own (see _raise_group).
            min_duration_s=0.0,
        )

    def _covered(self, home: HomeRecord) -> bool:
        """True when the home already has an open cold alert of its own or of its area."""
        if self.store.open_alert(home.id, COLD_HOME) is not None:
            return True
        area = self.store.open_alert(f"area:{home.mahalla}", COLD_AREA) if home.mahalla else None
        return area is not None and home.id in area.detail.get("homes", [])

    def _raise_group(
        self, mahalla: str, spells: list[tuple[HomeRecord, ColdHome]], now: datetime
    ) -> list[AlertRecord]:
        settings = self.settings
        old_enough = settings.min_duration.total_seconds()
        together = np.zeros(len(spells), dtype=np.bool_)
        area = self.store.open_alert(f"area:{mahalla}", COLD_AREA) if mahalla else None
        if area is not None:
            together[:] = True  # the area is already cold: its homes join the open alert
        elif mahalla:
            together = onset_clusters(
                [s.since_s for _, s in spells],
                settings.area_window.total_seconds(),
                settings.area_min_homes,
            )
        raised = []
        grouped = [hs for hs, t in zip(spells, together, strict=True) if t]
        # A group is alerted once its oldest spell is old enough (a lone home would be by now).
        if grouped and (area is not None or max(s.duration_s for _, s in grouped) >= old_enough):
            record = self._raise_area(mahalla, grouped, now, area)
            if record is not None:
                raised.append(record)
        for (home, spell), joined in zip(spells, together, strict=True):
            if not joined and spell.duration_s >= old_enough:
                raised.append(self._raise_home(home, spell, now))
        return raised

    def _raise_home(self, home: HomeRecord, spell: ColdHome, now: datetime) -> AlertRecord:
        detail = _spell_detail(spell, home.timezone)
        record, _ = self.store.raise_alert(
            NewAlert(
                home.id, COLD_HOME, severity_for(COLD_HOME).value, now, source_event_id=None,
                detail=detail,
            )
        )
        return record

    def _raise_area(
        self,
        mahalla: str,
        spells: list[tuple[HomeRecord, ColdHome]],
        now: datetime,
        open_area: AlertRecord | None,
    ) -> AlertRecord | None:
        homes = {home.id: _spell_detail(spell, home.timezone) for home, spell in spells}
        area_home = f"area:{mahalla}"
        conn = self.store.connection
        if open_area is not None:
            detail = dict(open_area.detail)
            detail["homes"] = [*detail.get("homes", []), *homes]
            detail["spells"] = {**detail.get("spells", {}), **homes}
            alerts_repo.grow(conn, open_area.id, detail, len(homes), now)
            return None  # the area's people were told already; the alert grew
        timezone = spells[0][0].timezone
        first = min(spell.since_s for _, spell in spells)
        trends = [spell.trend_c_per_h for _, spell in spells]
        local = datetime.fromtimestamp(first, ZoneInfo(timezone)).strftime("%H:%M")
        n, trend = len(homes), float(np.median(trends))
        detail = {
            "rule": COLD_AREA,
            "homes": sorted(homes),
            "spells": homes,
            "since": datetime.fromtimestamp(first, now.tzinfo).isoformat(),
            "trend_c_per_h": round(trend, 2),
            "explanation": {
                lang: text("explain_cold_area", lang, mahalla=mahalla, n=n, at=local, trend=trend)
                for lang in LANGUAGES
            },
        }
        record, _ = self.store.raise_alert(
            NewAlert(
                area_home, COLD_AREA, severity_for(COLD_AREA).value, now, source_event_id=None,
                detail=detail,
            )
        )
        # The engine routes by the alert's mahalla; an area has no home row to take it from.
        alerts_repo.set_mahalla(conn, record.id, mahalla)
        return record


def _spell_detail(spell: ColdHome, timezone: str) -> dict[str, object]:
    """What a person reads about one home's spell, with local times."""
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(spell.since_s, zone).strftime("%H:%M")
    hours = spell.duration_s / 3600.0
    t, trend, safe = spell.latest_c, spell.trend_c_per_h, spell.safe_c
    return {
        "rule": COLD_HOME,
        "since": datetime.fromtimestamp(spell.since_s, zone).isoformat(),
        "duration_s": round(spell.duration_s),
        "latest_c": round(t, 1),
        "trend_c_per_h": round(trend, 2),
        "safe_c": safe,
        "explanation": {
            lang: text(
                "explain_cold_home", lang, t=t, safe=safe, at=local, hours=hours, trend=trend
            )
            for lang in LANGUAGES
        },
    }
