"""The social worker's pages: caseload by urgency, alert actions, requests, resident cards."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dashboards.accounts import WORKER_ROLES, User
from dashboards.alert_actions import (
    OPEN,
    OUTCOMES,
    Action,
    AlertActionError,
    actor_of,
    apply_action,
)
from dashboards.alert_page import alert_page_data
from dashboards.audit import audit
from dashboards.context import AppContext
from dashboards.deps import (
    Ctx,
    CurrentAuth,
    Db,
    VisibleAlert,
    VisibleHome,
    VisibleRequest,
    csrf_protect,
    require,
)
from dashboards.live import sse_response
from dashboards.queries import (
    SEVERITY_RANK,
    caseload,
    home_risk,
    last_visit,
    resident,
    routine_summary,
)
from dashboards.tenancy import visible_homes
from dashboards.views import status_of
from dashboards.visits import RequestError, list_requests, set_state
from hub.alerts.lifecycle import AlertView

__all__ = ["act_on_alert", "open_alerts", "router", "worker_data"]

router = APIRouter(
    dependencies=[Depends(csrf_protect), Depends(require(*WORKER_ROLES))],
    include_in_schema=False,
)


def worker_data(ctx: AppContext, db: Db, user: User) -> dict[str, Any]:
    """The worker's queue: open alerts, open requests and the caseload by urgency."""
    s = ctx.settings
    service = ctx.alerts(db)
    cases = caseload(
        db, user, ctx.now(), s.stale_heartbeat_s, s.quiet_attention_s, service.active_mode
    )
    ids = [c.home.id for c in cases]
    return {
        "cases": cases,
        "alerts": open_alerts(ctx, db, user, ids),
        "requests": list_requests(db, ids),
        "names": {c.home.id: c.resident_name for c in cases},
        "people": ctx.person_names,
    }


def open_alerts(ctx: AppContext, db: Db, user: User, home_ids: list[str]) -> list[AlertView]:
    """Open alerts of these homes through the engine (each listing audited), most urgent first."""
    views = ctx.alerts(db).list_alerts(actor_of(user), home_ids=home_ids, states=sorted(OPEN))
    return sorted(views, key=lambda a: (SEVERITY_RANK.get(a.severity, 9), -a.id))


@router.get("/worker", response_class=HTMLResponse)
def worker_page(request: Request, ctx: Ctx, db: Db, auth: CurrentAuth) -> Response:
    """Caseload, open alerts and requests."""
    return ctx.render(request, "worker.html", auth, **worker_data(ctx, db, auth.user))


@router.get("/worker/panel", response_class=HTMLResponse)
def worker_panel(request: Request, ctx: Ctx, db: Db, auth: CurrentAuth) -> Response:
    """The live part of the worker view."""
    return ctx.render(request, "_worker_panel.html", auth, **worker_data(ctx, db, auth.user))


@router.get("/worker/live")
def worker_live(request: Request, ctx: Ctx, db: Db, auth: CurrentAuth) -> Response:
    """Server-sent events: 'update' whenever anything in the caseload changes."""
    ids = [h.id for h in visible_homes(db, auth.user)]
    return sse_response(request, ctx, ids, lambda conn: {"homes": len(ids)})


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(
    request: Request, ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleAlert
) -> Response:
    """One alert: where to go and whom to call, its story, and the actions."""
    alert, home = found
    audit(db, auth.user, "view", f"alert:{alert.id}", ctx.now())
    data = alert_page_data(ctx, db, auth.user, alert.id, home, can_act=True)
    return ctx.render(request, "alert.html", auth, **data)


def act_on_alert(
    ctx: AppContext, db: Db, user: User, alert_id: int, action: str, comment: str, outcome: str
) -> AlertView:
    """Apply a worker's action through the engine, audited; HTTPException(409/422) if refused.

    Returns the alert as the engine left it (its escalation stopped on acknowledge).
    """
    try:
        act = Action(action)
    except ValueError:
        raise HTTPException(422, f"action: one of {', '.join(a.value for a in Action)}") from None
    if act is Action.RESOLVE and outcome not in OUTCOMES:
        raise HTTPException(422, f"outcome: one of {', '.join(OUTCOMES)}")
    try:
        view = apply_action(ctx.alerts(db), alert_id, act, actor_of(user), comment, outcome)
    except AlertActionError as exc:
        raise HTTPException(409, str(exc)) from None
    audit(db, user, f"alert.{act.value}", f"alert:{alert_id}", ctx.now(), outcome=outcome)
    return view


@router.post("/alerts/{alert_id}/action")
def alert_action(
    ctx: Ctx,
    db: Db,
    auth: CurrentAuth,
    found: VisibleAlert,
    action: Annotated[str, Form()],
    comment: Annotated[str, Form(max_length=1000)] = "",
    outcome: Annotated[str, Form()] = "",
) -> Response:
    """Acknowledge, on my way, arrived, or resolve with an outcome."""
    alert, _ = found
    act_on_alert(ctx, db, auth.user, alert.id, action, comment, outcome)
    return RedirectResponse(f"/alerts/{alert.id}?flash=saved", status_code=303)


@router.post("/requests/{request_id}/state")
def request_state(
    ctx: Ctx, db: Db, auth: CurrentAuth, found: VisibleRequest, state: Annotated[str, Form()]
) -> Response:
    """Accept, complete or cancel a family's request."""
    req, _ = found
    try:
        set_state(db, int(str(req["id"])), state, auth.user.id, ctx.now())
    except RequestError as exc:
        raise HTTPException(409, str(exc)) from None
    audit(db, auth.user, f"request.{state}", f"request:{req['id']}", ctx.now())
    return RedirectResponse("/worker?flash=saved", status_code=303)


def resident_data(ctx: AppContext, db: Db, home_id: str, home: Any) -> dict[str, Any]:
    """The resident card: registry record, status, routine, last visit."""
    return {
        "home": home,
        "person": resident(db, home_id),
        "status": status_of(ctx, db, home),
        "routine": routine_summary(db, home, ctx.now()),
        "visit": last_visit(db, home_id),
        # The core home's care-plan risk (the registry import writes it there).
        "risk": home_risk(db, home_id),
    }


@router.get("/residents/{home_id}", response_class=HTMLResponse)
def resident_page(
    request: Request, ctx: Ctx, db: Db, auth: CurrentAuth, home: VisibleHome
) -> Response:
    """A resident's card."""
    audit(db, auth.user, "view", f"resident:{home.id}", ctx.now())
    return ctx.render(
        request, "resident.html", auth, tz=home.timezone, **resident_data(ctx, db, home.id, home)
    )
