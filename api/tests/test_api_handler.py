"""The Lambda entry point invoked in-process with REST proxy events the gateway cannot produce:
missing claims, a stage base path, a body without Content-Length, an unexpected failure."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from todo_api import runtime
from todo_api.handler import handler
from todo_api.settings import Settings
from todo_local.gateway import build_proxy_event
from todo_local.http_server import HttpRequest
from todo_local.lambda_context import LambdaContext
from todo_local.testing.handlers import invoke_with_event_loop

# Requests here never reach DynamoDB; the clients are built but never called.
RUNTIME = runtime.ApiRuntime.build(
    Settings(table_name="handler-tests"), session=boto3.session.Session(region_name="us-east-1")
)
CLAIMS = {"sub": "11111111-2222-3333-4444-555555555555", "email": "someone@example.com", "token_use": "id"}


def invoke(
    path: str,
    *,
    method: str = "GET",
    claims: dict[str, str] | None = None,
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (("Host", "localhost"),),
    stage: str = "local",
    public_path: str | None = None,
    without_public_path: bool = False,
) -> dict[str, Any]:
    event = build_proxy_event(
        HttpRequest(method, path, headers=headers, body=body), claims=claims, request_id="req-1", stage=stage
    )
    if public_path is not None:
        event["requestContext"]["path"] = public_path
    if without_public_path:
        del event["requestContext"]["path"]
    with runtime.use(RUNTIME):
        result: dict[str, Any] = invoke_with_event_loop(handler, event, LambdaContext("api"))
    return result


def error_of(result: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(result["body"])["error"]
    assert body["request_id"] == "req-1"
    return body


def test_health_is_a_proxy_response() -> None:
    result = invoke("/api/health")
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["status"] == "ok"
    assert result["headers"]["x-request-id"] == "req-1"


@pytest.mark.parametrize(
    "claims",
    [None, {}, {"email": "x@example.com"}, {"sub": ""}, {"sub": "x" * 600}],
)
def test_missing_or_unusable_claims_are_401(claims: dict[str, str] | None) -> None:
    for method, path in (
        ("GET", "/api/v1/users/me"),
        ("GET", "/api/v1/tasks"),
        ("DELETE", "/api/v1/users/me"),
    ):
        result = invoke(path, method=method, claims=claims)
        assert result["statusCode"] == 401
        assert error_of(result)["code"] == "UNAUTHORIZED"


def test_profile_creation_needs_the_email_claim() -> None:
    result = invoke(
        "/api/v1/users",
        method="POST",
        claims={"sub": CLAIMS["sub"]},
        body=b'{"name": "Ada"}',
        headers=(("Host", "localhost"), ("Content-Type", "application/json")),
    )
    assert result["statusCode"] == 401


def test_docs_work_without_a_base_path() -> None:
    page = invoke("/api/docs")
    assert page["statusCode"] == 200
    assert "url: '/api/openapi.json'" in page["body"]
    spec = json.loads(invoke("/api/openapi.json")["body"])
    assert "servers" not in spec


def test_docs_work_behind_a_stage_base_path() -> None:
    page = invoke("/api/docs", stage="prod", public_path="/prod/api/docs")
    assert page["statusCode"] == 200
    assert "url: '/prod/api/openapi.json'" in page["body"]
    spec = json.loads(invoke("/api/openapi.json", stage="prod", public_path="/prod/api/openapi.json")["body"])
    assert spec["servers"] == [{"url": "/prod"}]


def test_stage_from_the_host_when_the_public_path_is_missing() -> None:
    aws_host = (("Host", "abc123.execute-api.us-east-1.amazonaws.com"),)
    page = invoke("/api/docs", stage="prod", headers=aws_host, without_public_path=True)
    assert "url: '/prod/api/openapi.json'" in page["body"]
    local = invoke("/api/docs", stage="prod", without_public_path=True)
    assert "url: '/api/openapi.json'" in local["body"]


def test_a_hostile_base_path_is_ignored() -> None:
    page = invoke("/api/docs", public_path="/x'</script><script>alert(1)//api/docs")
    assert "alert(1)" not in page["body"]
    assert "url: '/api/openapi.json'" in page["body"]


def test_openapi_documents_every_route_and_the_error_envelope() -> None:
    spec = json.loads(invoke("/api/openapi.json")["body"])
    assert set(spec["paths"]) == {
        "/api/health",
        "/api/v1/users",
        "/api/v1/users/me",
        "/api/v1/users/{user_id}",
        "/api/v1/users/me/insights",
        "/api/v1/tasks",
        "/api/v1/tasks/{task_id}",
    }
    assert "ErrorEnvelope" in spec["components"]["schemas"]
    assert spec["paths"]["/api/v1/tasks/{task_id}"]["patch"]["responses"]["412"]


def test_body_over_the_limit_without_content_length_is_413() -> None:
    body = json.dumps({"title": "x", "description": "d" * (64 * 1024)}).encode()
    result = invoke(
        "/api/v1/tasks",
        method="POST",
        claims=CLAIMS,
        body=body,
        headers=(("Host", "localhost"), ("Content-Type", "application/json")),
    )
    assert result["statusCode"] == 413
    assert error_of(result)["code"] == "PAYLOAD_TOO_LARGE"


def test_unexpected_failure_is_500_without_internals(monkeypatch: pytest.MonkeyPatch) -> None:
    from todo_api.services import task_service

    def explode(*_args: Any) -> Any:
        raise RuntimeError("secret internals: table arn:aws:dynamodb:...")

    monkeypatch.setattr(task_service, "list_tasks", explode)
    result = invoke("/api/v1/tasks", claims=CLAIMS)
    assert result["statusCode"] == 500
    error = error_of(result)
    assert error["code"] == "INTERNAL_ERROR"
    assert "secret" not in result["body"]
    assert "RuntimeError" not in result["body"]
