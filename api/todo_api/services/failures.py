"""What a business rule can refuse, in the service layer's own words: no HTTP here.

Services raise these; `todo_api.error_handlers.DOMAIN_ANSWERS` is the one place that says which
status, code and message each becomes. A test checks that every kind below has an answer.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request the rules refuse. `str(error)` is the message the caller reads."""

    default_message = "the request was refused"

    def __init__(self, message: str | None = None, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message or self.default_message)
        self.details = details


class MissingEmailClaimError(DomainError):
    default_message = "the token carries no email claim"


class ProfileNotFoundError(DomainError):
    default_message = "user not found"


class ProfileRequiredError(DomainError):
    default_message = "create your profile first (POST /api/v1/users)"


class AccountBeingDeletedError(DomainError):
    default_message = "your account is being deleted"


class ProfileExistsError(DomainError):
    default_message = "you already have a profile"


class TaskNotFoundError(DomainError):
    default_message = "task not found"


class PreconditionFailedError(DomainError):
    default_message = "If-Match does not match the current version (ETag)"


class WriteConflictError(DomainError):
    default_message = "the resource changed concurrently; retry the request"


class InvalidCursorError(DomainError):
    default_message = "the cursor is invalid for this caller and these filters"


class InsightsNotReadyError(DomainError):
    default_message = "no insights yet: they appear after the next pipeline run that sees you"


class InvalidIdempotencyKeyError(DomainError):
    """The Idempotency-Key header is malformed (answered as a validation error of that header)."""

    def __init__(self, header: str) -> None:
        super().__init__(
            "the request is invalid",
            [
                {
                    "field": f"header.{header}",
                    "message": "must be 1-255 printable ASCII characters",
                    "type": "value_error",
                }
            ],
        )


class IdempotencyKeyReusedError(DomainError):
    default_message = "this Idempotency-Key was used with a different request body"


class IdempotencyInProgressError(DomainError):
    default_message = "a request with this Idempotency-Key is still being processed"
