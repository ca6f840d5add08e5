"""Turn every error FastAPI or our code raises into the one error envelope.

`DOMAIN_ANSWERS` is the one place where the services' refusals (`services.failures`) get their
HTTP status and stable code; the message is the refusal's own.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from todo_api import runtime
from todo_api.errors import ApiError
from todo_api.request_context import STATE_REQUEST_ID
from todo_api.services import failures
from todo_contracts import errors

# A request can be wrong in thousands of ways at once (5,000 unknown query parameters): the body
# lists the first MAX_DETAILS problems and the message says how many there were.
MAX_DETAILS = 20
PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

HTTP_CODES = {
    400: ("MALFORMED_JSON", "the request body is not valid JSON"),
    404: ("NOT_FOUND", "no such route"),
    405: ("METHOD_NOT_ALLOWED", "method not allowed on this route"),
}


DOMAIN_ANSWERS: dict[type[failures.DomainError], tuple[int, str]] = {
    failures.MissingEmailClaimError: (401, "UNAUTHORIZED"),
    failures.ProfileNotFoundError: (404, "USER_NOT_FOUND"),
    failures.ProfileRequiredError: (404, "USER_NOT_FOUND"),
    failures.AccountBeingDeletedError: (404, "USER_NOT_FOUND"),
    failures.TaskNotFoundError: (404, "TASK_NOT_FOUND"),
    failures.InsightsNotReadyError: (404, "INSIGHTS_NOT_READY"),
    failures.ProfileExistsError: (409, "USER_EXISTS"),
    failures.WriteConflictError: (409, "CONFLICT"),
    failures.IdempotencyInProgressError: (409, "IDEMPOTENCY_IN_PROGRESS"),
    failures.PreconditionFailedError: (412, "PRECONDITION_FAILED"),
    failures.InvalidCursorError: (400, "INVALID_CURSOR"),
    failures.InvalidIdempotencyKeyError: (422, "VALIDATION_ERROR"),
    failures.IdempotencyKeyReusedError: (422, "IDEMPOTENCY_KEY_REUSED"),
}


def envelope(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The error envelope response."""
    request_id = request.scope.get("state", {}).get(STATE_REQUEST_ID, "")
    return JSONResponse(
        errors.envelope(code, message, request_id, details), status_code=status_code, headers=headers
    )


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in location)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return envelope(request, exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, failures.DomainError)
    status_code, code = DOMAIN_ANSWERS[type(exc)]
    return envelope(request, status_code, code, str(exc), exc.details)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return envelope(request, 400, "MALFORMED_JSON", "the request body is not valid JSON")
    # Never echo the input back (it may be large or personal): path, message and type only.
    details = [
        {
            "field": _field_path(p.get("loc", ())),
            "message": str(p.get("msg", "")),
            "type": str(p.get("type", "")),
        }
        for p in problems[:MAX_DETAILS]
    ]
    message = "the request is invalid"
    if len(problems) > MAX_DETAILS:
        message = f"the request is invalid: {len(problems)} problems, the first {MAX_DETAILS} listed"
    return envelope(request, 422, "VALIDATION_ERROR", message, details)


def allowed_methods(request: Request) -> str:
    """Every method some route of the app answers on this path (HEAD with GET; OPTIONS with CORS)."""
    methods: set[str] = set()
    for method in PROBED_METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            methods.add(method)
    if "GET" in methods:
        methods.add("HEAD")
    if runtime.current().cors_origins:
        methods.add("OPTIONS")  # answered on every route by the gateway (the CORS preflight)
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, message = HTTP_CODES.get(exc.status_code, (f"HTTP_{exc.status_code}", "request failed"))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return envelope(request, exc.status_code, code, message, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Last resort only: RequestContextMiddleware normally answers (and logs) unexpected errors.
    return envelope(request, 500, "INTERNAL_ERROR", "an unexpected error occurred")


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(failures.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
