"""Error responses documented in the OpenAPI document, shared by the routers."""

from __future__ import annotations

from typing import Any

from todo_api.models.errors import ErrorEnvelope

_DESCRIPTIONS = {
    400: "Malformed JSON or invalid cursor",
    401: "Missing identity claims",
    404: "Not found (also for other users' resources)",
    409: "Conflict",
    412: "If-Match does not match the current version",
    413: "Body larger than 64 KiB",
    422: "Validation error or Idempotency-Key reused with another body",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, all with the error envelope."""
    return {code: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[code]} for code in codes}
