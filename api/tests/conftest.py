"""Helpers for the API tests: users with a profile, task creation, and paging through lists."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest


def create_profile(client: httpx.Client, name: str = "Ada", timezone: str = "UTC") -> dict[str, Any]:
    response = client.post("/api/v1/users", json={"name": name, "timezone": timezone})
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_task(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"title": "Write the report", **fields}
    response = client.post("/api/v1/tasks", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def list_all(client: httpx.Client, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item matching `params`, following next_cursor to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _page in range(1000):
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = client.get("/api/v1/tasks", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging never ended")


def error_code(response: httpx.Response) -> str:
    """The envelope's code, after checking the envelope's shape and its request id."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert (
        {"code", "message", "request_id"}
        <= set(body["error"])
        <= {"code", "message", "request_id", "details"}
    )
    assert body["error"]["request_id"] == response.headers["X-Request-Id"]
    return str(body["error"]["code"])


class Api:
    """The helpers above as a fixture (test modules cannot import conftest under importlib mode)."""

    create_profile = staticmethod(create_profile)
    create_task = staticmethod(create_task)
    list_all = staticmethod(list_all)
    error_code = staticmethod(error_code)


@pytest.fixture
def api() -> type[Api]:
    return Api


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Most requests publish no business metric, and Powertools warns about that on every one.
    for item in items:
        if "api/tests" in str(item.path):
            item.add_marker(pytest.mark.filterwarnings("ignore:No application metrics to publish"))


def _close_account(user: Any) -> None:
    # moto's Query and Scan slow as the table grows, so tests leave it as they found it.
    user.client.delete("/api/v1/users/me")


@pytest.fixture
def member(api_user: Any) -> Iterator[Any]:
    """A signed-in user who has created a profile (deleted again, with its tasks, afterwards)."""
    create_profile(api_user.client)
    yield api_user
    _close_account(api_user)


@pytest.fixture
def member_factory(api_user_factory: Callable[[], Any]) -> Iterator[Callable[[], Any]]:
    """Makes members; their accounts are deleted afterwards."""
    made: list[Any] = []

    def make() -> Any:
        user = api_user_factory()
        create_profile(user.client)
        made.append(user)
        return user

    yield make
    for user in made:
        _close_account(user)
