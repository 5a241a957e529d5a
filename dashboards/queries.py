"""What the pages and the API show: a home's status, timeline, week, caseload, kits.

The facts come from the persistence layer's read models (hub.persistence.read_models); this
module says what they mean (a status in words, a caseload's order, a night's rest).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from dashboards.accounts import User
from dashboards.alert_actions import OPEN, alert_dict
from dashboards.tenancy import HomeRow, visible_homes
from hub.alerts.lifecycle import AlertView, ModeView
from hub.persistence import read_models as rm

__all__ = [
    "SEVERITY_RANK",
    "AlertView",
    "CaseRow",
    "DayActivity",
    "HomeStatus",
    "KitView",
    "Segment",
    "alert_view",
    "alerts_of",
    "caseload",
    "home_status",
    "kits_view",
    "resident",
    "timeline",
    "week_activity",
]

ACTIVITY_KINDS = rm.ACTIVITY_KINDS
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
_RISK_RANK = {"high": 0, "medium": 1, "low": 2}
_OPEN = tuple(sorted(OPEN))
_SEGMENT_GAP_S = 20 * 60


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def alert_view(conn: Connection, alert_id: int) -> AlertView | None:
    """One alert as the engine sees it (no audit row: the page that shows it audits)."""
    return rm.alerts_by_id(conn, alert_id)


def alerts_of(
    conn: Connection, home_ids: list[str], open_only: bool = True, limit: int = 200
) -> list[AlertView]:
    """Alerts of some homes, most urgent first (open ones only unless asked)."""
    views = rm.alerts_of_homes(conn, home_ids, _OPEN if open_only else None, limit)
    if open_only:
        views.sort(key=lambda a: (SEVERITY_RANK.get(a.severity, 9), -a.raised_at.timestamp()))
    return views


@dataclass(frozen=True, slots=True)
class KitHealth:
    """One kit's health in brief."""

    kit_id: str
    online: bool
    last_heartbeat_at: datetime | None
    outbox_depth: int | None
    stale: bool


@dataclass(frozen=True, slots=True)
class HomeStatus:
    """Everything the top of the family page says."""

    home: HomeRow
    level: str  # ok | attention | alert
    reasons: list[str]
    last_activity_at: datetime | None
    last_room: str | None
    alerts: list[AlertView]
    kits: list[KitHealth]
    away: ModeView | None
    open_requests: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "home_id": self.home.id,
            "name": self.home.name,
            "mahalla": self.home.mahalla,
            "timezone": self.home.timezone,
            "level": self.level,
            "reasons": self.reasons,
            "last_activity_at": self.last_activity_at.isoformat()
            if self.last_activity_at
            else None,
            "last_room": self.last_room,
            "alerts": [alert_dict(a) for a in self.alerts],
            "kits": [
                {
                    "kit_id": k.kit_id,
                    "online": k.online,
                    "last_heartbeat_at": k.last_heartbeat_at.isoformat()
                    if k.last_heartbeat_at
                    else None,
                    "outbox_depth": k.outbox_depth,
                    "stale": k.stale,
                }
                for k in self.kits
            ],
            "away": None
            if self.away is None
            else {"mode": self.away.mode, "until": self.away.ends_at.isoformat()},
            "open_requests": self.open_requests,
        }


def _kit_health(conn: Connection, home_id: str, now: datetime, stale_s: float) -> list[KitHealth]:
    out = []
    for kit in rm.kits_of_homes(conn, [home_id]):
        last = kit.last_heartbeat_at
        stale = last is None or (now - last).total_seconds() > stale_s
        out.append(
            KitHealth(
                kit_id=kit.id,
                online=kit.online,
                last_heartbeat_at=last,
                outbox_depth=kit.heartbeat.get("outbox_depth"),
                stale=stale,
            )
        )
    return out


