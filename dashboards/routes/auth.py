"""Signing in and out, the start page, and language / text-size preferences."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dashboards.accounts import LANGS, Passwords, Role, User, get_user_by_name, set_preferences
from dashboards.audit import audit
from dashboards.context import LANG_COOKIE, LARGE_COOKIE, SESSION_COOKIE, AppContext
from dashboards.deps import Ctx, Db, MaybeAuth, csrf_protect
from dashboards.i18n import translator
from dashboards.sessions import (
    clear_failures,
    create_session,
    delete_session,
    throttle_or_mark,
)
from dashboards.tenancy import visible_homes

__all__ = ["LoginResult", "authenticate", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A login's outcome: the user, or why not (and how long to wait when throttled)."""

    user: User | None
    error: str | None = None  # 'login_failed' | 'login_throttled'
    retry_after_s: float = 0.0

    def retry_after(self) -> dict[str, str]:
        """The Retry-After header of a throttled answer (none otherwise)."""
        if self.error != "login_throttled":
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_s)))}


def authenticate(
    ctx: AppContext, db: Db, passwords: Passwords, username: str, password: str, address: str
) -> LoginResult:
    """Check a login, slowed down per (username, address) and per address (never per account)."""
    now = ctx.now()
    rule = ctx.settings.login_throttle()
    # Check and mark in one write transaction, before the slow hash: each attempt counts as a
    # failure until its password proves right, so a burst of parallel guesses is throttled too.
    wait = throttle_or_mark(db, username, address, now, rule)
    if wait > 0:
        audit(db, None, "login.throttled", f"user:{username}", now, address)
        return LoginResult(None, "login_throttled", wait)
    found = get_user_by_name(db, username)
    if not passwords.verify(found[1] if found else None, password) or found is None:
        audit(db, None, "login.failed", f"user:{username}", now, address)
        return LoginResult(None, "login_failed")
    clear_failures(db, username, address)
    audit(db, found[0], "login", f"user:{username}", now, address)
    return LoginResult(found[0])


def start_page(user: User, db: Db) -> str:
    """Where a user lands after signing in."""
    if user.role is Role.FAMILY:
        homes = visible_homes(db, user)
        return f"/homes/{homes[0].id}" if len(homes) == 1 else "/homes"
    if user.role is Role.INSTALLER:
        return "/installer"
    return "/worker"


@router.get("/", response_class=HTMLResponse)
def index(auth: MaybeAuth, db: Db) -> Response:
    """Send each role to its own view."""
    if auth is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(start_page(auth.user, db), status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: Ctx, auth: MaybeAuth) -> Response:
    """The login form."""
    return ctx.render(request, "login.html", None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    ctx: Ctx,
    db: Db,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
) -> Response:
    """Check the password (rate-limited), start a session and set its cookie."""
    result = authenticate(ctx, db, ctx.passwords, username, password, _address(request))
    user = result.user
    if user is None:
        t = translator(ctx.lang_of(request, None))
        code = 429 if result.error == "login_throttled" else 401
        page = ctx.render(
            request,
            "login.html",
            None,
            status_code=code,
            error=t(result.error or ""),
            username=username,
        )
        page.headers.update(result.retry_after())
        return page
    token, _ = create_session(db, user.id, ctx.now(), ctx.settings.session_hours)
    response = RedirectResponse(start_page(user, db), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ctx.settings.session_hours * 3600),
        httponly=True,
        secure=ctx.settings.cookie_secure,
        samesite="lax",
    )
    return response


@router.post("/logout")
def logout(request: Request, ctx: Ctx, db: Db, auth: MaybeAuth) -> Response:
    """End the session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        delete_session(db, token)
    if auth is not None:
        audit(db, auth.user, "logout", f"user:{auth.user.username}", ctx.now(), _address(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/preferences")
def preferences(
    request: Request,
    ctx: Ctx,
    db: Db,
    auth: MaybeAuth,
    lang: Annotated[str, Form()],
    large: Annotated[str | None, Form()] = None,
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Switch language and text size; remembered on the account (and in a cookie)."""
    lang = lang if lang in LANGS else "uz"
    big = large == "1"
    if auth is not None:
        set_preferences(db, auth.user.id, lang=lang, large=big)
    # Only local paths: a crafted `next` must not send the user elsewhere.
    target = (
        next
        if next.startswith("/") and not next.startswith("//") and not urlsplit(next).netloc
        else "/"
    )
    response = RedirectResponse(target, status_code=303)
    secure = ctx.settings.cookie_secure
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=secure)
    response.set_cookie(
        LARGE_COOKIE, "1" if big else "0", max_age=365 * 86400, samesite="lax", secure=secure
    )
    return response
