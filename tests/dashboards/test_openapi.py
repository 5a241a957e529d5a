"""The OpenAPI document a client generator reads: unique readable operation ids, and the bearer
scheme declared and required on every /api/v1 operation but the login."""

from __future__ import annotations

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
