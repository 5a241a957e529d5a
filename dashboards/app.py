"""The app factory: nothing is created at import time; each call builds one independent app."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from dashboards.accounts import Passwords
from dashboards.context import AppContext
from dashboards.db import DATABASE_ERRORS, Database, is_busy
from dashboards.deps import NotAuthenticatedError, get_auth_optional
from dashboards.i18n import translator
from dashboards.metrics import build_registry
from dashboards.openapi import install_openapi, readable_operation_id
from dashboards.routes import ack as ack_links
from dashboards.routes import (
    admin,
    api_admin,
    api_alerts,
    api_homes,
    api_kits,
    api_session,
    api_test_mode,
    auth,
    family,
    history,
    installer,
    ops,
    reports,
    supervisor,
    worker,
)
from dashboards.routes.ack import AckContext
from dashboards.settings import WebSettings
from hub.alerts.config import load_alerts_config
from hub.alerts.tokens import TokenSigner
from hub.stats import HubStats
from mehr.clock import Clock, SystemClock

__all__ = ["create_app", "route_table"]

_LOGGER = logging.getLogger(__name__)
_STATIC = Path(__file__).parent / "static"
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


_NOT_JSON: Final = {
    "loc": ["body"],
    "msg": "the body must be a JSON object sent with Content-Type: application/json",
    "type": "unsupported_media_type",
}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _raw_body(error: Any) -> bool:
    """True when validation saw the body as raw bytes: the route takes JSON, this was not."""
    return bool(error.get("loc", ())[:1] == ("body",) and isinstance(error.get("input"), bytes))


def _plain(error: Any) -> dict[str, Any]:
    """A validation error as plain JSON: where, what and why; never the input back (it may be
    a password, or bytes that cannot be serialised)."""
    return {
        "loc": [p if isinstance(p, int) else str(p) for p in error.get("loc", ())],
        "msg": str(error.get("msg", "")),
        "type": str(error.get("type", "")),
    }


def create_app(
    settings: WebSettings,
    clock: Clock | None = None,
    hub_stats: HubStats | None = None,
    extra_queues: dict[str, Callable[[], int]] | None = None,
) -> FastAPI:
    """Build the dashboards app over the hub's database (migrating the web tables once).

    Raises ConfigError (one line) without an alerts config or signing key outside the demo:
    the app acts on alerts only through the alert engine, never on tables of its own.
    """
    alerts_config = load_alerts_config(settings.alerts_config_path())
    signer = TokenSigner(settings.alerts_secret_bytes())
    database = Database(settings.database(), settings.db_busy_timeout_s)
    database.prepare()
    clock = clock or SystemClock()
    ctx = AppContext(
        settings=settings,
        db=database,
        clock=clock,
        passwords=Passwords(settings.argon2_time_cost, settings.argon2_memory_kib),
        alerts_config=alerts_config,
        signer=signer,
        hub_stats=hub_stats,
        extra_queues=dict(extra_queues or {}),
    )
    app = FastAPI(
        title="Mehr API",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # Swagger UI loads third-party JavaScript; the schema is enough
        redoc_url=None,
        generate_unique_id_function=readable_operation_id,
    )
    app.state.mehr = ctx
    # The signed links in alert messages (dashboards/routes/ack.py): same database, config,
    # key and clock as the hub's engine, so a link it sends works here.
    app.state.mehr_ack = AckContext(
        settings.database(), alerts_config, signer, clock, settings.db_busy_timeout_s
    )
    app.state.metrics_registry = build_registry(ctx)
    for module in (
        auth, family, worker, supervisor, history, reports, installer, admin, ops, ack_links
    ):
        app.include_router(module.router)
    for module in (api_session, api_homes, api_alerts, api_kits, api_test_mode, api_admin):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    install_openapi(app)
    _install_handlers(app, ctx)
    return app


def _install_handlers(app: FastAPI, ctx: AppContext) -> None:
    def page_error(request: Request, status: int, key: str) -> Response:
        # Best effort at the user's language on error pages; never fail while failing.
        auth_ = None
        try:
            conn = ctx.db.connect()
            try:
                auth_ = get_auth_optional(request, ctx, conn)
            finally:
                conn.close()
        except Exception:
            _LOGGER.debug("error page without user", exc_info=True)
        t = translator(ctx.lang_of(request, auth_))
        return ctx.render(
            request,
            "error.html",
            auth_,
            status_code=status,
            status=status,
            message=t(key) if key else "",
        )

    @app.exception_handler(NotAuthenticatedError)
    async def not_authenticated(request: Request, exc: NotAuthenticatedError) -> Response:
        if _is_api(request) or request.method != "GET":
            return JSONResponse({"detail": "not authenticated"}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if (
            _is_api(request)
            or request.url.path in ("/metrics",)
            or exc.status_code in (409, 422, 413)
        ):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return page_error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(_raw_body(e) for e in errors):
            # A JSON route sent text/plain, a form, or nothing parseable: say what it takes.
            return JSONResponse({"detail": [_NOT_JSON]}, status_code=415)
        return JSONResponse({"detail": [_plain(e) for e in errors]}, status_code=422)

    async def database_error(request: Request, exc: Exception) -> Response:
        if not is_busy(exc):
            _LOGGER.error("database error on %s %s", request.method, request.url.path, exc_info=exc)
            return JSONResponse({"detail": "internal error"}, status_code=500)
        # Another writer held the database past the busy timeout; the transaction rolled back.
        headers = {"Retry-After": "5"}
        if _is_api(request) or request.method != "GET":
            return JSONResponse({"detail": "busy, try again"}, status_code=503, headers=headers)
        page = page_error(request, 503, "busy")
        page.headers.update(headers)
        return page

    # The engine's wrapped error, and the driver's own from the alert service's connection.
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, database_error)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, flattening included routers (for tests and docs)."""
    out: set[tuple[str, str]] = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if contexts is not None:  # FastAPI >= 0.120 keeps included routers lazily
                for c in contexts():
                    for m in getattr(c.original_route, "methods", None) or ():
                        out.add((m, c.path))
                continue
            path = getattr(route, "path", None)
            for m in getattr(route, "methods", None) or ():
                out.add((m, str(path)))

    walk(list(app.routes))
    return sorted((m, p) for m, p in out if m != "HEAD")
