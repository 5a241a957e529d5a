"""FastAPI dependencies: the database, the current user, CSRF, roles, and tenancy (in one place).

Every route that touches a home, an alert, a kit or a request gets it through a `Visible*`
dependency, which asks dashboards.tenancy; handlers never check tenancy themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from sqlalchemy import Connection

from dashboards.accounts import Role, User, get_user
from dashboards.context import ANON_COOKIE, SESSION_COOKIE, AppContext, Auth
from dashboards.queries import AlertView, alert_view
from dashboards.sessions import check_anon_csrf, load_session
from dashboards.tenancy import HomeRow, home_if_visible, kit_scope
from hub.persistence.read_models import alert_home_id, kit_home_id
from hub.persistence.visits import request_by_id

__all__ = [
    "Ctx",
    "CurrentAuth",
    "CurrentUser",
    "Db",
    "KitViewer",
    "MaybeAuth",
    "NotAuthenticatedError",
    "RowId",
    "VisibleAlert",
    "VisibleHome",
    "VisibleKit",
    "VisibleRequest",
    "csrf_protect",
    "require",
]

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
# Row ids in paths fit SQLite's INTEGER (found by bench/fuzz_api.py: a 30-digit id was a 500).
RowId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


class NotAuthenticatedError(Exception):
    """No valid session: pages redirect to the login page, the API answers 401."""


def get_ctx(request: Request) -> AppContext:
    """The app instance's context."""
    ctx: AppContext = request.app.state.mehr
    return ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


def get_db(ctx: Ctx) -> Iterator[Connection]:
    """One connection per request, closed afterwards."""
    conn = ctx.db.connect()
    try:
        yield conn
    finally:
        conn.close()


Db = Annotated[Connection, Depends(get_db)]


def _token(request: Request) -> tuple[str | None, bool]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None, True
    return request.cookies.get(SESSION_COOKIE), False


def get_auth_optional(request: Request, ctx: Ctx, db: Db) -> Auth | None:
    """The session's user, or None when not signed in."""
    token, bearer = _token(request)
    if not token:
        return None
    session = load_session(db, token, ctx.now())
    if session is None:
        return None
    user = get_user(db, session.user_id)
    return None if user is None else Auth(user, session, bearer)


MaybeAuth = Annotated[Auth | None, Depends(get_auth_optional)]


def get_auth(auth: MaybeAuth) -> Auth:
    """The signed-in user's session, or NotAuthenticatedError."""
    if auth is None:
        raise NotAuthenticatedError
    return auth


CurrentAuth = Annotated[Auth, Depends(get_auth)]


def get_current_user(auth: CurrentAuth) -> User:
    """The signed-in user."""
    return auth.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def csrf_protect(request: Request, ctx: Ctx, auth: MaybeAuth) -> None:
    """Refuse an unsafe request whose CSRF token does not match (bearer-token calls excepted)."""
    if request.method in _SAFE or (auth is not None and auth.bearer):
        return
    sent = request.headers.get("x-csrf-token")
    content_type = request.headers.get("content-type", "")
    if sent is None and (
        content_type.startswith("application/x-www-form-urlencoded")
        or content_type.startswith("multipart/form-data")
    ):
        form = await request.form()  # Starlette caches it for the handler's Form() fields
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if auth is not None:
        ok = sent is not None and sent == auth.session.csrf
    else:
        ok = check_anon_csrf(ctx.secret, request.cookies.get(ANON_COOKIE), sent)
    if not ok:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "csrf_failed")


def require(*roles: Role) -> Callable[[User], User]:
    """A dependency that admits only the given roles (403 otherwise)."""
    allowed = frozenset(roles)

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "forbidden")
        return user

    return check


# -- tenancy ------------------------------------------------------------------------------------


def _not_found() -> HTTPException:
    # 404, not 403: another tenant's home must not even be confirmed to exist.
    return HTTPException(status.HTTP_404_NOT_FOUND, "not_found")


def visible_home(home_id: str, user: CurrentUser, db: Db) -> HomeRow:
    """The home in the path, if this user may see it."""
    home = home_if_visible(db, user, home_id)
    if home is None:
        raise _not_found()
    return home


VisibleHome = Annotated[HomeRow, Depends(visible_home)]


def visible_alert(alert_id: RowId, user: CurrentUser, db: Db) -> tuple[AlertView, HomeRow]:
    """The alert in the path and its home, if this user may see the home."""
    home_id = alert_home_id(db, alert_id)
    home = None if home_id is None else home_if_visible(db, user, home_id)
    if home is None:
        raise _not_found()
    alert = alert_view(db, alert_id)
    assert alert is not None  # its home row was just read
    return alert, home


VisibleAlert = Annotated[tuple[AlertView, HomeRow], Depends(visible_alert)]


def kit_viewer(ctx: Ctx, user: CurrentUser) -> User:
    """The user with the scope in which they may see kits (dashboards.tenancy.kit_scope)."""
    return kit_scope(user, (m.name for m in ctx.alerts_config.mahallas))


KitViewer = Annotated[User, Depends(kit_viewer)]


def visible_kit(kit_id: str, user: KitViewer, db: Db) -> tuple[str, HomeRow]:
    """The kit in the path and its home, if this user may see the home's kits."""
    home_id = kit_home_id(db, kit_id)
    home = None if home_id is None else home_if_visible(db, user, home_id)
    if home is None:
        raise _not_found()
    return kit_id, home


VisibleKit = Annotated[tuple[str, HomeRow], Depends(visible_kit)]


def visible_request(
    request_id: RowId, user: CurrentUser, db: Db
) -> tuple[dict[str, object], HomeRow]:
    """The visit/call request in the path and its home, if this user may see the home."""
    record = request_by_id(db, request_id)
    home = None if record is None else home_if_visible(db, user, record.home_id)
    if record is None or home is None:
        raise _not_found()
    # The stored row's columns, as plain JSON values (times in epoch seconds, as stored).
    row: dict[str, object] = {
        "id": record.id,
        "home_id": record.home_id,
        "kind": record.kind,
        "note": record.note,
        "state": record.state,
        "created_by": record.created_by,
        "created_at": record.created_at.timestamp(),
        "updated_at": record.updated_at.timestamp(),
        "handled_by": record.handled_by,
    }
    return row, home


VisibleRequest = Annotated[tuple[dict[str, object], HomeRow], Depends(visible_request)]
