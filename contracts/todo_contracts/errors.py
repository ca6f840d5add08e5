"""The error envelope every error answer uses, whoever gives it: the api, API Gateway's gateway
responses and WAF's rate-limit response (the Api stack), and the local gateway.

`{"error": {"code", "message", "request_id", "details"?}}`; the API's OpenAPI document describes it
(`todo_api.models.errors`).
"""

from __future__ import annotations

import json
from typing import Any

# WAF's custom 429 answer has no request id: it is answered before API Gateway assigns one.
RATE_LIMITED_CODE = "RATE_LIMITED"
RATE_LIMITED_MESSAGE = "Too many requests; retry after the Retry-After delay."


def envelope(
    code: str, message: str, request_id: str | None = None, details: list[Any] | None = None
) -> dict[str, Any]:
    """The envelope as JSON-ready values (`request_id` and `details` only when there are any)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if request_id is not None:
        error["request_id"] = request_id
    if details:
        error["details"] = details
    return {"error": error}


def envelope_bytes(code: str, message: str, request_id: str | None = None) -> bytes:
    """The envelope as bytes on the wire."""
    return json.dumps(envelope(code, message, request_id)).encode()
