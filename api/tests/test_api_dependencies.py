"""Routes receive their repositories through FastAPI's `Depends`: a test (or another runtime) can
hand the same handler other ones with `app.dependency_overrides`, and no route reaches past them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from todo_api import runtime
from todo_api.handler import app, handler
from todo_api.models.task import Task
from todo_api.routes import dependencies
from todo_api.settings import Settings
from todo_local.gateway import build_proxy_event
from todo_local.http_server import HttpRequest
from todo_local.lambda_context import LambdaContext
from todo_local.testing.handlers import invoke_with_event_loop

SUB = "11111111-2222-3333-4444-555555555555"
CLAIMS = {"sub": SUB, "email": "someone@example.com", "token_use": "id"}
TASK_ID = "0" * 32
NOWHERE = runtime.ApiRuntime.build(
    Settings(table_name="no-such-table"),
    session=boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"),
    endpoint_url="http://127.0.0.1:9",
)


class InMemoryTasks:
    """The part of TaskRepository a GET uses, over a dict."""

    def __init__(self, *tasks: Task) -> None:
        self.tasks = {(t.user_id, t.task_id): t for t in tasks}
        self.reads: list[tuple[str, str]] = []

    def get(self, user_id: str, task_id: str) -> Task | None:
        self.reads.append((user_id, task_id))
        return self.tasks.get((user_id, task_id))


def _task(**overrides: Any) -> Task:
    values: dict[str, Any] = {
        "task_id": TASK_ID,
        "user_id": SUB,
        "title": "from the injected repository",
        "description": "",
        "status": "pending",
        "priority": "medium",
        "category": "general",
        "due_date": None,
        "tags": [],
        "created_at": "2026-12-01T10:00:00.000Z",
        "updated_at": "2026-12-01T10:00:00.000Z",
        "completed_at": None,
        "version": 3,
    }
    return Task.model_validate({**values, **overrides})


@pytest.fixture
def tasks() -> Iterator[InMemoryTasks]:
    repository = InMemoryTasks(_task())
    app.dependency_overrides[dependencies.task_repository] = lambda: repository
    try:
        yield repository
    finally:
        app.dependency_overrides.clear()


def _get(path: str) -> dict[str, Any]:
    event = build_proxy_event(
        HttpRequest("GET", path, headers=(("Host", "localhost"),)),
        claims=CLAIMS,
        request_id="r-1",
        stage="local",
    )
    # The runtime's DynamoDB is nowhere (a closed port): a route that went past its injected
    # repository to the runtime's would fail and answer 500.
    with runtime.use(NOWHERE):
        result: dict[str, Any] = invoke_with_event_loop(handler, event, LambdaContext("api"))
    return result


def test_a_route_answers_from_the_repository_it_is_given(tasks: InMemoryTasks) -> None:
    result = _get(f"/api/v1/tasks/{TASK_ID}")
    assert result["statusCode"] == 200, result["body"]
    assert json.loads(result["body"])["title"] == "from the injected repository"
    assert result["headers"]["etag"] == '"3"'
    assert tasks.reads == [(SUB, TASK_ID)]


def test_without_the_override_the_route_uses_the_runtimes_repository() -> None:
    """The counter-check: the same request, not overridden, goes to the runtime's DynamoDB."""
    assert _get(f"/api/v1/tasks/{TASK_ID}")["statusCode"] == 500


def test_a_missing_task_in_the_given_repository_is_404(tasks: InMemoryTasks) -> None:
    result = _get(f"/api/v1/tasks/{'f' * 32}")
    assert result["statusCode"] == 404
    assert json.loads(result["body"])["error"]["code"] == "TASK_NOT_FOUND"
