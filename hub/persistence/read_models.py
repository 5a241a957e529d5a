"""What the web pages read about homes: who may see which, activity, alerts, kits, residents.

Facts in typed records, keyed by home and served by the (home_id, occurred_at) indexes, so a
page costs the same with one home or a district of them. What the facts mean (a home's status
in words, a caseload's order) is the web app's business (dashboards.queries).
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, text
from sqlalchemy.sql.elements import TextClause

from hub.alerts.lifecycle import AlertService, AlertView
from hub.persistence.event_index_terms import SIGN_OF_LIFE

__all__ = [
    "ACTIVITY_KINDS",
    "DayMotion",
    "HomeRow",
    "HomeScope",
    "KitRecord",
    "ResidentRecord",
    "SensorRecord",
    "alert_home_id",
    "alerts_by_id",
    "alerts_of_homes",
    "home_if_visible",
    "home_risk",
    "kit_home_id",
    "kits_of_homes",
    "last_activity",
    "last_activity_by_home",
    "last_visit_ts",
    "motion_days",
    "move_times",
    "moves_between",
    "open_alert_severities",
    "open_request_counts",
    "resident_names",
    "resident_of",
    "risk_levels",
    "sensor_last_seen",
    "sensors_of_kit",
    "visible_homes",
]

# Events that mean someone moved about the home.
ACTIVITY_KINDS = ("motion", "door")


@functools.lru_cache(maxsize=256)
def _in(sql: str, *names: str) -> TextClause:
    """A text() statement whose `IN :name` lists expand to one parameter per value.

    Cached: the statements are a fixed few, and building one costs more than running a
    small query.
    """
    return text(sql).bindparams(*(bindparam(n, expanding=True) for n in names))


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


# -- homes and who may see them -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HomeRow:
    """A home as the dashboards show it."""

    id: str
    name: str
    timezone: str
    mahalla: str


@dataclass(frozen=True, slots=True)
class HomeScope:
    """Which homes a reader may see: all of them, or these homes and these mahallas."""

    all_homes: bool = False
    homes: frozenset[str] = field(default_factory=frozenset)
    mahallas: frozenset[str] = field(default_factory=frozenset)


def _scope_condition(scope: HomeScope) -> tuple[str, dict[str, Any], list[str]]:
    """SQL condition on `homes` for the scope, its parameters, and which of them expand."""
    if scope.all_homes:
        return "1 = 1", {}, []
    parts: list[str] = []
    params: dict[str, Any] = {}
    if scope.homes:
        parts.append("id IN :scope_homes")
        params["scope_homes"] = sorted(scope.homes)
    if scope.mahallas:
        parts.append("mahalla IN :scope_mahallas")
        params["scope_mahallas"] = sorted(scope.mahallas)
    return ("(" + " OR ".join(parts) + ")" if parts else "1 = 0"), params, list(params)


def visible_homes(conn: Connection, scope: HomeScope) -> list[HomeRow]:
    """All homes in the scope, by name."""
    cond, params, expanding = _scope_condition(scope)
    stmt = _in(
        f"SELECT id, name, timezone, mahalla FROM homes WHERE {cond} ORDER BY name, id", *expanding
    )
    return [HomeRow(*r) for r in conn.execute(stmt, params)]


def home_if_visible(conn: Connection, scope: HomeScope, home_id: str) -> HomeRow | None:
    """The home if it exists and is in the scope."""
    cond, params, expanding = _scope_condition(scope)
    stmt = _in(
        f"SELECT id, name, timezone, mahalla FROM homes WHERE id = :home_id AND {cond}", *expanding
    )
    row = conn.execute(stmt, {**params, "home_id": home_id}).first()
    return None if row is None else HomeRow(*row)


def home_risk(conn: Connection, home_id: str) -> str | None:
    """The home's care-plan risk level (the registry import sets it)."""
    risk: str | None = conn.execute(
        text("SELECT risk_level FROM homes WHERE id = :id"), {"id": home_id}
    ).scalar()
    return risk


def risk_levels(conn: Connection, home_ids: Sequence[str]) -> dict[str, str]:
    """Care-plan risk of each home."""
    rows = conn.execute(
        _in("SELECT id, risk_level FROM homes WHERE id IN :ids", "ids"), {"ids": list(home_ids)}
    )
    return {r[0]: r[1] for r in rows}


# -- alerts -------------------------------------------------------------------------------------


def _views(rows: Sequence[RowMapping]) -> list[AlertView]:
    # The engine's own row-to-view mapping: one place turns an alert row into an object.
    return [AlertService.view_from_row(r) for r in rows]


def alerts_by_id(conn: Connection, alert_id: int) -> AlertView | None:
    """One alert as the engine sees it."""
    rows = conn.execute(text("SELECT * FROM alerts WHERE id = :id"), {"id": alert_id})
    views = _views(rows.mappings().all())
    return views[0] if views else None


