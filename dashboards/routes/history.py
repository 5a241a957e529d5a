"""Past alerts: the last 30 days' closed alerts of the reader's homes (a family's homes, a
worker's caseload), each with how it ended and who took it, linking to its story."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dashboards.accounts import User
from dashboards.alert_actions import actor_of
from dashboards.alert_page import alert_page_data
from dashboards.audit import audit
from dashboards.context import AppContext
from dashboards.deps import Ctx, CurrentAuth, Db, VisibleAlert, csrf_protect, require
from dashboards.routes.family import FAMILY_VIEW_ROLES
from dashboards.tenancy import HomeRow, visible_homes
from hub.alerts.lifecycle import AlertState, AlertView

__all__ = ["HISTORY_DAYS", "PastAlert", "past_alerts", "router"]

router = APIRouter(
    dependencies=[Depends(csrf_protect), Depends(require(*FAMILY_VIEW_ROLES))],
    include_in_schema=False,
)

HISTORY_DAYS: Final = 30
# Closed for good; an installer's test alerts are not part of anyone's history.
_PAST: Final = (AlertState.RESOLVED, AlertState.CANCELLED, AlertState.SUPPRESSED)
# The newest this many: a month of a large caseload still fits one page.
_LIMIT: Final = 200


@dataclass(frozen=True, slots=True)
class PastAlert:
    """One line of the history: the alert, its home, when (the home's local time), the link."""

    alert: AlertView
    home: HomeRow
    when: str
    link: str


def past_alerts(ctx: AppContext, db: Db, user: User) -> list[PastAlert]:
    """Closed alerts raised in the last 30 days in the user's homes, newest first; the listing
    is audited by the engine, alert by alert."""
    homes = {h.id: h for h in visible_homes(db, user)}
    if not homes:
        return []
    since = ctx.now() - timedelta(days=HISTORY_DAYS)
    views = ctx.alerts(db).list_alerts(
        actor_of(user), home_ids=sorted(homes), states=[s.value for s in _PAST], limit=_LIMIT
    )
    # Workers act on the alert page; a family reads the same story without the buttons.
    base = "/alerts/" if user.is_worker else "/history/"
    out = []
    for view in views:
        if view.raised_at < since:
            continue
        home = homes[view.home_id]
        when = view.raised_at.astimezone(ZoneInfo(home.timezone)).strftime("%d.%m %H:%M")
        out.append(PastAlert(view, home, when, f"{base}{view.id}"))
    return out


@router.get("/history", response_class=HTMLResponse)
def history_page(request: Request, ctx: Ctx, db: Db, auth: CurrentAuth) -> Response:
    """The reader's past alerts."""
    rows = past_alerts(ctx, db, auth.user)
    return ctx.render(request, "history.html", auth, rows=rows, days=HISTORY_DAYS)


@router.get("/history/{alert_id}", response_class=HTMLResponse)
def past_alert_page(
    request: Request, ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleAlert
) -> Response:
    """One alert and its story, read only (the family's view of an alert)."""
    alert, home = found
    audit(db, auth.user, "view", f"alert:{alert.id}", ctx.now())
    data = alert_page_data(ctx, db, auth.user, alert.id, home, can_act=False)
    return ctx.render(request, "alert.html", auth, **data)
