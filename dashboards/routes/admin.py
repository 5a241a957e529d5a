"""Admin pages: accounts, registry import/export, the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)

from dashboards.accounts import AccountError, Role, create_user, list_users
from dashboards.audit import audit, recent
from dashboards.deps import Ctx, CurrentAuth, Db, csrf_protect, require
from dashboards.registry_io import (
    EXPORTS,
    ImportReport,
    export_rows,
    import_registry,
    parse_file,
    to_csv,
)

__all__ = ["router", "split_list"]

router = APIRouter(
    dependencies=[Depends(csrf_protect), Depends(require(Role.ADMIN))], include_in_schema=False
)
MAX_UPLOAD = 10 * 1024 * 1024


async def import_upload(file: UploadFile, ctx: Ctx, db: Db, auth: CurrentAuth) -> ImportReport:
    """Read, parse and import an uploaded registry file, and audit what it did (page and API)."""
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise HTTPException(413, "file too large")
    try:
        records = parse_file(file.filename or "upload.csv", data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(422, f"unreadable file: {exc}") from None
    report = import_registry(ctx.db, db, records, ctx.now())
    audit(
        db,
        auth.user,
        "registry.import",
        f"file:{file.filename}",
        ctx.now(),
        **{k: v for k, v in report.to_dict().items() if k != "rejected"},
        rejected=len(report.rejected),
    )
    return report


def split_list(text: str) -> list[str]:
    """'a, b c' -> ['a', 'b', 'c']."""
    return [p for p in text.replace(",", " ").split() if p]


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, ctx: Ctx, db: Db, auth: CurrentAuth) -> Response:
    """Accounts, registry, audit."""
    return ctx.render(
        request, "admin.html", auth, users=list_users(db), roles=[r.value for r in Role]
    )


@router.post("/admin/users")
def admin_add_user(
    ctx: Ctx,
    db: Db,
    auth: CurrentAuth,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[str, Form()],
    homes: Annotated[str, Form()] = "",
    mahallas: Annotated[str, Form()] = "",
) -> Response:
    """Create an account."""
    try:
        user = create_user(
            db,
            ctx.passwords,
            username=username,
            password=password,
            role=Role(role),
            now=ctx.now(),
            homes=split_list(homes),
            mahallas=split_list(mahallas),
        )
    except (AccountError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    audit(db, auth.user, "user.create", f"user:{user.username}", ctx.now(), role=role)
    return RedirectResponse("/admin?flash=saved", status_code=303)


@router.post("/admin/registry/import", response_class=HTMLResponse)
async def admin_import(
    request: Request, ctx: Ctx, db: Db, auth: CurrentAuth, file: UploadFile
) -> Response:
    """Load residents from a CSV or JSON file; show the report of rejected rows."""
    report = await import_upload(file, ctx, db, auth)
    return ctx.render(
        request,
        "admin.html",
        auth,
        users=list_users(db),
        roles=[r.value for r in Role],
        report=report,
    )


@router.get("/admin/registry/export/{what}")
def admin_export(ctx: Ctx, db: Db, auth: CurrentAuth, what: str, format: str = "csv") -> Response:
    """Residents, alerts or visits as CSV or JSON."""
    if what not in EXPORTS or format not in ("csv", "json"):
        raise HTTPException(404, "not_found")
    rows = export_rows(db, what, None)
    audit(db, auth.user, "registry.export", f"export:{what}", ctx.now(), rows=len(rows))
    headers = {"Content-Disposition": f'attachment; filename="{what}.{format}"'}
    if format == "json":
        return JSONResponse(rows, headers=headers)
    return PlainTextResponse(to_csv(rows, what), media_type="text/csv", headers=headers)


@router.get("/admin/audit", response_class=HTMLResponse)
def admin_audit(request: Request, ctx: Ctx, db: Db, auth: CurrentAuth) -> Response:
    """The newest audit entries."""
    return ctx.render(request, "audit.html", auth, entries=recent(db, 500))
