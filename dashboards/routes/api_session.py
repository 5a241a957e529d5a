"""API: bearer sessions for apps, and the signed-in user."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request

from dashboards.accounts import set_preferences
from dashboards.deps import Ctx, CurrentAuth, Db, csrf_protect
from dashboards.openapi import refusals
from dashboards.routes.api_models import LoginIn, LoginOut, MeOut, OkOut, PreferencesIn
from dashboards.routes.auth import authenticate
from dashboards.sessions import create_session, delete_session

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["session"])


@router.post("/login", response_model=LoginOut, responses=refusals(401, 415, 422, 429))
def api_login(body: LoginIn, request: Request, ctx: Ctx, db: Db) -> LoginOut:
    """Exchange credentials for a bearer token (rate-limited like the login form)."""
    address = request.client.host if request.client else ""
    result = authenticate(ctx, db, ctx.passwords, body.username, body.password, address)
    user = result.user
    if user is None:
        code = 429 if result.error == "login_throttled" else 401
        raise HTTPException(code, result.error, headers=result.retry_after() or None)
    token, session = create_session(db, user.id, ctx.now(), ctx.settings.session_hours)
    return LoginOut(token=token, csrf=session.csrf, expires_at=session.expires_at)


@router.post(
    "/logout",
    dependencies=[Depends(csrf_protect)],
    response_model=OkOut,
    responses=refusals(401, 403),
)
def api_logout(request: Request, db: Db, auth: CurrentAuth) -> OkOut:
    """End the current session (bearer or cookie)."""
    header = request.headers.get("authorization", "")
    token = (
        header[7:].strip()
        if header.lower().startswith("bearer ")
        else request.cookies.get("mehr_session", "")
    )
    delete_session(db, token)
    return OkOut(ok=True)


@router.get("/me", response_model=MeOut, responses=refusals(401))
def api_me(auth: CurrentAuth) -> MeOut:
    """Who is signed in, their role, language and scope."""
    u = auth.user
    return MeOut(
        username=u.username,
        display_name=u.display_name,
        role=u.role,
        lang=u.lang,  # type: ignore[arg-type]  # accounts keep only uz/ru/en (LANGS)
        large_text=u.large_text,
        homes=sorted(u.homes),
        mahallas=sorted(u.mahallas),
        all_homes=u.all_homes,
    )


@router.post(
    "/me/preferences",
    dependencies=[Depends(csrf_protect)],
    response_model=OkOut,
    responses=refusals(401, 403, 415, 422),
)
def api_preferences(body: PreferencesIn, db: Db, auth: CurrentAuth) -> OkOut:
    """Remember language and text size."""
    set_preferences(db, auth.user.id, lang=body.lang, large=body.large_text)
    return OkOut(ok=True)
