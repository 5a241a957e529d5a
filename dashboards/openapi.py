"""The API's OpenAPI document for client generators: readable operation ids (the handler's
name), the bearer security scheme that /api/v1 accepts (a session token from the login), and
the refusals each route can answer, all with one error model."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from dashboards.routes.api_models import ErrorOut

__all__ = ["PUBLIC_API_PATHS", "install_openapi", "readable_operation_id", "refusals"]

# Operations a client calls before it has a token.
PUBLIC_API_PATHS = frozenset({"/api/v1/login"})


# What each refusal means, for the document (the body is always ErrorOut).
_REFUSALS: dict[int, str] = {
    400: "The body cannot be parsed (not JSON, or a broken upload).",
    401: "Not signed in (no or expired session).",
    403: "The user's role may not do this, or the CSRF token is missing (cookie sessions).",
    404: "Not found, or not in the user's homes (never confirmed either way).",
    409: "The change conflicts with the current state.",
    415: "The body is not JSON.",
    422: "Invalid input: one entry per problem.",
    429: "Too many failed logins: wait the Retry-After seconds.",
}


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: each code with its meaning and ErrorOut."""
    return {code: {"model": ErrorOut, "description": _REFUSALS[code]} for code in codes}


def readable_operation_id(route: APIRoute) -> str:
    """The handler's name (`api_login`, `list_homes`), not FastAPI's path-and-method mash."""
    return route.name


def _error(code: int) -> dict[str, Any]:
    return {
        "description": _REFUSALS[code],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }


def _one_error_model(operation: dict[str, Any]) -> None:
    """The refusals the framework adds, in ErrorOut as the app's handlers answer them.

    FastAPI declares its own HTTPValidationError for the 422 it adds to every operation with
    inputs, and says nothing of the 400 (unparseable body) and 415 (not JSON) that every
    operation with a body can answer (dashboards/app.py turns all three into ErrorOut).
    """
    responses = operation.setdefault("responses", {})
    invalid = responses.get("422")
    if invalid is not None and "HTTPValidationError" in str(invalid):
        responses["422"] = _error(422)
    if "requestBody" in operation:
        for code in (400, 415):
            responses.setdefault(str(code), _error(code))


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
            for operation in operations.values():
                _one_error_model(operation)
                if path.startswith("/api/v1/") and path not in PUBLIC_API_PATHS:
                    operation.setdefault("security", [{"bearer": []}])
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
