"""API for admins: accounts, registry import/export, audit log."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, UploadFile
from fastapi.responses import PlainTextResponse, Response

from dashboards.accounts import AccountError, Role, create_user, list_users
from dashboards.audit import audit, recent
from dashboards.deps import Ctx, CurrentAuth, Db, csrf_protect, require
from dashboards.openapi import refusals
from dashboards.registry_io import EXPORTS, export_rows, to_csv
from dashboards.routes.admin import import_upload
from dashboards.routes.api_models import (
    AuditOut,
    CreatedUserOut,
    ExportOut,
    ImportOut,
    UserIn,
    UserOut,
)

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    tags=["admin"],
    dependencies=[Depends(csrf_protect), Depends(require(Role.ADMIN))],
    responses=refusals(401, 403),
)


@router.get("/users", response_model=list[UserOut])
def api_users(db: Db) -> list[dict[str, Any]]:
    """All active accounts."""
    return [
        {
            "username": u.username,
            "role": u.role.value,
            "homes": sorted(u.homes),
            "mahallas": sorted(u.mahallas),
            "all_homes": u.all_homes,
        }
        for u in list_users(db)
    ]


@router.post("/users", status_code=201, response_model=CreatedUserOut, responses=refusals(415, 422))
def api_add_user(body: UserIn, ctx: Ctx, db: Db, auth: CurrentAuth) -> dict[str, Any]:
    """Create an account."""
    try:
        user = create_user(
            db,
            ctx.passwords,
            username=body.username,
            password=body.password,
            role=body.role,
            now=ctx.now(),
            display_name=body.display_name,
            homes=body.homes,
            mahallas=body.mahallas,
            all_homes=body.all_homes,
            lang=body.lang,
        )
    except AccountError as exc:
        raise HTTPException(422, str(exc)) from None
    audit(db, auth.user, "user.create", f"user:{user.username}", ctx.now(), role=body.role.value)
    return {"id": user.id, "username": user.username}


@router.post("/registry/import", response_model=ImportOut, responses=refusals(422))
async def api_import(file: UploadFile, ctx: Ctx, db: Db, auth: CurrentAuth) -> dict[str, Any]:
    """Load residents from a CSV or JSON file; returns created/updated/unchanged and rejects."""
    report = await import_upload(file, ctx, db, auth)
    return report.to_dict()


@router.get(
    "/registry/export/{what}",
    response_model=ExportOut,
    responses={
        200: {
            "description": "The rows as JSON, or as CSV with format=csv (the import's columns).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **refusals(404, 422),
    },
)
def api_export(
    what: Literal["residents", "alerts", "visits"],
    ctx: Ctx,
    db: Db,
    auth: CurrentAuth,
    format: Literal["json", "csv"] = "json",
) -> list[dict[str, Any]] | Response:
    """Residents, alerts or visits as JSON (or CSV with format=csv)."""
    if what not in EXPORTS:
        raise HTTPException(404, "not_found")
    rows = export_rows(db, what, None)
    audit(db, auth.user, "registry.export", f"export:{what}", ctx.now(), rows=len(rows))
    if format == "csv":
        return PlainTextResponse(to_csv(rows, what), media_type="text/csv")
    return rows


@router.get("/audit", response_model=list[AuditOut], responses=refusals(422))
def api_audit(db: Db, limit: int = 200) -> list[dict[str, Any]]:
    """The newest audit entries."""
    return recent(db, min(max(limit, 1), 5000))