def alerts_of_homes(
    conn: Connection, home_ids: Sequence[str], states: Sequence[str] | None, limit: int
) -> list[AlertView]:
    """Alerts of some homes (in `states`, or any), newest first."""
    if not home_ids:
        return []
    sql = "SELECT * FROM alerts WHERE home_id IN :ids"
    params: dict[str, Any] = {"ids": list(home_ids), "limit": limit}
    names = ["ids"]
    if states is not None:
        sql += " AND state IN :states"
        params["states"] = list(states)
        names.append("states")
    stmt = _in(sql + " ORDER BY raised_at DESC LIMIT :limit", *names)
    return _views(conn.execute(stmt, params).mappings().all())


def alert_home_id(conn: Connection, alert_id: int) -> str | None:
    """The home an alert belongs to."""
    home: str | None = conn.execute(
        text("SELECT home_id FROM alerts WHERE id = :id"), {"id": alert_id}
    ).scalar()
    return home


def open_alert_severities(
    conn: Connection, home_ids: Sequence[str], open_states: Sequence[str]
) -> dict[str, list[str]]:
    """The severities of each home's open alerts."""
    out: dict[str, list[str]] = defaultdict(list)
    stmt = _in(
        "SELECT home_id, severity FROM alerts WHERE home_id IN :ids AND state IN :states",
        "ids",
        "states",
    )
    for home_id, severity in conn.execute(
        stmt, {"ids": list(home_ids), "states": list(open_states)}
    ):
        out[home_id].append(severity)
    return dict(out)


# -- activity -----------------------------------------------------------------------------------


def last_activity(conn: Connection, home_id: str) -> tuple[str | None, datetime] | None:
    """The room and time of the home's latest movement, from the sensors' last states."""
    row = conn.execute(
        _in(
            "SELECT room, occurred_at FROM sensor_state WHERE home_id = :home_id "
            "AND kind IN :kinds ORDER BY occurred_at DESC LIMIT 1",
            "kinds",
        ),
        {"home_id": home_id, "kinds": list(ACTIVITY_KINDS)},
    ).first()
    return None if row is None else (row[0], datetime.fromtimestamp(row[1], UTC))


def last_activity_by_home(conn: Connection, home_ids: Sequence[str]) -> dict[str, float]:
    """Each home's latest movement (epoch seconds); homes without one are absent."""
    rows = conn.execute(
        _in(
            "SELECT home_id, MAX(occurred_at) FROM sensor_state WHERE home_id IN :ids "
            "AND kind IN :kinds GROUP BY home_id",
            "ids",
            "kinds",
        ),
        {"ids": list(home_ids), "kinds": list(ACTIVITY_KINDS)},
    )
    return {r[0]: float(r[1]) for r in rows if r[1] is not None}


def _moves_sql(columns: str, with_room: bool) -> TextClause:
    sql = (
        f"SELECT {columns} FROM events WHERE home_id = :home_id "
        f"AND occurred_at >= :start AND occurred_at <= :end AND {SIGN_OF_LIFE} AND kind IN :kinds"
    )
    if with_room:
        sql += " AND room IS NOT NULL"
    return _in(sql + " ORDER BY occurred_at", "kinds")


def _window(home_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "home_id": home_id,
        "start": start.timestamp(),
        "end": end.timestamp(),
        "kinds": list(ACTIVITY_KINDS),
    }


def moves_between(
    conn: Connection, home_id: str, start: datetime, end: datetime, with_room: bool = False
) -> list[tuple[str | None, float]]:
    """(room, epoch seconds) of the home's movement events in [start, end], oldest first."""
    # all() fetches in one call; a year of a busy home is thousands of rows per page.
    rows = conn.execute(_moves_sql("room, occurred_at", with_room), _window(home_id, start, end))
    return [(r[0], r[1]) for r in rows.all()]


def move_times(conn: Connection, home_id: str, start: datetime, end: datetime) -> list[float]:
    """Epoch seconds of the home's movement events in [start, end], oldest first."""
    rows = conn.execute(_moves_sql("occurred_at", False), _window(home_id, start, end))
    return list(rows.scalars().all())


@dataclass(frozen=True, slots=True)
class DayMotion:
    """One day's motion: the first and last event (epoch seconds) and how many."""

    first: float
    last: float
    count: int


def motion_days(conn: Connection, home_id: str, start: datetime, end: datetime) -> list[DayMotion]:
    """Motion per 24-hour day counted from `start`, for days in [start, end) that had any."""
    # Whole days since `start`: SQLite's CAST truncates (the values are never negative here);
    # PostgreSQL's rounds, so it floors.
    day = (
        "FLOOR((occurred_at - :start) / 86400)"
        if conn.dialect.name == "postgresql"
        else "CAST((occurred_at - :start) / 86400 AS INTEGER)"
    )
    rows = conn.execute(
        text(
            "SELECT MIN(occurred_at), MAX(occurred_at), COUNT(*) FROM events "
            "WHERE home_id = :home_id AND occurred_at >= :start AND occurred_at < :end "
            f"AND {SIGN_OF_LIFE} AND kind = 'motion' GROUP BY {day}"
        ),
        {"home_id": home_id, "start": start.timestamp(), "end": end.timestamp()},
    )
    return [DayMotion(float(r[0]), float(r[1]), int(r[2])) for r in rows]


