"""Kit availability as its own scanner: offline kits become kit_offline alerts, or one
area_outage alert when many kits of a mahalla go dark together; a kit back online closes its
alert, and inactivity alerts held while a kit was dark are dropped.

Alerts are raised through `hub.persistence.alerts.raise_alert`, the path the ingest rules and
the routine scan use, so a repeat merges into the open alert exactly as theirs do.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.alerts.config import AlertsConfig
from hub.alerts.lifecycle import SYSTEM, AlertService, AlertState, Outcome
from hub.alerts.severity import AREA_OUTAGE, KIT_OFFLINE, severity_for
from hub.coordination import EVERY_HOME, Ownership, area_key
from hub.persistence import alerts as alerts_repo
from hub.persistence import escalations as escalations_repo
from hub.persistence import kits as kits_repo
from hub.persistence.connection import Connection
from hub.persistence.kits import KitAvailability
from hub.persistence.records import NewAlert
from mehr.catalogue import LANGUAGES, text

__all__ = ["KitAvailabilityScanner"]

_LOGGER = logging.getLogger(__name__)
_OPEN = ("raised", "notified", "acknowledged")


class KitAvailabilityScanner:
    """One pass over every kit's availability; call `scan(now)` every grouping.scan_every_s."""

    def __init__(
        self,
        conn: Connection,
        config: AlertsConfig,
        service: AlertService,
        ownership: Ownership = EVERY_HOME,
    ) -> None:
        # Outages are grouped by mahalla (one area alert for many homes), so this scan is
        # partitioned by area: the hub holding `area:<mahalla>` watches its kits.
        self.ownership = ownership
        self.conn = conn
        self.config = config
        self.service = service

    def scan(self, now: datetime) -> None:
        """Close ended outages, drop holds they caused, report new ones (one transaction)."""
        offline = {
            k.kit_id: k
            for k in kits_repo.offline_kits(self.conn)
            if self.ownership.owns(area_key(k.mahalla, k.home_id))
        }
        with self.service.tx():
            self._close_ended(offline, now)
            self._drop_holds_of_ended_outages()
            self._report_new(offline, now)

    def _close_ended(self, offline: dict[str, KitAvailability], now: datetime) -> None:
        # A kit back online closes its kit_offline alert, and the last kit of an area back
        # closes the area outage.
        ended_alerts: set[int] = set()
        for outage in kits_repo.open_outages(self.conn):
            if not self.ownership.owns(area_key(outage.mahalla, outage.home_id)):
                continue
            kit = offline.get(outage.kit_id)
            if kit is None or kit.availability_at != outage.since:
                kits_repo.end_outage(self.conn, outage.kit_id, outage.since, now)
                if outage.alert_id is not None:
                    ended_alerts.add(outage.alert_id)
        for alert_id in ended_alerts:
            if kits_repo.alert_has_open_outage(self.conn, alert_id):
                continue
            if alerts_repo.state_of(self.conn, alert_id) in _OPEN:
                self.service.resolve(
                    alert_id, SYSTEM, Outcome.KIT_BACK_ONLINE, "every kit is back online"
                )

    def _drop_holds_of_ended_outages(self) -> None:
        # Inactivity held back while a kit was offline: the silence was the outage.
        for held in escalations_repo.held_for_offline_kit(self.conn):
            if not self.ownership.owns(held.home_id):
                continue
            if not kits_repo.home_has_offline_kit(self.conn, held.home_id):
                self.service.close_without_alerting(
                    held.alert_id, SYSTEM, AlertState.SUPPRESSED,
                    "raised while a kit was offline; the kit is back, the detectors "
                    "will raise it again if the silence goes on",
                )

    def _report_new(self, offline: dict[str, KitAvailability], now: datetime) -> None:
        # New outages, grouped by mahalla.
        reported = kits_repo.reported_outages(self.conn)
        new_by_mahalla: dict[str, list[KitAvailability]] = {}
        for kit in offline.values():
            assert kit.availability_at is not None  # offline_kits reads only kits with one
            if (kit.kit_id, kit.availability_at) not in reported:
                new_by_mahalla.setdefault(kit.mahalla, []).append(kit)
        for mahalla, new in new_by_mahalla.items():
            self._group_outages(mahalla, new, now)

    def _group_outages(self, mahalla: str, new: list[KitAvailability], now: datetime) -> None:
        grouping = self.config.grouping
        area_home = f"area:{mahalla}"
        area = alerts_repo.find_open_alert(self.conn, area_home, AREA_OUTAGE)
        if area is not None:
            # The outage grows: more kits join the open incident, nobody is told again.
            detail = dict(area.detail)
            for kit in new:
                self._record_outage(kit, mahalla, area.id)
                detail.setdefault("kits", []).append(kit.kit_id)
                detail.setdefault("homes", []).append(kit.home_id)
            alerts_repo.grow(self.conn, area.id, detail, len(new), now)
            self.service.audit(
                area.id, SYSTEM, "outage_grew", at=now, kits=[k.kit_id for k in new]
            )
            return
        grace = timedelta(seconds=grouping.offline_grace_s)
        eligible = [k for k in new if _since(k) <= now - grace]
        if not eligible:
            return
        first = min(_since(k) for k in eligible)
        window = grouping.area_outage_window_s
        cluster = [k for k in new if abs((_since(k) - first).total_seconds()) <= window]
        if mahalla and len(cluster) >= grouping.area_outage_min_kits:
            area_detail: dict[str, Any] = {
                "kits": [k.kit_id for k in cluster],
                "homes": sorted({k.home_id for k in cluster}),
                "since": first.isoformat(),
                "explanation": {
                    lang: text("explain_area_outage", lang, mahalla=mahalla, n=len(cluster))
                    for lang in LANGUAGES
                },
            }
            alert_id = self._raise(area_home, AREA_OUTAGE, mahalla, now, area_detail)
            for kit in cluster:
                self._record_outage(kit, mahalla, alert_id)
            return
        zone = ZoneInfo(self.config.district.timezone)
        for kit in eligible:
            since = _since(kit)
            local_since = since.astimezone(zone).strftime("%H:%M")
            kit_detail: dict[str, Any] = {
                "kit": kit.kit_id,
                "since": since.isoformat(),
                # In the reader's language and the district's time, never UTC.
                "explanation": {
                    lang: text("explain_kit_offline", lang, at=local_since) for lang in LANGUAGES
                },
            }
            alert_id = self._raise(kit.home_id, KIT_OFFLINE, mahalla, now, kit_detail)
            self._record_outage(kit, mahalla, alert_id)

    def _raise(
        self, home_id: str, kind: str, mahalla: str, now: datetime, detail: dict[str, Any]
    ) -> int:
        alert = NewAlert(
            home_id=home_id,
            kind=kind,
            severity=severity_for(kind).value,
            raised_at=now,
            source_event_id=None,
            detail=detail,
        )
        record, new = alerts_repo.raise_alert(self.conn, alert, mahalla=mahalla)
        if new:
            _LOGGER.info("%s alert #%s raised for %s", kind, record.id, home_id)
        return record.id

    def _record_outage(self, kit: KitAvailability, mahalla: str, alert_id: int) -> None:
        kits_repo.record_outage(
            self.conn,
            kit_id=kit.kit_id,
            since=_since(kit),
            home_id=kit.home_id,
            mahalla=mahalla,
            alert_id=alert_id,
        )


def _since(kit: KitAvailability) -> datetime:
    assert kit.availability_at is not None  # only offline kits with a time reach here
    return kit.availability_at
