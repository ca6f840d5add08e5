"""User profiles: create (email from the token), read, change, and delete with all tasks."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from todo_api.identity import Identity
from todo_api.models.user import User, UserCreate, UserUpdate
from todo_api.observability import metrics
from todo_api.repository.errors import ItemAlreadyExistsError, ItemNotFoundError
from todo_api.repository.user_repository import UserRepository
from todo_api.services.clock import utc_now
from todo_api.services.failures import MissingEmailClaimError, ProfileExistsError, ProfileNotFoundError
from todo_api.services.idempotency import IdempotentRunner
from todo_api.services.preconditions import check_version, update_versioned
from todo_contracts.metrics import ApiMetric


def create_user(
    users: UserRepository,
    once: IdempotentRunner,
    identity: Identity,
    body: UserCreate,
    idempotency_key: str | None,
) -> tuple[User, bool]:
    """Create the caller's profile; returns it and whether this was a replay of an earlier POST."""
    email = identity.email
    if email is None:
        raise MissingEmailClaimError()

    def create() -> dict[str, Any]:
        now = utc_now()
        user = User(
            user_id=identity.sub,
            email=email,
            name=body.name,
            timezone=body.timezone,
            created_at=now,
            updated_at=now,
            version=1,
        )
        try:
            users.create(user)
        except ItemAlreadyExistsError:
            raise ProfileExistsError() from None
        metrics.add_metric(name=ApiMetric.USERS_CREATED, unit=MetricUnit.Count, value=1)
        return user.model_dump(mode="json")

    result, replayed = once.run_once(
        operation="users.create",
        user_id=identity.sub,
        key=idempotency_key,
        payload=body.model_dump(mode="json"),
        action=create,
    )
    return User.model_validate(result), replayed


def get_me(users: UserRepository, identity: Identity) -> User:
    """The caller's profile."""
    user = users.get(identity.sub)
    if user is None:
        raise ProfileNotFoundError()
    return user


def get_user(users: UserRepository, identity: Identity, user_id: str) -> User:
    """A profile by id: only the caller's own; any other id is 404 so existence never leaks."""
    if user_id != identity.sub:
        raise ProfileNotFoundError()
    return get_me(users, identity)


def update_me(
    users: UserRepository, identity: Identity, body: UserUpdate, accepted_versions: frozenset[int] | None
) -> User:
    """Change name and/or time zone; a change that changes nothing writes nothing."""
    changes = body.model_dump(exclude_unset=True)

    def change(current: User) -> User | None:
        if all(getattr(current, name) == value for name, value in changes.items()):
            return None
        return current.model_copy(update={**changes, "updated_at": utc_now(), "version": current.version + 1})

    _, updated = update_versioned(
        read=lambda: get_me(users, identity),
        change=change,
        write=users.replace,
        accepted=accepted_versions,
        not_found=ProfileNotFoundError,
    )
    return updated


def delete_me(users: UserRepository, identity: Identity, accepted_versions: frozenset[int] | None) -> None:
    """Delete the caller's profile and every task (resumable: a retry finishes an interrupted run)."""
    if accepted_versions is not None:
        check_version(accepted_versions, get_me(users, identity).version)
    try:
        tasks_deleted = users.delete_account(identity.sub)
    except ItemNotFoundError:
        raise ProfileNotFoundError() from None
    metrics.add_metric(name=ApiMetric.USERS_DELETED, unit=MetricUnit.Count, value=1)
    if tasks_deleted:
        metrics.add_metric(name=ApiMetric.TASKS_DELETED, unit=MetricUnit.Count, value=tasks_deleted)
