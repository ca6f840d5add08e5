"""Typed dependencies the routes share: the caller, If-Match, Idempotency-Key, the repositories and
the other parts of the api's runtime (todo_api.runtime; a test may override any of them with
`app.dependency_overrides`), public URLs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from todo_api import runtime
from todo_api.cursor_keys import CursorKeys
from todo_api.errors import unauthorized
from todo_api.identity import Identity, identity_from_event
from todo_api.repository.insights_repository import InsightsRepository
from todo_api.repository.task_repository import TaskRepository
from todo_api.repository.user_repository import UserRepository
from todo_api.services import idempotency
from todo_api.services.idempotency import IdempotentRunner
from todo_api.services.preconditions import parse_if_match

# Declared so the OpenAPI document and Swagger UI offer "Authorize"; API Gateway verifies the
# token, and the identity is read from the claims it forwards, never from this header.
_bearer = HTTPBearer(auto_error=False, description="Cognito ID token (verified by API Gateway)")

# The dependencies below are `async def` although they await nothing: they only read the request,
# and FastAPI runs a plain `def` dependency on a worker thread, a hop per dependency per request
# (under Mangum a new thread each request, since AnyIO's workers end with the invocation's task).


async def current_identity(
    request: Request, _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Identity:
    """The caller, from `requestContext.authorizer.claims`; 401 when the claims are missing."""
    identity = identity_from_event(request.scope.get("aws.event"))
    if identity is None:
        raise unauthorized()
    return identity


# If-Match is `*` or a list of entity tags (RFC 9110). A header that names no current version,
# malformed ones included, fails the precondition: 412, checked after the request is validated.
# 1-255 printable ASCII characters (HTTP drops spaces at either end of a header value).
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"


async def if_match(
    value: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='"<version>" from the ETag (a list, or *, is allowed); any other value is 412',
            examples=['"1"'],
        ),
    ] = None,
) -> frozenset[int] | None:
    """The versions If-Match accepts (None: no precondition)."""
    return parse_if_match(value)


async def idempotency_key(
    value: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="1-255 printable ASCII characters; a repeat within 24 h replays the first answer",
            min_length=1,
            max_length=255,
            pattern=IDEMPOTENCY_KEY_PATTERN,
            examples=["7d3f0c2e-5b1a-4c8e-9f6d-2a4b8c1e0f3a"],
        ),
    ] = None,
) -> str | None:
    """The caller's Idempotency-Key, checked for shape."""
    return idempotency.check_key(value)


async def task_repository() -> TaskRepository:
    """The runtime's task repository."""
    return runtime.current().tasks


async def user_repository() -> UserRepository:
    """The runtime's profile repository."""
    return runtime.current().users


async def insights_repository() -> InsightsRepository:
    """The runtime's insights repository."""
    return runtime.current().insights


async def idempotent_runner() -> IdempotentRunner:
    """Runs POSTs once per Idempotency-Key, on the runtime's table."""
    return runtime.current().idempotency


async def cursor_keys() -> CursorKeys:
    """The keys list cursors are signed and checked with."""
    return runtime.current().cursor_keys


def public_url(request: Request, path: str) -> str:
    """`path` as the client reaches it (behind a gateway stage prefix when there is one)."""
    return f"{request.scope.get('root_path', '')}{path}"


CurrentIdentity = Annotated[Identity, Depends(current_identity)]
IfMatch = Annotated[frozenset[int] | None, Depends(if_match)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
Tasks = Annotated[TaskRepository, Depends(task_repository)]
Users = Annotated[UserRepository, Depends(user_repository)]
InsightsStore = Annotated[InsightsRepository, Depends(insights_repository)]
Idempotency = Annotated[IdempotentRunner, Depends(idempotent_runner)]
CursorKeyring = Annotated[CursorKeys, Depends(cursor_keys)]
