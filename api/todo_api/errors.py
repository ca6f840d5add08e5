"""Errors the API answers with: each carries its HTTP status and stable UPPER_SNAKE code."""

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


def user_not_found(message: str = "user not found") -> ApiError:
    return ApiError(404, "USER_NOT_FOUND", message)


def task_not_found() -> ApiError:
    return ApiError(404, "TASK_NOT_FOUND", "task not found")


def insights_not_ready() -> ApiError:
    return ApiError(
        404, "INSIGHTS_NOT_READY", "no insights yet: they appear after the next pipeline run that sees you"
    )


def user_exists() -> ApiError:
    return ApiError(409, "USER_EXISTS", "you already have a profile")


def precondition_failed() -> ApiError:
    return ApiError(412, "PRECONDITION_FAILED", "If-Match does not match the current version (ETag)")


def invalid_cursor() -> ApiError:
    return ApiError(400, "INVALID_CURSOR", "the cursor is invalid for this caller and these filters")


def write_conflict() -> ApiError:
    return ApiError(409, "CONFLICT", "the resource changed concurrently; retry the request")


def unsupported_media_type() -> ApiError:
    return ApiError(
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "the request body must be JSON: Content-Type application/json, no Content-Encoding",
    )


def validation_error(field: str, message: str) -> ApiError:
    return ApiError(
        422,
        "VALIDATION_ERROR",
        "the request is invalid",
        [{"field": field, "message": message, "type": "value_error"}],
    )
