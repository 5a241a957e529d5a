"""For operators: Prometheus metrics and a health check."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dashboards.deps import Ctx, Db
from hub.persistence.web_metrics import database_answers

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request, ctx: Ctx) -> Response:
    """Prometheus text format; protected by a bearer token when one is configured."""
    token = ctx.settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent, f"Bearer {token}"):
            raise HTTPException(401, "metrics token required")
    body = generate_latest(request.app.state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz")
def healthz(db: Db) -> Response:
    """200 when the database answers."""
    return JSONResponse({"ok": database_answers(db)})