def home_status(
    conn: Connection,
    home: HomeRow,
    now: datetime,
    stale_s: float,
    quiet_s: float,
    away: ModeView | None = None,
) -> HomeStatus:
    """The home's status in words: alert, needs attention, or OK, with the reasons.

    `away` is the engine's mode in force (AlertService.active_mode): quiet is expected then.
    """
    last = rm.last_activity(conn, home.id)
    alerts = alerts_of(conn, [home.id])
    kits = _kit_health(conn, home.id, now, stale_s)
    open_requests = rm.open_request_counts(conn, [home.id]).get(home.id, 0)
    last_at = last[1] if last else None
    reasons: list[str] = []
    if alerts:
        level = "alert"
        reasons.append("reason_open_alert")
    else:
        level = "ok"
    if any(not k.online or k.stale for k in kits):
        reasons.append("reason_kit_offline")
    if not kits:
        reasons.append("reason_no_kit")
    if away is None and (last_at is None or (now - last_at).total_seconds() > quiet_s):
        reasons.append("reason_quiet")
    if level == "ok" and reasons:
        level = "attention"
    return HomeStatus(
        home=home,
        level=level,
        reasons=reasons,
        last_activity_at=last_at,
        last_room=last[0] if last else None,
        alerts=alerts,
        kits=kits,
        away=away,
        open_requests=int(open_requests),
    )


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of time spent in one room (consecutive events there)."""

    room: str
    start: datetime
    end: datetime
    events: int


def _local_midnight(now: datetime, tz: ZoneInfo, days_back: int = 0) -> datetime:
    local = now.astimezone(tz)
    day = (local - timedelta(days=days_back)).date()
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def timeline(conn: Connection, home: HomeRow, now: datetime) -> list[Segment]:
    """Today's (home's local day) movement as room segments, oldest first."""
    tz = ZoneInfo(home.timezone)
    start = _local_midnight(now, tz)
    segments: list[Segment] = []
    for room, ts in rm.moves_between(conn, home.id, start, now, with_room=True):
        assert room is not None  # asked with_room
        at = datetime.fromtimestamp(ts, UTC)
        if (
            segments
            and segments[-1].room == room
            and (at - segments[-1].end).total_seconds() <= _SEGMENT_GAP_S
        ):
            seg = segments[-1]
            segments[-1] = Segment(seg.room, seg.start, at, seg.events + 1)
        else:
            segments.append(Segment(room, at, at, 1))
    return segments


@dataclass(frozen=True, slots=True)
class DayActivity:
    """One local day: how much movement, and the longest still stretch of the night."""

    day: str  # ISO date, local
    movements: int
    sleep_hours: float | None


def week_activity(
    conn: Connection, home: HomeRow, now: datetime, days: int = 7
) -> list[DayActivity]:
    """The last `days` local days (today last): movement counts and night rest."""
    tz = ZoneInfo(home.timezone)
    first = _local_midnight(now, tz, days - 1)
    # Nights run 20:00 to 10:00: start the query the evening before the first day.
    times = rm.move_times(conn, home.id, first - timedelta(hours=4), now)
    counts: dict[str, int] = defaultdict(int)
    for t in times:
        counts[datetime.fromtimestamp(t, tz).date().isoformat()] += 1
    out = []
    for i in range(days):
        day_start = first + timedelta(days=i)
        day = day_start.date().isoformat()
        night_from = (day_start - timedelta(hours=4)).timestamp()
        night_to = min((day_start + timedelta(hours=10)).timestamp(), now.timestamp())
        sleep: float | None = None
        if night_to > night_from:
            inside = [t for t in times if night_from <= t <= night_to]
            if inside:
                edges = [night_from, *inside, night_to]
                sleep = round(max(b - a for a, b in pairwise(edges)) / 3600, 1)
        out.append(DayActivity(day, counts.get(day, 0), sleep))
    return out


# -- the worker's caseload -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One home in a worker's caseload."""

    home: HomeRow
    level: str
    top_severity: str | None
    open_alerts: int
    open_requests: int
    last_activity_at: datetime | None
    risk_level: str
    resident_name: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "home_id": self.home.id,
            "name": self.home.name,
            "mahalla": self.home.mahalla,
            "resident": self.resident_name,
            "level": self.level,
            "top_severity": self.top_severity,
            "open_alerts": self.open_alerts,
            "open_requests": self.open_requests,
            "risk_level": self.risk_level,
            "last_activity_at": self.last_activity_at.isoformat()
            if self.last_activity_at
            else None,
        }


