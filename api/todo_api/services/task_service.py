"""Tasks: create (idempotent), read, list with filters and cursors, replace, patch, delete."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic_core import to_jsonable_python

from todo_api.cursor_keys import CursorKeys
from todo_api.identity import Identity
from todo_api.models.task import Task, TaskCreate, TaskListQuery, TaskPage, TaskPatch, TaskReplace, TaskStatus
from todo_api.observability import metrics
from todo_api.repository.errors import (
    AccountBeingDeletedError,
    ItemNotFoundError,
    ProfileMissingError,
    VersionMismatchError,
    WriteConflictError,
)
from todo_api.repository.task_repository import (
    MAX_IN_OPERANDS,
    InvalidPositionError,
    TaskRepository,
    UpdateRefusedError,
)
from todo_api.services import failures
from todo_api.services.clock import new_task_id, utc_now
from todo_api.services.cursor import InvalidCursorError, decode_cursor_with_any, encode_cursor
from todo_api.services.idempotency import IdempotentRunner
from todo_api.services.preconditions import check_version, update_versioned
from todo_contracts.metrics import ApiMetric

TASK_ID = re.compile(r"^[0-9a-f]{32}$")
MUTABLE_FIELDS = ("title", "description", "status", "priority", "category", "due_date", "tags")


def _count(name: ApiMetric, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def create_task(
    tasks: TaskRepository,
    once: IdempotentRunner,
    identity: Identity,
    body: TaskCreate,
    idempotency_key: str | None,
) -> tuple[Task, bool]:
    """Create a task for the caller (whose profile must exist); returns it and whether replayed."""

    def create() -> dict[str, Any]:
        now = utc_now()
        task = Task(
            task_id=new_task_id(),
            user_id=identity.sub,
            **body.model_dump(),
            created_at=now,
            updated_at=now,
            completed_at=now if body.status is TaskStatus.COMPLETED else None,
            version=1,
        )
        try:
            tasks.create(task)
        except ProfileMissingError:
            raise failures.ProfileRequiredError() from None
        except AccountBeingDeletedError:
            raise failures.AccountBeingDeletedError() from None
        except WriteConflictError:
            raise failures.WriteConflictError() from None
        _count(ApiMetric.TASKS_CREATED)
        if task.status is TaskStatus.COMPLETED:
            _count(ApiMetric.TASKS_COMPLETED)
        return task.model_dump(mode="json")

    result, replayed = once.run_once(
        operation="tasks.create",
        user_id=identity.sub,
        key=idempotency_key,
        payload=body.model_dump(mode="json"),
        action=create,
    )
    return Task.model_validate(result), replayed


def get_task(tasks: TaskRepository, identity: Identity, task_id: str) -> Task:
    """One of the caller's tasks; anyone else's (or a malformed id) is 404."""
    if not TASK_ID.match(task_id):
        raise failures.TaskNotFoundError()
    task = tasks.get(identity.sub, task_id)
    if task is None:
        raise failures.TaskNotFoundError()
    return task


def list_tasks(tasks: TaskRepository, keys: CursorKeys, identity: Identity, query: TaskListQuery) -> TaskPage:
    """One page of the caller's tasks matching the filters."""
    filters = query.filters()
    start = None
    if query.cursor is not None:
        start = _decode(keys, identity.sub, filters, query.cursor)
    try:
        items, position = tasks.list_tasks(identity.sub, query, start)
    except InvalidPositionError:
        raise failures.InvalidCursorError() from None
    next_cursor = encode_cursor(keys.signing_key(), identity.sub, filters, position) if position else None
    return TaskPage(items=items, next_cursor=next_cursor)


def _decode(keys: CursorKeys, user_id: str, filters: dict[str, str], cursor: str) -> dict[str, str]:
    """The position in `cursor`, signed with the current or the previous key.

    A cursor no cached key verifies may come from a container that already saw a rotation this
    one has not: re-read the keys (rate-limited) and try once more before calling it invalid.
    """
    try:
        return decode_cursor_with_any(keys.verification_keys(), user_id, filters, cursor)
    except InvalidCursorError:
        if not keys.refresh():
            raise failures.InvalidCursorError() from None
    try:
        return decode_cursor_with_any(keys.verification_keys(), user_id, filters, cursor)
    except InvalidCursorError:
        raise failures.InvalidCursorError() from None


