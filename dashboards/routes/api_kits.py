"""API: kits for installers (health, heartbeat, outbox, sensors, commissioning)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from dashboards.accounts import Role
from dashboards.deps import Ctx, Db, KitViewer, VisibleKit, csrf_protect, require
from dashboards.openapi import refusals
from dashboards.queries import kits_view
from dashboards.routes.api_models import KitOut
from dashboards.tenancy import visible_homes

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    tags=["kits"],
    dependencies=[Depends(csrf_protect), Depends(require(Role.INSTALLER, Role.ADMIN))],
    responses=refusals(401, 403),
)


@router.get("/kits", response_model=list[KitOut])
def api_kits(ctx: Ctx, db: Db, viewer: KitViewer) -> list[dict[str, Any]]:
    """Every kit the user may see, with its latest walk-test (commissioning) report."""
    store = ctx.db.store()
    try:
        kits = kits_view(db, visible_homes(db, viewer), store.commissioning_reports)
    finally:
        store.close()
    return [k.to_dict() for k in kits]


@router.get("/kits/{kit_id}", response_model=KitOut, responses=refusals(404))
def api_kit(ctx: Ctx, db: Db, found: VisibleKit) -> dict[str, Any]:
    """One kit."""
    kit_id, home = found
    store = ctx.db.store()
    try:
        return kits_view(db, [home], store.commissioning_reports, kit_id=kit_id)[0].to_dict()
    finally:
        store.close()
