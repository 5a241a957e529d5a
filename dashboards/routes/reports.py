"""The service report (time to notify, acknowledge, arrive per mahalla vs. the telecare anchors).

Page and API both call the engine's `hub.alerts.report.response_report`; this module only picks
the period and cuts the result to what the user may see: the district total for duty officers,
supervisors and admins, and the mahallas of the homes in the user's scope.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from dashboards.accounts import DISTRICT_ROLES, WORKER_ROLES, User
from dashboards.audit import audit
from dashboards.context import AppContext
from dashboards.deps import Ctx, CurrentAuth, Db, csrf_protect, require
from dashboards.openapi import refusals
from dashboards.routes.api_models import ResponseReportOut
from dashboards.tenancy import visible_homes
from hub.alerts.report import ANCHORS, response_report
from hub.persistence.web_database import driver_connection

__all__ = ["router", "scoped_report"]

router = APIRouter(dependencies=[Depends(csrf_protect), Depends(require(*WORKER_ROLES))])
_DEFAULT_DAYS = 30
_NO_MAHALLA = "(none)"  # how response_report names alerts of homes without a mahalla


def _period(
    ctx: AppContext, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """[start, end), default the last 30 days; times without an offset are district-local."""
    zone = ZoneInfo(ctx.alerts_config.district.timezone)
    try:
        end = end or ctx.now()
        start = start or end - timedelta(days=_DEFAULT_DAYS)
        start, end = (t if t.tzinfo else t.replace(tzinfo=zone) for t in (start, end))
        for moment in (start, end):
            moment.timestamp()  # the query needs both; near year 1 or 9999 they may not fit
    except (OverflowError, ValueError):
        # Found by bench/fuzz_api.py: to=0001-01-01T01:07Z made the default start overflow (500).
        raise HTTPException(422, "from/to: out of range (years 1 to 9999)") from None
    if start >= end:
        raise HTTPException(422, "from: must be before to")
    return start, end


def scoped_report(db: Db, user: User, start: datetime, end: datetime) -> dict[str, Any]:
    """response_report for [start, end), cut to the user's mahallas (tenancy)."""
    report = response_report(driver_connection(db), start, end)
    if not user.all_homes:
        mine = {h.mahalla or _NO_MAHALLA for h in visible_homes(db, user)}
        report["mahallas"] = {k: v for k, v in report["mahallas"].items() if k in mine}
    if user.role not in DISTRICT_ROLES:
        # The district total includes other mahallas' alerts: district roles only.
        report.pop("district")
    return report


@router.get("/reports/response", response_class=HTMLResponse, include_in_schema=False)
def report_page(
    request: Request,
    ctx: Ctx,
    db: Db,
    auth: CurrentAuth,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> Response:
    """The response-time report for a period (default: the last 30 days)."""
    first, last = _period(ctx, start, end)
    audit(db, auth.user, "view", "report:response", ctx.now())
    zone = ZoneInfo(ctx.alerts_config.district.timezone)
    return ctx.render(
        request,
        "report.html",
        auth,
        tz=ctx.alerts_config.district.timezone,
        report=scoped_report(db, auth.user, first, last),
        anchors=ANCHORS,
        start=first.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        end=last.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
    )


@router.get(
    "/api/v1/reports/response",
    tags=["reports"],
    response_model=ResponseReportOut,
    # A role without the district total gets no `district` key at all, as before.
    response_model_exclude_unset=True,
    responses=refusals(401, 403, 422),
)
def api_report(
    ctx: Ctx,
    db: Db,
    auth: CurrentAuth,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """Time to notify, acknowledge and arrive per mahalla (and district) against the anchors."""
    first, last = _period(ctx, start, end)
    audit(db, auth.user, "view", "report:response", ctx.now(), via="api")
    report = scoped_report(db, auth.user, first, last)
    # The period as moments, not the engine's text: near year 1 the zone's offset has seconds
    # (LMT +04:37:11), which no date-time parser reads back.
    report.update({"from": first, "to": last})
    return report