def open_request_counts(conn: Connection, home_ids: Sequence[str]) -> dict[str, int]:
    """How many visit/call requests wait for a worker, per home (homes with none absent)."""
    rows = conn.execute(
        _in(
            "SELECT home_id, COUNT(*) FROM web_requests WHERE home_id IN :ids "
            "AND state IN ('open', 'accepted') GROUP BY home_id",
            "ids",
        ),
        {"ids": list(home_ids)},
    )
    return {r[0]: int(r[1]) for r in rows}


def last_visit_ts(conn: Connection, home_id: str) -> float | None:
    """When a worker last arrived at the home or completed a visit request (epoch seconds)."""
    arrived = conn.execute(
        text("SELECT MAX(arrived_at) FROM alerts WHERE home_id = :id"), {"id": home_id}
    ).scalar()
    visited = conn.execute(
        text(
            "SELECT MAX(updated_at) FROM web_requests WHERE home_id = :id AND kind = 'visit' "
            "AND state = 'done'"
        ),
        {"id": home_id},
    ).scalar()
    values = [float(v) for v in (arrived, visited) if v is not None]
    return max(values) if values else None


# -- residents ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResidentRecord:
    """A resident from the registry import, with the home's care-plan risk."""

    person_id: str
    full_name: str
    birth_date: str | None
    address: str
    mahalla: str
    risk_level: str | None
    home_id: str | None
    languages: list[str]
    contacts: list[dict[str, Any]]


def resident_from(m: RowMapping) -> ResidentRecord:
    """A `web_residents` row joined with `homes.risk_level` as a record."""
    return ResidentRecord(
        person_id=m["person_id"],
        full_name=m["full_name"],
        birth_date=m["birth_date"],
        address=m["address"],
        mahalla=m["mahalla"],
        risk_level=m["risk_level"],
        home_id=m["home_id"],
        languages=json.loads(m["languages"]),
        contacts=json.loads(m["contacts"]),
    )


def resident_of(conn: Connection, home_id: str) -> ResidentRecord | None:
    """The registry record of the home's resident, if imported."""
    row = (
        conn.execute(
            text(
                "SELECT r.*, h.risk_level FROM web_residents r JOIN homes h ON h.id = r.home_id "
                "WHERE r.home_id = :id ORDER BY r.person_id LIMIT 1"
            ),
            {"id": home_id},
        )
        .mappings()
        .first()
    )
    return None if row is None else resident_from(row)


def resident_names(conn: Connection, home_ids: Sequence[str]) -> dict[str, str]:
    """The resident's full name per home (homes without an imported resident absent)."""
    rows = conn.execute(
        _in("SELECT home_id, full_name FROM web_residents WHERE home_id IN :ids", "ids"),
        {"ids": list(home_ids)},
    )
    return {r[0]: r[1] for r in rows}


# -- kits ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KitRecord:
    """A kit's availability and its latest heartbeat."""

    id: str
    home_id: str
    online: bool
    availability_at: datetime | None
    last_heartbeat_at: datetime | None
    heartbeat: dict[str, Any]


def kits_of_homes(
    conn: Connection, home_ids: Sequence[str], kit_id: str | None = None
) -> list[KitRecord]:
    """Kits of some homes (or the one kit), by home then id."""
    if not home_ids:
        return []
    sql = "SELECT * FROM kits WHERE home_id IN :ids"
    params: dict[str, Any] = {"ids": list(home_ids)}
    if kit_id is not None:
        sql += " AND id = :kit_id"
        params["kit_id"] = kit_id
    rows = conn.execute(_in(sql + " ORDER BY home_id, id", "ids"), params).mappings()
    return [
        KitRecord(
            id=r["id"],
            home_id=r["home_id"],
            online=r["availability"] == "online",
            availability_at=_dt(r["availability_at"]),
            last_heartbeat_at=_dt(r["last_heartbeat_at"]),
            heartbeat=json.loads(r["last_heartbeat"]) if r["last_heartbeat"] else {},
        )
        for r in rows
    ]


def kit_home_id(conn: Connection, kit_id: str) -> str | None:
    """The home a kit is installed in."""
    home: str | None = conn.execute(
        text("SELECT home_id FROM kits WHERE id = :id"), {"id": kit_id}
    ).scalar()
    return home


@dataclass(frozen=True, slots=True)
class SensorRecord:
    """A registered sensor."""

    id: str
    kind: str
    room: str


def sensors_of_kit(conn: Connection, kit_id: str) -> list[SensorRecord]:
    """The kit's sensors, by id."""
    rows = conn.execute(
        text("SELECT id, kind, room FROM sensors WHERE kit_id = :kit_id ORDER BY id"),
        {"kit_id": kit_id},
    )
    return [SensorRecord(*r) for r in rows]


def sensor_last_seen(conn: Connection, kit_id: str) -> dict[str, datetime]:
    """When the hub last stored an event of each of the kit's sensors."""
    rows = conn.execute(
        text("SELECT sensor_id, occurred_at FROM sensor_state WHERE kit_id = :kit_id"),
        {"kit_id": kit_id},
    )
    return {r[0]: datetime.fromtimestamp(r[1], UTC) for r in rows}
