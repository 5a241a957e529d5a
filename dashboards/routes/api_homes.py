"""API: homes (status, timeline, week, away mode, requests, resident card, live stream)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from dashboards.accounts import WORKER_ROLES
from dashboards.alert_actions import (
    AlertActionError,
    actor_of,
    alert_dict,
    clear_away,
    set_away,
)
from dashboards.audit import audit
from dashboards.deps import Ctx, CurrentAuth, Db, VisibleHome, csrf_protect, require
from dashboards.live import sse_response
from dashboards.openapi import refusals
from dashboards.queries import alerts_of
from dashboards.routes.api_models import (
    AlertOut,
    AwayIn,
    AwayOut,
    CreatedRequestOut,
    HomeOut,
    HomeStatusOut,
    OkOut,
    RequestIn,
    ResidentOut,
)
from dashboards.routes.family import FAMILY_VIEW_ROLES
from dashboards.routes.worker import resident_data
from dashboards.tenancy import visible_homes
from dashboards.views import family_data, status_of
from dashboards.visits import RequestError, create_request

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    tags=["homes"],
    dependencies=[Depends(csrf_protect), Depends(require(*FAMILY_VIEW_ROLES))],
    responses=refusals(401, 403),
)


@router.get("/homes", response_model=list[HomeStatusOut])
def api_homes(ctx: Ctx, db: Db, auth: CurrentAuth) -> list[dict[str, Any]]:
    """The homes this user may see, with their status."""
    return [status_of(ctx, db, h).to_dict() for h in visible_homes(db, auth.user)[:1000]]


@router.get("/homes/{home_id}", response_model=HomeOut, responses=refusals(404))
def api_home(ctx: Ctx, db: Db, auth: CurrentAuth, home: VisibleHome) -> dict[str, Any]:
    """Everything the family page shows, as data."""
    audit(db, auth.user, "view", f"home:{home.id}", ctx.now(), via="api")
    data = family_data(ctx, db, home, auth.user.lang, with_charts=False)
    return {
        "status": data["status"].to_dict(),
        "today": [
            {
                "room": s.room,
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
                "events": s.events,
            }
            for s in data["segments"]
        ],
        "week": [
            {"day": d.day, "movements": d.movements, "sleep_hours": d.sleep_hours}
            for d in data["week"]
        ],
        "contacts": data["contacts"],
        "requests": [
            {
                **r,
                "created_at": r["created_at"].isoformat(),
                "updated_at": r["updated_at"].isoformat(),
            }
            for r in data["requests"]
        ],
    }


@router.get("/homes/{home_id}/alerts", response_model=list[AlertOut], responses=refusals(404, 422))
def api_home_alerts(db: Db, home: VisibleHome, all: bool = False) -> list[dict[str, Any]]:
    """The home's alerts (open ones unless all=true)."""
    return [alert_dict(a) for a in alerts_of(db, [home.id], open_only=not all)]


@router.put("/homes/{home_id}/away", response_model=AwayOut, responses=refusals(404, 415, 422))
def api_set_away(
    body: AwayIn, ctx: Ctx, db: Db, auth: CurrentAuth, home: VisibleHome
) -> dict[str, Any]:
    """Switch on away/holiday/visitor mode until a time (the engine's home mode)."""
    try:
        mode = set_away(ctx.alerts(db), home.id, body.mode, body.until, actor_of(auth.user))
    except AlertActionError as exc:
        raise HTTPException(422, str(exc)) from None
    audit(db, auth.user, "away.set", f"home:{home.id}", ctx.now(), mode=body.mode)
    return {"mode": mode.mode, "until": mode.ends_at.isoformat(), "set_by": mode.set_by}


@router.delete("/homes/{home_id}/away", response_model=OkOut, responses=refusals(404))
def api_clear_away(ctx: Ctx, db: Db, auth: CurrentAuth, home: VisibleHome) -> dict[str, bool]:
    """End away mode."""
    clear_away(ctx.alerts(db), home.id, actor_of(auth.user))
    audit(db, auth.user, "away.clear", f"home:{home.id}", ctx.now())
    return {"ok": True}


@router.post(
    "/homes/{home_id}/requests",
    status_code=201,
    response_model=CreatedRequestOut,
    responses=refusals(404, 415, 422),
)
def api_request(
    body: RequestIn, ctx: Ctx, db: Db, auth: CurrentAuth, home: VisibleHome
) -> dict[str, Any]:
    """Ask the social worker for a visit or a call."""
    try:
        rid = create_request(db, home.id, body.kind, body.note, auth.user.id, ctx.now())
    except RequestError as exc:
        raise HTTPException(422, str(exc)) from None
    audit(db, auth.user, "request.create", f"home:{home.id}", ctx.now(), request=rid)
    return {"id": rid, "state": "open"}


@router.get(
    "/homes/{home_id}/resident",
    dependencies=[Depends(require(*WORKER_ROLES))],
    response_model=ResidentOut,
    responses=refusals(404),
)
def api_resident(ctx: Ctx, db: Db, auth: CurrentAuth, home: VisibleHome) -> dict[str, Any]:
    """The resident card (workers only)."""
    audit(db, auth.user, "view", f"resident:{home.id}", ctx.now(), via="api")
    data = resident_data(ctx, db, home.id, home)
    return {
        "home_id": home.id,
        "person": data["person"],
        "status": data["status"].to_dict(),
        "routine": data["routine"],
        "last_visit": data["visit"].isoformat() if data["visit"] else None,
    }


@router.get(
    "/homes/{home_id}/live",
    response_class=Response,
    responses={
        200: {
            "description": "`event: update` with the home's status (HomeStatusOut) as its "
            "JSON data on every change, for at most the server's live_max_s.",
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"$ref": "#/components/schemas/HomeStatusOut"},
                    }
                }
            },
        },
        **refusals(404),
    },
)
def api_live(request: Request, ctx: Ctx, home: VisibleHome) -> Response:
    """Server-sent events with the home's status whenever it changes."""
    return sse_response(request, ctx, [home.id], lambda conn: status_of(ctx, conn, home).to_dict())
