"""Read models: the response-time report, prompt answers, a home at a glance."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from hub.persistence.connection import Connection
from hub.persistence.event_index_terms import SIGN_OF_LIFE
from hub.persistence.timestamps import from_epoch_or_none, to_epoch

__all__ = [
    "AlertTimes",
    "HomeSnapshot",
    "PromptCounts",
    "alert_times",
    "home_snapshot",
    "prompt_counts",
]


@dataclass(frozen=True, slots=True)
class AlertTimes:
    """When one alert was raised, notified, acknowledged and reached, in epoch seconds.

    Seconds, not datetimes: the report computes delays over thousands of these with numpy.
    """

    state: str
    mahalla: str
    raised_s: float
    notified_s: float | None
    acknowledged_s: float | None
    arrived_s: float | None


@dataclass(frozen=True, slots=True)
class PromptCounts:
    """A home's check-in prompts since a moment, by what became of them."""

    asked: int
    unanswered: int
    pending: int


def alert_times(conn: Connection, start: datetime, end: datetime) -> list[AlertTimes]:
    """Alerts raised in [start, end) except an installer's test alerts, oldest first.

    The mahalla is the alert's own, else its home's, else '' (areas and unregistered homes).
    """
    rows = conn.execute(
        "SELECT a.state, a.raised_at, a.notified_at, a.acknowledged_at, a.arrived_at, "
        "COALESCE(NULLIF(a.mahalla, ''), h.mahalla, '') AS mahalla "
        "FROM alerts a LEFT JOIN homes h ON h.id = a.home_id "
        # Alerts of an installer's test mode (state 'test') were never for anyone to answer.
        "WHERE a.raised_at >= :start AND a.raised_at < :end AND a.state != 'test' "
        "ORDER BY a.raised_at",
        {"start": to_epoch(start), "end": to_epoch(end)},
    )
    return [
        AlertTimes(
            state=r[0],
            raised_s=r[1],
            notified_s=r[2],
            acknowledged_s=r[3],
            arrived_s=r[4],
            mahalla=r[5],
        )
        for r in rows
    ]


def prompt_counts(conn: Connection, home_id: str, since: datetime) -> PromptCounts | None:
    """Prompts a home was asked since `since`; None when the alert engine's tables are absent.

    Asked: an `ask_resident` audit row; unanswered: `resident_no_answer`; pending: still held
    waiting for the answer.
    """
    try:
        row = conn.execute(
            "SELECT"
            " SUM(CASE WHEN u.action = 'ask_resident' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN u.action = 'resident_no_answer' THEN 1 ELSE 0 END),"
            " (SELECT COUNT(*) FROM alert_escalations e JOIN alerts b ON b.id = e.alert_id"
            "  WHERE b.home_id = :home AND e.hold = 'asking' AND e.done = 0"
            "  AND e.ask_started_at >= :since)"
            " FROM alert_audit u JOIN alerts a ON a.id = u.alert_id"
            " WHERE a.home_id = :home AND u.at >= :since"
            " AND u.action IN ('ask_resident', 'resident_no_answer')",
            {"home": home_id, "since": to_epoch(since)},
        ).fetchone()
    except sqlite3.OperationalError:
        return None  # no alert engine on this hub: its tables were never created
    asked, unanswered, pending = (int(x or 0) for x in row)
    return PromptCounts(asked, unanswered, pending)


# -- a home at a glance (Home Assistant) ---------------------------------------------------------

# Kinds whose events (other than a `false` reading) show someone is up and about.
_LIFE_SIGNS = ("motion", "door", "occupancy", "appliance", "help_button", "ok_button")


@dataclass(frozen=True, slots=True)
class HomeSnapshot:
    """What a family's at-a-glance view is made of."""

    open_alert_severities: frozenset[str]
    kit_availability: tuple[str | None, ...]
    last_sign_of_life: datetime | None
    lowest_battery: float | None


def home_snapshot(conn: Connection, home_id: str) -> HomeSnapshot:
    """Open alerts' severities, each kit's availability, the last sign of life, the battery."""
    params = {"home": home_id}
    severities = frozenset(
        str(r[0])
        for r in conn.execute(
            "SELECT severity FROM alerts WHERE home_id = :home "
            "AND state IN ('raised', 'notified', 'acknowledged')",
            params,
        )
    )
    kits = tuple(
        r[0] for r in conn.execute("SELECT availability FROM kits WHERE home_id = :home", params)
    )
    kinds = ", ".join(f"'{kind}'" for kind in _LIFE_SIGNS)
    last = conn.execute(
        f"SELECT MAX(occurred_at) FROM events WHERE home_id = :home AND {SIGN_OF_LIFE} "
        f"AND kind IN ({kinds}) "
        "AND value != 'false'",
        params,
    ).fetchone()[0]
    battery = conn.execute(
        "SELECT MIN(CAST(value AS REAL)) FROM sensor_state WHERE home_id = :home "
        "AND kind = 'battery'",
        params,
    ).fetchone()[0]
    return HomeSnapshot(
        open_alert_severities=severities,
        kit_availability=kits,
        last_sign_of_life=from_epoch_or_none(last),
        lowest_battery=None if battery is None else float(battery),
    )
