"""The OpenAPI document, completed with what FastAPI cannot infer from the routes (ADR 0012).

FastAPI documents the bodies, parameters and the error statuses each route declares. Added here,
for every operation: the headers every response carries (X-Request-Id, X-Correlation-Id), ETag,
Location and Idempotent-Replayed where the routes send them (a content ETag and Cache-Control on
the insights route, whose 304 they also carry), 405 with Allow, 415 for routes with
a body, and 429 with Retry-After (the stage's rate limits apply to every route). Contract testing
(schemathesis, in `make test`) checks the API against this document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_ERROR = {"$ref": "#/components/schemas/ErrorEnvelope"}
# WAF's 429 is a fixed body without a request id; stage throttling's has one.
_RATE_LIMITED = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": ["RATE_LIMITED"]},
                "message": {"type": "string"},
                "request_id": {"type": "string"},
            },
        }
    },
}
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "The request's id (API Gateway's request id); also in every error body",
        "schema": {"type": "string", "minLength": 1},
    },
    "X-Correlation-Id": {
        "description": "The caller's X-Correlation-Id when well-formed, else the request id",
        "schema": {"type": "string", "minLength": 1},
    },
    "ETag": {
        "description": 'The resource\'s version as a strong entity tag, e.g. "3"; send it as If-Match',
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    },
    "ContentETag": {
        "description": "A strong entity tag of this exact representation; send it as If-None-Match",
        "schema": {"type": "string", "pattern": '^"[0-9a-f]{32}"$'},
    },
    "Cache-Control": {
        "description": "Personal data: private (never in a shared cache), revalidate with the ETag",
        "schema": {"type": "string", "enum": ["private, no-cache"]},
    },
    "Location": {"description": "URL path of the created resource", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "Present when this replays the answer to an earlier request with this Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Allow": {"description": "The methods this path supports", "schema": {"type": "string"}},
}
# Operations whose success answer is one versioned resource (with its ETag).
VERSIONED = {
    ("get", "/api/v1/tasks/{task_id}"),
    ("put", "/api/v1/tasks/{task_id}"),
    ("patch", "/api/v1/tasks/{task_id}"),
    ("get", "/api/v1/users/me"),
    ("patch", "/api/v1/users/me"),
    ("get", "/api/v1/users/{user_id}"),
}
# Operations tagged by their content (not a version), revalidated with If-None-Match (304).
CONTENT_TAGGED = {("get", "/api/v1/users/me/insights")}
# Answered by the gateway (or WAF), which does not add the function's X-Request-Id header.
GATEWAY_STATUSES = {"401", "429"}


def _header(name: str, *, required: bool) -> dict[str, Any]:
    return {"$ref": f"#/components/headers/{name}"} if not required else {**HEADERS[name], "required": True}


def _no_null(parameter: dict[str, Any]) -> None:
    """An optional query or header parameter is absent or a string, never JSON null: drop the
    `null` branch FastAPI writes for `X | None` (a client would send the text "null")."""
    schema = parameter.get("schema", {})
    branches = schema.get("anyOf")
    if not isinstance(branches, list):
        return
    kept = [branch for branch in branches if branch.get("type") != "null"]
    if len(kept) == 1 and len(kept) < len(branches):
        del schema["anyOf"]
        schema.update(kept[0])


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add the statuses and headers the module docstring lists to every operation of `document`."""
    components = document.setdefault("components", {})
    components["headers"] = HEADERS
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                _no_null(parameter)
            responses: dict[str, Any] = operation.setdefault("responses", {})
            responses.setdefault(
                "405",
                {
                    "description": "Method not allowed on this path",
                    "headers": {"Allow": _header("Allow", required=True)},
                    "content": {"application/json": {"schema": _ERROR}},
                },
            )
            if "requestBody" in operation:
                responses.setdefault(
                    "415",
                    {
                        "description": "The body is not JSON (send application/json, no Content-Encoding)",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                )
            responses.setdefault(
                "429",
                {
                    "description": "Rate limited (per caller, or the stage as a whole)",
                    "headers": {"Retry-After": _header("Retry-After", required=True)},
                    "content": {"application/json": {"schema": _RATE_LIMITED}},
                },
            )
            for status, response in responses.items():
                headers = response.setdefault("headers", {})
                if status not in GATEWAY_STATUSES:
                    headers["X-Request-Id"] = _header("X-Request-Id", required=True)
                    headers["X-Correlation-Id"] = _header("X-Correlation-Id", required=True)
                if status == "201":
                    headers["ETag"] = _header("ETag", required=True)
                    headers["Location"] = _header("Location", required=True)
                    headers["Idempotent-Replayed"] = _header("Idempotent-Replayed", required=False)
                elif status == "200" and (method, path) in VERSIONED:
                    headers["ETag"] = _header("ETag", required=True)
                elif status in {"200", "304"} and (method, path) in CONTENT_TAGGED:
                    headers["ETag"] = {**HEADERS["ContentETag"], "required": True}
                    headers["Cache-Control"] = _header("Cache-Control", required=True)
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at the app's openapi_url (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
