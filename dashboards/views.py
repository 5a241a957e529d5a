"""Data for whole pages, shared by the HTML routes and the JSON API so both show the same."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from dashboards.charts import timeline_svg, week_svg
from dashboards.context import AppContext
from dashboards.i18n import translator
from dashboards.queries import HomeStatus, home_status, resident, timeline, week_activity
from dashboards.tenancy import HomeRow
from dashboards.visits import list_requests
from hub.persistence.accounts import mahalla_workers
from mehr.catalogue import room_name

__all__ = ["contacts_for", "family_data", "status_of"]


def status_of(ctx: AppContext, db: Connection, home: HomeRow) -> HomeStatus:
    """The home's status with this app's thresholds."""
    s = ctx.settings
    now = ctx.now()
    away = ctx.alerts(db).active_mode(home.id, now)
    return home_status(db, home, now, s.stale_heartbeat_s, s.quiet_attention_s, away)


def contacts_for(db: Connection, home: HomeRow) -> list[dict[str, str]]:
    """Who will be called: the resident's family contacts, then the mahalla's social workers."""
    person = resident(db, home.id)
    out = [
        {"name": str(c.get("name", "")), "role": "family", "phone": str(c.get("phone", ""))}
        for c in (person or {}).get("contacts", [])
    ]
    out += [
        {"name": w.name, "role": "worker", "phone": w.phone}
        for w in mahalla_workers(db, home.mahalla)
    ]
    return out


def family_data(
    ctx: AppContext, db: Connection, home: HomeRow, lang: str, with_charts: bool = True
) -> dict[str, Any]:
    """Everything on the family page: status, today's rooms, the week, contacts, requests."""
    now = ctx.now()
    status = status_of(ctx, db, home)
    segments = timeline(db, home, now)
    week = week_activity(db, home, now)
    data: dict[str, Any] = {
        "status": status,
        "segments": segments,
        "week": week,
        "contacts": contacts_for(db, home),
        "requests": list_requests(db, [home.id], open_only=False, limit=5),
    }
    if with_charts:
        t = translator(lang)
        tz = ZoneInfo(home.timezone)
        # The chart names rooms in the reader's language ("Kitchen" on a Russian page: "Кухня").
        rooms = [replace(seg, room=room_name(seg.room, lang)) for seg in segments]
        data["timeline_svg"] = timeline_svg(rooms, tz, now, t("today_title"))
        data["week_svg"] = week_svg(
            week, t("week_title"), t("movements"), t("rest_hours"), t("unit_hours")
        )
    return data
