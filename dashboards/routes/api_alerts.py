"""API: the worker's alerts, caseload and requests, and the district report."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from dashboards.accounts import DISTRICT_ROLES, WORKER_ROLES
from dashboards.audit import audit
from dashboards.deps import (
    Ctx,
    CurrentAuth,
    Db,
    VisibleAlert,
    VisibleRequest,
    csrf_protect,
    require,
)
from dashboards.queries import alerts_of, caseload, district_report
from dashboards.routes.api_models import ActionIn, RequestStateIn
from dashboards.routes.worker import act_on_alert
from dashboards.tenancy import visible_homes
from dashboards.visits import RequestError, list_requests, set_state

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    tags=["alerts"],
    dependencies=[Depends(csrf_protect), Depends(require(*WORKER_ROLES))],
)


@router.get("/caseload")
def api_caseload(ctx: Ctx, db: Db, auth: CurrentAuth) -> list[dict[str, Any]]:
    """The user's homes, most urgent first."""
    s = ctx.settings
    return [
        c.to_dict()
        for c in caseload(db, auth.user, ctx.now(), s.stale_heartbeat_s, s.quiet_attention_s)
    ]


@router.get("/alerts")
def api_alerts(db: Db, auth: CurrentAuth) -> list[dict[str, Any]]:
    """Open alerts of the user's homes, most urgent first."""
    ids = [h.id for h in visible_homes(db, auth.user)]
    return [a.to_dict() for a in alerts_of(db, ids)]


@router.get("/alerts/{alert_id}")
def api_alert(ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleAlert) -> dict[str, Any]:
    """One alert with its history."""
    alert, _ = found
    audit(db, auth.user, "view", f"alert:{alert.id}", ctx.now(), via="api")
    return alert.to_dict()


@router.post("/alerts/{alert_id}/actions")
def api_alert_action(
    body: ActionIn, ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleAlert
) -> dict[str, Any]:
    """Acknowledge, on my way, arrived, or resolve (with an outcome)."""
    alert, _ = found
    state = act_on_alert(ctx, db, auth.user, alert.id, body.action, body.comment, body.outcome)
    return {"id": alert.id, "state": state}


@router.get("/requests")
def api_requests(db: Db, auth: CurrentAuth) -> list[dict[str, Any]]:
    """Open visit/call requests of the user's homes."""
    ids = [h.id for h in visible_homes(db, auth.user)]
    return [
        {**r, "created_at": r["created_at"].isoformat(), "updated_at": r["updated_at"].isoformat()}
        for r in list_requests(db, ids)
    ]


@router.post("/requests/{request_id}/state")
def api_request_state(
    body: RequestStateIn, ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleRequest
) -> dict[str, Any]:
    """Accept, complete or cancel a request."""
    req, _ = found
    try:
        set_state(db, int(str(req["id"])), body.state, auth.user.id, ctx.now())
    except RequestError as exc:
        raise HTTPException(409, str(exc)) from None
    audit(db, auth.user, f"request.{body.state}", f"request:{req['id']}", ctx.now())
    return {"id": req["id"], "state": body.state}


@router.get("/district/report", dependencies=[Depends(require(*DISTRICT_ROLES))])
def api_district(
    ctx: Ctx, db: Db, auth: CurrentAuth, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Per mahalla: homes, alerts, time to acknowledge and arrive (default: last 30 days)."""
    start = since or ctx.now() - timedelta(days=30)
    return district_report(db, visible_homes(db, auth.user), start, ctx.now())