def caseload(
    conn: Connection,
    user: User,
    now: datetime,
    stale_s: float,
    quiet_s: float,
    in_mode: Callable[[str], object | None] = lambda home_id: None,
) -> list[CaseRow]:
    """The user's homes, most urgent first: alerts by severity, requests, attention, risk.

    `in_mode(home_id)` is the engine's mode in force (AlertService.active_mode), if any.
    """
    homes = visible_homes(conn, user)
    ids = [h.id for h in homes]
    if not ids:
        return []
    last = rm.last_activity_by_home(conn, ids)
    alerts = rm.open_alert_severities(conn, ids, _OPEN)
    requests = rm.open_request_counts(conn, ids)
    kits_bad = {
        kit.home_id
        for kit in rm.kits_of_homes(conn, ids)
        if not kit.online
        or kit.last_heartbeat_at is None
        or (now - kit.last_heartbeat_at).total_seconds() > stale_s
    }
    names = rm.resident_names(conn, ids)
    # The care-plan risk lives on the core home (set by the registry import); one truth.
    risks = rm.risk_levels(conn, ids)
    # Only homes that look quiet need the mode lookup.
    away = {
        h.id
        for h in homes
        if (last.get(h.id) is None or now.timestamp() - last[h.id] > quiet_s)
        and in_mode(h.id) is not None
    }
    rows = []
    for h in homes:
        sev = sorted(alerts.get(h.id, []), key=lambda s: SEVERITY_RANK.get(s, 9))
        last_at = _ts(last.get(h.id))
        quiet = h.id not in away and (
            last_at is None or now.timestamp() - last.get(h.id, 0) > quiet_s
        )
        level = "alert" if sev else ("attention" if quiet or h.id in kits_bad else "ok")
        name, risk = names.get(h.id, h.name), risks.get(h.id, "medium")
        rows.append(
            CaseRow(
                h,
                level,
                sev[0] if sev else None,
                len(sev),
                int(requests.get(h.id, 0)),
                last_at,
                risk,
                name,
            )
        )
    rows.sort(
        key=lambda c: (
            SEVERITY_RANK.get(c.top_severity or "", 9),
            -c.open_requests,
            {"alert": 0, "attention": 1, "ok": 2}[c.level],
            _RISK_RANK.get(c.risk_level, 9),
            c.home.name,
        )
    )
    return rows


def resident(conn: Connection, home_id: str) -> dict[str, Any] | None:
    """The registry record of the home's resident, if imported."""
    r = rm.resident_of(conn, home_id)
    if r is None:
        return None
    return {
        "person_id": r.person_id,
        "full_name": r.full_name,
        "birth_date": r.birth_date,
        "address": r.address,
        "mahalla": r.mahalla,
        "risk_level": r.risk_level,
        "languages": r.languages,
        "contacts": r.contacts,
    }


def last_visit(conn: Connection, home_id: str) -> datetime | None:
    """When a worker last arrived at the home or completed a visit request."""
    return _ts(rm.last_visit_ts(conn, home_id))


def home_risk(conn: Connection, home_id: str) -> str | None:
    """The core home's care-plan risk level (the registry import writes it there)."""
    return rm.home_risk(conn, home_id)


