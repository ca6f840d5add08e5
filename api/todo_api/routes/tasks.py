"""/api/v1/tasks: the caller's tasks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from todo_api.models.task import Task, TaskCreate, TaskListQuery, TaskPage, TaskPatch, TaskReplace
from todo_api.routes.contract import ContractRoute
from todo_api.routes.dependencies import (
    CurrentIdentity,
    CursorKeyring,
    Idempotency,
    IdempotencyKey,
    IfMatch,
    Tasks,
)
from todo_api.routes.responses import created, errors, with_etag
from todo_api.services import task_service

# The routes are `async def` and call the (blocking) DynamoDB client on the event loop: FastAPI
# would run a plain `def` route, and the validation of its answer, on worker threads, and under
# Mangum each invocation's task gets a new AnyIO worker thread (its idle workers end with it), which
# cost about a third of the handler's own time per request. Blocking the loop costs nothing here:
# a Lambda process serves one invocation at a time, and the local gateway gives each invocation
# its own thread and event loop.
router = APIRouter(
    prefix="/api/v1/tasks", tags=["tasks"], responses=errors(401, 413, 422), route_class=ContractRoute
)


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a task", responses=errors(400, 404, 409)
)
async def create_task(
    body: TaskCreate,
    identity: CurrentIdentity,
    key: IdempotencyKey,
    tasks: Tasks,
    once: Idempotency,
    request: Request,
    response: Response,
) -> Task:
    task, replayed = task_service.create_task(tasks, once, identity, body, key)
    return created(request, response, task, f"/api/v1/tasks/{task.task_id}", replayed=replayed)


@router.get("", summary="List your tasks", responses=errors(400))
async def list_tasks(
    query: Annotated[TaskListQuery, Query()], identity: CurrentIdentity, tasks: Tasks, keys: CursorKeyring
) -> TaskPage:
    return task_service.list_tasks(tasks, keys, identity, query)


@router.get("/{task_id}", summary="One task", responses=errors(404))
async def get_task(task_id: str, identity: CurrentIdentity, tasks: Tasks, response: Response) -> Task:
    return with_etag(response, task_service.get_task(tasks, identity, task_id))


@router.put("/{task_id}", summary="Replace a task's fields", responses=errors(400, 404, 409, 412))
async def replace_task(
    task_id: str,
    body: TaskReplace,
    identity: CurrentIdentity,
    accepted: IfMatch,
    tasks: Tasks,
    response: Response,
) -> Task:
    return with_etag(response, task_service.replace_task(tasks, identity, task_id, body, accepted))


@router.patch("/{task_id}", summary="Change some of a task's fields", responses=errors(400, 404, 409, 412))
async def patch_task(
    task_id: str,
    body: TaskPatch,
    identity: CurrentIdentity,
    accepted: IfMatch,
    tasks: Tasks,
    response: Response,
) -> Task:
    return with_etag(response, task_service.patch_task(tasks, identity, task_id, body, accepted))


@router.delete(
    "/{task_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a task", responses=errors(404, 412)
)
async def delete_task(task_id: str, identity: CurrentIdentity, accepted: IfMatch, tasks: Tasks) -> Response:
    task_service.delete_task(tasks, identity, task_id, accepted)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
