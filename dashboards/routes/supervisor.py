"""The supervisor's page: open alerts nobody has taken, each worker's load, and reassigning.

Duty officers, supervisors and admins see the alerts of their mahallas (tenancy through
`visible_homes` and the `VisibleAlert` dependency); a reassignment goes through the engine's
`AlertService.reassign`, which writes the alert's audit row, and is audited as a web action too.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dashboards.accounts import DISTRICT_ROLES, User
from dashboards.alert_actions import OPEN, actor_of
from dashboards.audit import audit
from dashboards.context import AppContext
from dashboards.deps import Ctx, CurrentAuth, Db, VisibleAlert, csrf_protect, require
from dashboards.queries import SEVERITY_RANK
from dashboards.tenancy import visible_homes
from hub.alerts.lifecycle import AlertError
from hub.persistence.web_supervisor import RotaWorker, workers_of_mahallas

__all__ = ["router", "supervisor_data"]

router = APIRouter(
    dependencies=[Depends(csrf_protect), Depends(require(*DISTRICT_ROLES))],
    include_in_schema=False,
)
_UNASSIGNED = frozenset({"raised", "notified"})


def _workers(db: Db, user: User) -> list[RotaWorker]:
    return workers_of_mahallas(db, None if user.all_homes else user.mahallas)


def supervisor_data(ctx: AppContext, db: Db, user: User) -> dict[str, Any]:
    """Unassigned alerts, each worker's open alerts, and whom each alert may go to."""
    homes = {h.id: h for h in visible_homes(db, user)}
    views = ctx.alerts(db).list_alerts(actor_of(user), home_ids=list(homes), states=sorted(OPEN))
    views.sort(key=lambda a: (SEVERITY_RANK.get(a.severity, 9), a.raised_at))
    workers = _workers(db, user)
    load = {w.username: [a for a in views if a.acknowledged_by == f"user:{w.username}"]
            for w in workers}  # fmt: skip
    return {
        "unassigned": [a for a in views if a.state in _UNASSIGNED],
        "held": [a for a in views if a.state not in _UNASSIGNED],
        "workers": workers,
        "load": load,
        "homes": homes,
        # Only a worker of the alert's mahalla may be given it.
        "candidates": {
            a.id: [w for w in workers if homes[a.home_id].mahalla in w.mahallas] for a in views
        },
    }


@router.get("/supervisor", response_class=HTMLResponse)
def supervisor_page(request: Request, ctx: Ctx, db: Db, auth: CurrentAuth) -> Response:
    """Who is on what: unassigned alerts, load per worker, a reassign form per alert."""
    return ctx.render(
        request,
        "supervisor.html",
        auth,
        tz=ctx.alerts_config.district.timezone,
        **supervisor_data(ctx, db, auth.user),
    )


@router.post("/supervisor/alerts/{alert_id}/reassign")
def reassign(
    ctx: Ctx,
    db: Db,
    auth: CurrentAuth,
    found: VisibleAlert,
    to: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Give an open alert to a worker of its mahalla, with a reason (audited)."""
    alert, home = found
    if not reason.strip():
        raise HTTPException(422, "reason: required")
    allowed = {w.username for w in _workers(db, auth.user) if home.mahalla in w.mahallas}
    if to not in allowed:
        raise HTTPException(422, "to: a social worker of the alert's mahalla")
    try:
        ctx.alerts(db).reassign(alert.id, actor_of(auth.user), f"user:{to}", reason)
    except AlertError as exc:
        raise HTTPException(409, str(exc)) from None
    audit(db, auth.user, "alert.reassign", f"alert:{alert.id}", ctx.now(), to=to, reason=reason)
    return RedirectResponse("/supervisor?flash=saved", status_code=303)
