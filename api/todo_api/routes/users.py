"""/api/v1/users: the caller's profile."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from todo_api.models.user import User, UserCreate, UserUpdate
from todo_api.routes.contract import ContractRoute
from todo_api.routes.dependencies import CurrentIdentity, Idempotency, IdempotencyKey, IfMatch, Users
from todo_api.routes.responses import created, errors, with_etag
from todo_api.services import user_service

# `async def` routes, as in tasks.py: the blocking DynamoDB calls run on the invocation's loop.
router = APIRouter(
    prefix="/api/v1/users", tags=["users"], responses=errors(401, 413, 422), route_class=ContractRoute
)


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create your profile", responses=errors(400, 409)
)
async def create_user(
    body: UserCreate,
    identity: CurrentIdentity,
    key: IdempotencyKey,
    users: Users,
    once: Idempotency,
    request: Request,
    response: Response,
) -> User:
    user, replayed = user_service.create_user(users, once, identity, body, key)
    return created(request, response, user, "/api/v1/users/me", replayed=replayed)


@router.get("/me", summary="Your profile", responses=errors(404))
async def get_me(identity: CurrentIdentity, users: Users, response: Response) -> User:
    return with_etag(response, user_service.get_me(users, identity))


@router.patch("/me", summary="Change your name or time zone", responses=errors(400, 404, 409, 412))
async def update_me(
    body: UserUpdate, identity: CurrentIdentity, accepted: IfMatch, users: Users, response: Response
) -> User:
    return with_etag(response, user_service.update_me(users, identity, body, accepted))


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete your profile and every task",
    responses=errors(404, 409, 412),
)
async def delete_me(identity: CurrentIdentity, accepted: IfMatch, users: Users) -> Response:
    user_service.delete_me(users, identity, accepted)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{user_id}", summary="A profile by id (only your own)", responses=errors(404))
async def get_user(user_id: str, identity: CurrentIdentity, users: Users, response: Response) -> User:
    return with_etag(response, user_service.get_user(users, identity, user_id))
