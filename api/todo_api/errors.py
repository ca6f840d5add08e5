"""Errors the HTTP edge answers with by itself (identity, media type): status and stable code.

The services' refusals are `services.failures`, mapped to HTTP in `error_handlers.DOMAIN_ANSWERS`.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An expected failure that becomes an error envelope with `status_code` and `code`."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def unauthorized(message: str = "missing or invalid identity claims") -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message)


def unsupported_media_type() -> ApiError:
    return ApiError(
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "the request body must be JSON: Content-Type application/json, no Content-Encoding",
    )
