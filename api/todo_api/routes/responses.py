"""What the routers share about responses: the documented error responses, and the headers of a
versioned resource (ETag; Location and Idempotent-Replayed when it was created)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from todo_api.models.errors import ErrorEnvelope
from todo_api.routes.dependencies import public_url
from todo_api.services.preconditions import VersionedT, etag

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


def with_etag(response: Response, resource: VersionedT) -> VersionedT:
    """The resource, with its version as the response's ETag."""
    response.headers["ETag"] = etag(resource.version)
    return resource


def created(
    request: Request, response: Response, resource: VersionedT, path: str, *, replayed: bool
) -> VersionedT:
    """The resource of a 201: ETag, Location of `path`, and whether an idempotent POST was replayed."""
    response.headers["Location"] = public_url(request, path)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return with_etag(response, resource)
