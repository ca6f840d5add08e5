"""/api/v1/users: the caller's profile."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from todo_api.models.user import User, UserCreate, UserUpdate
from todo_api.routes.contract import ContractRoute
from todo_api.routes.dependencies import CurrentIdentity, IdempotencyKey, IfMatch
from todo_api.routes.responses import created, errors, with_etag
from todo_api.services import user_service

router = APIRouter(
    prefix="/api/v1/users", tags=["users"], responses=errors(401, 413, 422), route_class=ContractRoute
)


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create your profile", responses=errors(400, 409)
)
def create_user(
    body: UserCreate, identity: CurrentIdentity, key: IdempotencyKey, request: Request, response: Response
) -> User:
    user, replayed = user_service.create_user(identity, body, key)
    return created(request, response, user, "/api/v1/users/me", replayed=replayed)


@router.get("/me", summary="Your profile", responses=errors(404))
def get_me(identity: CurrentIdentity, response: Response) -> User:
    return with_etag(response, user_service.get_me(identity))


@router.patch("/me", summary="Change your name or time zone", responses=errors(400, 404, 409, 412))
def update_me(body: UserUpdate, identity: CurrentIdentity, accepted: IfMatch, response: Response) -> User:
    return with_etag(response, user_service.update_me(identity, body, accepted))


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete your profile and every task",
    responses=errors(404, 409, 412),
)
def delete_me(identity: CurrentIdentity, accepted: IfMatch) -> Response:
    user_service.delete_me(identity, accepted)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{user_id}", summary="A profile by id (only your own)", responses=errors(404))
def get_user(user_id: str, identity: CurrentIdentity, response: Response) -> User:
    return with_etag(response, user_service.get_user(identity, user_id))
