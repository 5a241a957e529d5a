"""The family's pages: status at a glance, today's rooms, the week, away mode, requests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dashboards.accounts import Role
from dashboards.alert_actions import AlertActionError, actor_of, clear_away, set_away
from dashboards.audit import audit
from dashboards.deps import Ctx, CurrentAuth, Db, VisibleHome, csrf_protect, require
from dashboards.live import sse_response
from dashboards.tenancy import visible_homes
from dashboards.views import family_data, status_of
from dashboards.visits import RequestError, create_request

__all__ = ["FAMILY_VIEW_ROLES", "router"]

# Installers see kits, never residents' lives.
FAMILY_VIEW_ROLES = (
    Role.FAMILY,
    Role.SOCIAL_WORKER,
    Role.DUTY_OFFICER,
    Role.SUPERVISOR,
    Role.ADMIN,
)
router = APIRouter(
    dependencies=[Depends(csrf_protect), Depends(require(*FAMILY_VIEW_ROLES))],
    include_in_schema=False,
)


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


@router.get("/homes", response_class=HTMLResponse)
def homes_page(request: Request, ctx: Ctx, db: Db, auth: CurrentAuth) -> Response:
    """The family's homes (usually one)."""
    statuses = [status_of(ctx, db, h) for h in visible_homes(db, auth.user)[:200]]
    return ctx.render(request, "homes.html", auth, statuses=statuses)


@router.get("/homes/{home_id}", response_class=HTMLResponse)
def family_page(
    request: Request, ctx: Ctx, db: Db, auth: CurrentAuth, home: VisibleHome
) -> Response:
    """The family view of one home."""
    audit(db, auth.user, "view", f"home:{home.id}", ctx.now(), _address(request))
    data = family_data(ctx, db, home, ctx.lang_of(request, auth))
    return ctx.render(request, "family.html", auth, tz=home.timezone, **data)


@router.get("/homes/{home_id}/panel", response_class=HTMLResponse)
def family_panel(
    request: Request, ctx: Ctx, db: Db, auth: CurrentAuth, home: VisibleHome
) -> Response:
    """The live part of the family view, fetched again on every live update."""
    data = family_data(ctx, db, home, ctx.lang_of(request, auth))
    return ctx.render(request, "_family_panel.html", auth, tz=home.timezone, **data)


@router.get("/homes/{home_id}/live")
def family_live(request: Request, ctx: Ctx, home: VisibleHome) -> Response:
    """Server-sent events: 'update' whenever this home's data changes."""
    return sse_response(request, ctx, [home.id], lambda conn: status_of(ctx, conn, home).to_dict())


@router.post("/homes/{home_id}/away")
def family_away(
    ctx: Ctx,
    db: Db,
    auth: CurrentAuth,
    home: VisibleHome,
    mode: Annotated[str, Form()],
    until: Annotated[str, Form()] = "",
) -> Response:
    """Switch away/holiday/visitor mode on until a time (the home's local time), or off.

    The engine's home modes: inactivity is then not alerted; help and falls always are.
    """
    now = ctx.now()
    service = ctx.alerts(db)
    if mode == "off":
        clear_away(service, home.id, actor_of(auth.user))
    else:
        try:
            end = datetime.fromisoformat(until)
        except ValueError:
            raise HTTPException(422, "until: a date and time is needed") from None
        if end.tzinfo is None:
            end = end.replace(tzinfo=ZoneInfo(home.timezone))
        try:
            set_away(service, home.id, mode, end, actor_of(auth.user))
        except AlertActionError as exc:
            raise HTTPException(422, str(exc)) from None
    audit(db, auth.user, "away.set", f"home:{home.id}", now, mode=mode, until=until)
    return RedirectResponse(f"/homes/{home.id}?flash=saved", status_code=303)


@router.post("/homes/{home_id}/requests")
def family_request(
    ctx: Ctx,
    db: Db,
    auth: CurrentAuth,
    home: VisibleHome,
    kind: Annotated[str, Form()],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Ask the social worker for a visit or a call."""
    try:
        rid = create_request(db, home.id, kind, note, auth.user.id, ctx.now())
    except RequestError as exc:
        raise HTTPException(422, str(exc)) from None
    audit(db, auth.user, "request.create", f"home:{home.id}", ctx.now(), request=rid, kind=kind)
    return RedirectResponse(f"/homes/{home.id}?flash=request_sent", status_code=303)
