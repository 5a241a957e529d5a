"""The installer's page: every kit in scope with heartbeat, outbox and each sensor's last signal."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dashboards.accounts import Role
from dashboards.deps import Ctx, CurrentAuth, Db, csrf_protect, require
from dashboards.queries import kits_view
from dashboards.tenancy import visible_homes

__all__ = ["router"]

router = APIRouter(
    dependencies=[Depends(csrf_protect), Depends(require(Role.INSTALLER, Role.ADMIN))],
    include_in_schema=False,
)


@router.get("/installer", response_class=HTMLResponse)
def installer_page(request: Request, ctx: Ctx, db: Db, auth: CurrentAuth) -> Response:
    """Kits by home, each with its latest walk-test report from the hub's store."""
    store = ctx.db.store()
    try:
        kits = kits_view(db, visible_homes(db, auth.user), store.commissioning_reports)
    finally:
        store.close()
    return ctx.render(request, "installer.html", auth, kits=kits)
