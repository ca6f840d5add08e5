"""The served OpenAPI document declares the statuses, headers and constraints the API really has."""

from __future__ import annotations

from typing import Any

import pytest

from todo_contracts.lake_layout import GOLD_USER_INSIGHTS


@pytest.fixture
def document(anon_client: Any) -> dict[str, Any]:
    response = anon_client.get("/api/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_every_operation_declares_405_with_allow_and_429_with_retry_after(document: dict[str, Any]) -> None:
    for method, path, op in _operations(document):
        responses = op["responses"]
        assert responses["405"]["headers"]["Allow"]["required"] is True, (method, path)
        assert responses["429"]["headers"]["Retry-After"]["required"] is True, (method, path)
        if "requestBody" in op:
            assert {"413", "415", "422"} <= set(responses), (method, path)


def test_every_response_of_the_function_declares_its_ids(document: dict[str, Any]) -> None:
    for method, path, op in _operations(document):
        for status, response in op["responses"].items():
            if status in ("401", "429"):  # answered by the gateway or WAF, without these
                continue
            assert response["headers"]["X-Request-Id"]["required"] is True, (method, path, status)


def test_created_resources_declare_location_etag_and_replay(document: dict[str, Any]) -> None:
    for path in ("/api/v1/tasks", "/api/v1/users"):
        headers = document["paths"][path]["post"]["responses"]["201"]["headers"]
        assert headers["Location"]["required"] is True
        assert headers["ETag"]["required"] is True
        assert "Idempotent-Replayed" in headers
    one_task = document["paths"]["/api/v1/tasks/{task_id}"]
    for method in ("get", "put", "patch"):
        assert one_task[method]["responses"]["200"]["headers"]["ETag"]["required"] is True


def test_the_constraints_the_api_enforces_are_declared(document: dict[str, Any]) -> None:
    post = document["paths"]["/api/v1/tasks"]["post"]
    key = next(p for p in post["parameters"] if p["name"] == "Idempotency-Key")["schema"]
    assert (key["minLength"], key["maxLength"]) == (1, 255)
    assert key["pattern"]
    schemas = document["components"]["schemas"]
    zone = schemas["UserCreate"]["properties"]["timezone"]
    assert "Europe/Paris" in zone["enum"]
    assert "Not/AZone" not in zone["enum"]
    tag = schemas["TaskCreate"]["properties"]["tags"]["items"]
    assert (tag["minLength"], tag["maxLength"], tag["pattern"]) == (1, 30, r"\S")


def test_patch_fields_are_not_nullable_except_due_date(document: dict[str, Any]) -> None:
    properties = document["components"]["schemas"]["TaskPatch"]["properties"]
    for name, schema in properties.items():
        nullable = any(branch.get("type") == "null" for branch in schema.get("anyOf", []))
        assert nullable == (name == "due_date"), name
    user = document["components"]["schemas"]["UserUpdate"]["properties"]
    assert not any("anyOf" in schema for schema in user.values())


def test_no_query_or_header_parameter_claims_to_take_null(document: dict[str, Any]) -> None:
    for method, path, op in _operations(document):
        for parameter in op.get("parameters", []):
            assert "anyOf" not in parameter["schema"], (method, path, parameter["name"])


def test_the_insights_route_declares_its_fields_content_etag_304_and_404(document: dict[str, Any]) -> None:
    get = document["paths"]["/api/v1/users/me/insights"]["get"]
    assert "HTTPBearer" in str(get["security"])
    assert [p["name"] for p in get["parameters"]] == ["If-None-Match"]
    responses = get["responses"]
    assert {"200", "304", "404"} <= set(responses)
    assert "content" not in responses["304"]
    for status in ("200", "304"):
        headers = responses[status]["headers"]
        assert headers["ETag"]["required"] is True
        assert headers["ETag"]["schema"]["pattern"] == '^"[0-9a-f]{32}"$'
        assert headers["Cache-Control"]["required"] is True
    schema = document["components"]["schemas"]["Insights"]
    assert (
        set(schema["required"])
        == set(schema["properties"])
        == set(GOLD_USER_INSIGHTS.column_names()) - {"user_id"}
    )
    assert schema["properties"]["completion_rate"]["maximum"] == 100
