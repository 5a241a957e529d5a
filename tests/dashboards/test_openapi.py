"""The OpenAPI document a client generator reads: unique readable operation ids, the bearer
scheme declared and required on every /api/v1 operation but the login, a typed answer on every
operation and its refusals in one error model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient

from dashboards import create_app
from tests.dashboards.conftest import World, settings_for


def test_openapi_declares_bearer_and_readable_unique_operation_ids(world: World) -> None:
    """Operation ids are handler names (no `_api_v1_..._get` mash) and unique; /api/v1 needs
    the bearer scheme except the login."""
    app = create_app(settings_for(world.db_path), clock=world.clock)
    doc = TestClient(app).get("/api/v1/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer",
        "description": "The session token POST /api/v1/login returns (cookies work too).",
    }  # fmt: skip
    ids = []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            ids.append(operation["operationId"])
            assert "_api_v1_" not in operation["operationId"], (path, method)
            if path.startswith("/api/v1/") and path != "/api/v1/login":
                assert operation["security"] == [{"bearer": []}], (path, method)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert "api_login" in ids


# Media types whose answer is text by nature; JSON answers must name a model.
_TEXT_ANSWERS = {"text/html", "text/csv"}
_ERROR_REF = "#/components/schemas/ErrorOut"


def _typed(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """True when a JSON answer's schema names its fields: a model, a list of models, or a
    choice of those; never `{}` or a bare object (what an untyped `dict` handler gives)."""
    if "$ref" in schema:
        target = components[schema["$ref"].rsplit("/", 1)[1]]
        return bool(target.get("properties")) or "enum" in target
    if schema.get("type") == "array":
        return _typed(schema.get("items", {}), components)
    choices = schema.get("anyOf") or schema.get("oneOf")
    if choices:
        return all(_typed(c, components) for c in choices)
    return False


def _answers(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            yield path, method.upper(), operation


def test_every_operation_answers_a_typed_2xx_and_declares_its_refusals(world: World) -> None:
    """A route without a response model (or with an untyped one), a JSON route without its
    401/403/404/422 refusals, or a refusal not in the one error model fails here."""
    app = create_app(settings_for(world.db_path), clock=world.clock)
    doc = TestClient(app).get("/api/v1/openapi.json").json()
    components = doc["components"]["schemas"]
    untyped, undeclared, other_error_model = [], [], []
    for path, method, operation in _answers(doc):
        where = f"{method} {path}"
        success = {c: r for c, r in operation["responses"].items() if c.startswith("2")}
        if not success:
            untyped.append(where)
        for response in success.values():
            for media, content in (response.get("content") or {"": {}}).items():
                schema = content.get("schema", {})
                if media == "text/event-stream":
                    ok = _typed(schema.get("contentSchema", {}), components)
                elif media in _TEXT_ANSWERS:
                    ok = schema.get("type") == "string"
                else:
                    ok = media == "application/json" and _typed(schema, components)
                if not ok:
                    untyped.append(f"{where} {media or '(no content)'}")
        codes = set(operation["responses"])
        if path.startswith("/api/v1/"):
            needed = set()
            if "security" in operation:
                needed.add("401")  # no session
                if method in ("POST", "PUT", "DELETE"):
                    needed.add("403")  # a cookie session without its CSRF token
            if any(p["in"] == "path" for p in operation.get("parameters", [])):
                needed.add("404")
            if operation.get("parameters") or "requestBody" in operation:
                needed.add("422")
            undeclared += [f"{where} {code}" for code in sorted(needed - codes)]
        for code, response in operation["responses"].items():
            if not code.startswith("4"):
                continue
            content = response.get("content", {})
            if not path.startswith("/api/") and list(content) == ["text/html"]:
                continue  # a page (the signed links) answers its refusals as a page
            if content.get("application/json", {}).get("schema") != {"$ref": _ERROR_REF}:
                other_error_model.append(f"{where} {code}")
    assert untyped == [], "answers without a typed schema"
    assert undeclared == [], "refusals not declared"
    assert other_error_model == [], "refusals not in ErrorOut"
    assert {"HTTPValidationError", "ValidationError"}.isdisjoint(components)
