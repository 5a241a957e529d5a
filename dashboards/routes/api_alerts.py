"""API: the worker's alerts, caseload and requests, and the district report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from dashboards.accounts import WORKER_ROLES
from dashboards.alert_actions import actor_of, alert_dict, changes
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
from dashboards.openapi import refusals
from dashboards.queries import caseload
from dashboards.routes.api_models import (
    ActionIn,
    AlertOut,
    CaseOut,
    RequestOut,
    RequestStateIn,
    RequestStateOut,
)
from dashboards.routes.worker import act_on_alert, open_alerts
from dashboards.tenancy import visible_homes
from dashboards.visits import RequestError, list_requests, set_state

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    tags=["alerts"],
    dependencies=[Depends(csrf_protect), Depends(require(*WORKER_ROLES))],
    responses=refusals(401, 403),
)


@router.get("/caseload", response_model=list[CaseOut])
def api_caseload(ctx: Ctx, db: Db, auth: CurrentAuth) -> list[dict[str, Any]]:
    """The user's homes, most urgent first."""
    s = ctx.settings
    in_mode = ctx.alerts(db).active_mode
    return [
        c.to_dict()
        for c in caseload(
            db, auth.user, ctx.now(), s.stale_heartbeat_s, s.quiet_attention_s, in_mode
        )
    ]


@router.get("/alerts", response_model=list[AlertOut])
def api_alerts(ctx: Ctx, db: Db, auth: CurrentAuth) -> list[dict[str, Any]]:
    """Open alerts of the user's homes, most urgent first (state and progress as the engine's)."""
    ids = [h.id for h in visible_homes(db, auth.user)]
    names = ctx.person_names
    return [alert_dict(a, names=names) for a in open_alerts(ctx, db, auth.user, ids)]


@router.get("/alerts/{alert_id}", response_model=AlertOut, responses=refusals(404, 422))
def api_alert(ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleAlert) -> dict[str, Any]:
    """One alert with its history (the engine's audit trail of changes)."""
    alert, _ = found
    audit(db, auth.user, "view", f"alert:{alert.id}", ctx.now(), via="api")
    service = ctx.alerts(db)
    view = service.get_alert(alert.id, actor_of(auth.user))
    return alert_dict(view, changes(service, alert.id), ctx.person_names)


@router.post(
    "/alerts/{alert_id}/actions",
    response_model=AlertOut,
    responses=refusals(404, 409, 415, 422),
)
def api_alert_action(
    body: ActionIn, ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleAlert
) -> dict[str, Any]:
    """Acknowledge (stops escalation), on my way, arrived, or resolve (with an outcome)."""
    alert, _ = found
    view = act_on_alert(ctx, db, auth.user, alert.id, body.action, body.comment, body.outcome)
    return alert_dict(view, names=ctx.person_names)


@router.get("/requests", response_model=list[RequestOut])
def api_requests(db: Db, auth: CurrentAuth) -> list[dict[str, Any]]:
    """Open visit/call requests of the user's homes."""
    ids = [h.id for h in visible_homes(db, auth.user)]
    return [
        {**r, "created_at": r["created_at"].isoformat(), "updated_at": r["updated_at"].isoformat()}
        for r in list_requests(db, ids)
    ]


@router.post(
    "/requests/{request_id}/state",
    response_model=RequestStateOut,
    responses=refusals(404, 409, 415, 422),
)
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
