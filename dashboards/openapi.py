"""The API's OpenAPI document for client generators: readable operation ids (the handler's
name) and the bearer security scheme that /api/v1 accepts (a session token from the login)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

__all__ = ["PUBLIC_API_PATHS", "install_openapi", "readable_operation_id"]

# Operations a client calls before it has a token.
PUBLIC_API_PATHS = frozenset({"/api/v1/login"})


def readable_operation_id(route: APIRoute) -> str:
    """The handler's name (`api_login`, `list_homes`), not FastAPI's path-and-method mash."""
    return route.name


def install_openapi(app: FastAPI) -> None:
    """Make the app's document declare `bearer` and require it on every /api/v1 operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, routes=app.routes, description=app.description
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "The session token POST /api/v1/login returns (cookies work too).",
            }
        }
        for path, operations in schema.get("paths", {}).items():
            if path.startswith("/api/v1/") and path not in PUBLIC_API_PATHS:
                for operation in operations.values():
                    operation.setdefault("security", [{"bearer": []}])
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