def _apply(current: Task, changes: dict[str, Any], now: str | None = None) -> Task | None:
    """The task after `changes`, or None when they change nothing (no write, no new version)."""
    candidate = _merged(current, changes)
    if all(getattr(candidate, name) == getattr(current, name) for name in MUTABLE_FIELDS):
        return None
    return _next_version(current, candidate, now or utc_now())


def _merged(current: Task, changes: dict[str, Any]) -> Task:
    return Task.model_validate({**current.model_dump(), **changes})


def _next_version(current: Task, candidate: Task, now: str) -> Task:
    """`candidate` as the next version of `current`, changed at `now`."""
    completed_at = current.completed_at
    if candidate.status is TaskStatus.COMPLETED and current.status is not TaskStatus.COMPLETED:
        completed_at = now
    elif candidate.status is not TaskStatus.COMPLETED:
        completed_at = None
    return candidate.model_copy(
        update={"updated_at": now, "completed_at": completed_at, "version": current.version + 1}
    )


def _modify(
    tasks: TaskRepository,
    identity: Identity,
    task_id: str,
    changes: dict[str, Any],
    accepted: frozenset[int] | None,
) -> Task:
    if not TASK_ID.match(task_id):
        raise failures.TaskNotFoundError()
    first_read: Task | None = None
    if changes and (accepted is None or 0 < len(accepted) <= MAX_IN_OPERANDS):
        # One round trip: an UpdateItem conditioned on what the read-check-write below would
        # check (existence, If-Match, a real change), answering with the task as it was.
        now = utc_now()
        try:
            previous = tasks.update_fields(identity.sub, task_id, to_jsonable_python(changes), accepted, now)
        except UpdateRefusedError as refused:
            if refused.current is None:
                raise failures.TaskNotFoundError() from None
            # 412, nothing to change, or a stored item the in-place update does not cover: the
            # general path decides, starting from the task the refusal returned (no second read).
            first_read = refused.current
        else:
            # What the UpdateItem wrote, from the task as it was (the same rules as the general path).
            updated = _next_version(previous, _merged(previous, changes), now)
            _count_completion(previous, updated)
            return updated

    def read() -> Task:
        nonlocal first_read
        if first_read is not None:
            task, first_read = first_read, None
            return task
        return get_task(tasks, identity, task_id)

    current, updated = update_versioned(
        read=read,
        change=lambda task: _apply(task, changes),
        write=tasks.replace,
        accepted=accepted,
        not_found=failures.TaskNotFoundError,
    )
    _count_completion(current, updated)
    return updated


def _count_completion(current: Task, updated: Task) -> None:
    if updated.status is TaskStatus.COMPLETED and current.status is not TaskStatus.COMPLETED:
        _count(ApiMetric.TASKS_COMPLETED)


def replace_task(
    tasks: TaskRepository,
    identity: Identity,
    task_id: str,
    body: TaskReplace,
    accepted: frozenset[int] | None,
) -> Task:
    """PUT: every mutable field takes the body's value (or its default when left out)."""
    return _modify(tasks, identity, task_id, body.model_dump(), accepted)


def patch_task(
    tasks: TaskRepository, identity: Identity, task_id: str, body: TaskPatch, accepted: frozenset[int] | None
) -> Task:
    """PATCH: only the fields present change; `due_date: null` clears the due date."""
    return _modify(tasks, identity, task_id, body.model_dump(exclude_unset=True), accepted)


def delete_task(
    tasks: TaskRepository, identity: Identity, task_id: str, accepted: frozenset[int] | None
) -> None:
    """Delete one of the caller's tasks, honouring If-Match."""
    if not TASK_ID.match(task_id):
        raise failures.TaskNotFoundError()
    expected = None
    if accepted is not None:
        expected = get_task(tasks, identity, task_id).version
        check_version(accepted, expected)
    try:
        tasks.delete(identity.sub, task_id, expected)
    except ItemNotFoundError:
        raise failures.TaskNotFoundError() from None
    except VersionMismatchError:
        raise failures.PreconditionFailedError() from None
    _count(ApiMetric.TASKS_DELETED)
