"""The error envelope every error response uses: {"error": {code, message, request_id, details?}}."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    """One problem with the request, e.g. one invalid field."""

    field: str
    message: str
    type: str


class ErrorBody(BaseModel):
    """What went wrong, in a stable machine-readable code plus a human message."""

    code: str
    message: str
    request_id: str
    details: list[ErrorDetail] | None = None


class ErrorEnvelope(BaseModel):
    """The body of every error response."""

    error: ErrorBody