def routine_summary(conn: Connection, home: HomeRow, now: datetime) -> dict[str, Any]:
    """Typical first and last movement of the day over the last 14 days (local time)."""
    tz = ZoneInfo(home.timezone)
    start = _local_midnight(now, tz, 14)
    rows = rm.motion_days(conn, home.id, start, _local_midnight(now, tz))
    if not rows:
        return {"days": 0}

    def median_clock(values: list[float]) -> str:
        minutes = sorted(
            datetime.fromtimestamp(v, tz).hour * 60 + datetime.fromtimestamp(v, tz).minute
            for v in values
        )
        m = minutes[len(minutes) // 2]
        return f"{m // 60:02d}:{m % 60:02d}"

    return {
        "days": len(rows),
        "first_movement": median_clock([r.first for r in rows]),
        "last_movement": median_clock([r.last for r in rows]),
        "movements_per_day": round(sum(r.count for r in rows) / len(rows)),
    }


# -- installer -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SensorView:
    """A sensor and its last signal."""

    sensor_id: str
    kind: str
    room: str
    last_signal: datetime | None
    # False when the kit's heartbeat names it unreachable (a Zigbee device gone offline).
    available: bool = True


@dataclass(frozen=True, slots=True)
class KitView:
    """A kit as the installer sees it."""

    kit_id: str
    home_id: str
    mahalla: str
    online: bool
    availability_at: datetime | None
    last_heartbeat_at: datetime | None
    outbox_depth: int | None
    sensors: list[SensorView]
    report: dict[str, Any] | None
    # The kit's clock minus the hub's, from its latest heartbeat (the hub refuses events more
    # than a few minutes ahead, so an installer should see a drifting clock first), and the
    # kit's own NTP offset when it reports one.
    clock_offset_s: float | None = None
    ntp_offset_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kit_id": self.kit_id,
            "home_id": self.home_id,
            "mahalla": self.mahalla,
            "online": self.online,
            "availability_at": self.availability_at.isoformat() if self.availability_at else None,
            "last_heartbeat_at": self.last_heartbeat_at.isoformat()
            if self.last_heartbeat_at
            else None,
            "outbox_depth": self.outbox_depth,
            "clock_offset_s": self.clock_offset_s,
            "ntp_offset_s": self.ntp_offset_s,
            "sensors": [
                {
                    "sensor_id": s.sensor_id,
                    "kind": s.kind,
                    "room": s.room,
                    "last_signal": s.last_signal.isoformat() if s.last_signal else None,
                    "available": s.available,
                }
                for s in self.sensors
            ],
            "commissioning": self.report,
        }


def _latest_report(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest walk-test report in brief (reports come newest first from the store)."""
    if not reports:
        return None
    data = reports[0]
    return {
        "finished": data.get("finished"),
        "passed": bool(data.get("passed")),
        "missing": list(data.get("missing", [])),
    }


def kits_view(
    conn: Connection,
    homes: list[HomeRow],
    reports: Callable[[str], list[dict[str, Any]]],
    kit_id: str | None = None,
) -> list[KitView]:
    """Kits of the given homes with each sensor's last signal and the latest walk test.

    `reports(kit_id)` is the store's SqliteStore.commissioning_reports (newest first).
    """
    by_id = {h.id: h for h in homes}
    out = []
    for kit in rm.kits_of_homes(conn, list(by_id), kit_id):
        beat = kit.heartbeat
        signals = {k: v for k, v in (beat.get("sensors") or {}).items()}
        unreachable = set(beat.get("unavailable") or [])
        seen = rm.sensor_last_seen(conn, kit.id)
        sensors = []
        for s in rm.sensors_of_kit(conn, kit.id):
            candidates = []
            if signals.get(s.id):
                candidates.append(datetime.fromisoformat(str(signals[s.id]).replace("Z", "+00:00")))
            if s.id in seen:
                candidates.append(seen[s.id])
            sensors.append(
                SensorView(
                    s.id,
                    s.kind,
                    s.room,
                    max(candidates, default=None),
                    available=s.id not in unreachable,
                )
            )
        home = by_id[kit.home_id]
        out.append(
            KitView(
                kit_id=kit.id,
                home_id=home.id,
                mahalla=home.mahalla,
                online=kit.online,
                availability_at=kit.availability_at,
                last_heartbeat_at=kit.last_heartbeat_at,
                outbox_depth=beat.get("outbox_depth"),
                sensors=sensors,
                report=_latest_report(reports(kit.id)),
                clock_offset_s=beat.get("hub_offset_s"),
                ntp_offset_s=beat.get("clock_offset_s"),
            )
        )
    return out
