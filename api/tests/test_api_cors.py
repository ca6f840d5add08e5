"""CORS through the local gateway (dev stage origins): preflights answered by the gateway, actual
responses carry the headers for allowed origins only, and the gateway's own errors are readable."""

from __future__ import annotations

from typing import Any

import pytest

from todo_local.gateway import DEV_CORS_ORIGINS

ALLOWED = DEV_CORS_ORIGINS[1]
FOREIGN = "https://evil.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "if-match, content-type",
}


@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/tasks/abc", "/api/v1/users/me", "/api/health"])
def test_a_preflight_from_an_allowed_origin_is_answered_without_a_token(anon_client: Any, path: str) -> None:
    response = anon_client.options(path, headers={"Origin": ALLOWED, **PREFLIGHT})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"].split(",")
    allowed_headers = {h.lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "if-match", "idempotency-key"} <= allowed_headers
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert response.content == b""


def test_a_preflight_from_a_foreign_origin_does_not_allow_it(anon_client: Any) -> None:
    response = anon_client.options("/api/v1/tasks", headers={"Origin": FOREIGN, **PREFLIGHT})
    assert response.headers["Access-Control-Allow-Origin"] != FOREIGN


def test_a_preflight_never_reaches_the_function(anon_client: Any, recording_handler: Any) -> None:
    anon_client.options("/api/v1/tasks", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert recording_handler.calls == 0


def test_actual_responses_expose_the_api_headers_to_an_allowed_origin(member: Any, api: Any) -> None:
    created = member.client.post("/api/v1/tasks", json={"title": "x"}, headers={"Origin": ALLOWED})
    assert created.status_code == 201
    assert created.headers["Access-Control-Allow-Origin"] == ALLOWED
    exposed = {h.strip() for h in created.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"ETag", "Location", "Idempotent-Replayed", "Retry-After", "X-Request-Id"} <= exposed
    assert "Origin" in created.headers["Vary"]


def test_errors_of_the_function_carry_the_cors_headers_too(member: Any, api: Any) -> None:
    response = member.client.get("/api/v1/tasks/missing", headers={"Origin": ALLOWED})
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert api.error_code(response) == "TASK_NOT_FOUND"


def test_a_foreign_origin_gets_no_cors_headers(member: Any) -> None:
    response = member.client.get("/api/v1/tasks", headers={"Origin": FOREIGN})
    assert response.status_code == 200  # CORS is the browser's check; the API answers as usual
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Expose-Headers" not in response.headers


def test_no_origin_no_cors_headers(member: Any) -> None:
    response = member.client.get("/api/v1/tasks")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_gateways_own_401_is_readable_by_the_browser_app(anon_client: Any) -> None:
    response = anon_client.get("/api/v1/tasks", headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_options_outside_the_api_has_no_resource(anon_client: Any) -> None:
    response = anon_client.options("/elsewhere", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
