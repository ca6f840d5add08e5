"""Listing through the local gateway: every filter, limits, and cursors that are exact and tamper-proof."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

STATUSES = ("pending", "in_progress", "completed")
PRIORITIES = ("low", "medium", "high")
CATEGORIES = ("home", "work", "errands", "garden")
TASK_COUNT = 23


def _task_body(n: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": f"task {n}",
        "status": STATUSES[n % 3],
        "priority": PRIORITIES[(n // 2) % 3],
        "category": CATEGORIES[n % 4],
    }
    if n % 5:
        body["due_date"] = date(2026, 1, 1 + n % 9).isoformat()
    return body


@pytest.fixture(scope="module")
def catalogue(local_platform: Any) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """One member with a fixed, varied set of tasks, shared by the module's read-only tests."""
    from todo_local.testing.fixtures import ApiUserFactory

    factory = ApiUserFactory(local_platform)
    user = factory()
    assert user.client.post("/api/v1/users", json={"name": "Lister"}).status_code == 201
    tasks = []
    for n in range(TASK_COUNT):
        response = user.client.post("/api/v1/tasks", json=_task_body(n))
        assert response.status_code == 201
        tasks.append(response.json())
    yield user, tasks
    user.client.delete("/api/v1/users/me")
    factory.close()


def _matches(task: dict[str, Any], params: dict[str, Any]) -> bool:
    for name in ("status", "priority", "category"):
        if name in params and task[name] != params[name]:
            return False
    due = task["due_date"]
    if ("due_after" in params or "due_before" in params) and due is None:
        return False
    if "due_after" in params and due < params["due_after"]:
        return False
    return not ("due_before" in params and due > params["due_before"])


def test_default_page_size_and_shape(catalogue: Any) -> None:
    user, tasks = catalogue
    response = user.client.get("/api/v1/tasks")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    assert len(body["items"]) == 20
    assert body["next_cursor"] is not None
    rest = user.client.get("/api/v1/tasks", params={"cursor": body["next_cursor"]}).json()
    assert {t["task_id"] for t in body["items"] + rest["items"]} == {t["task_id"] for t in tasks}


def test_each_filter_alone(catalogue: Any, api: Any) -> None:
    user, tasks = catalogue
    cases: list[dict[str, Any]] = [
        {"status": "completed"},
        {"priority": "high"},
        {"category": "garden"},
        {"due_after": "2026-01-05"},
        {"due_before": "2026-01-03"},
        {"due_after": "2026-01-02", "due_before": "2026-01-02"},
        {"category": "nothing-here"},
    ]
    for params in cases:
        expected = sorted(t["task_id"] for t in tasks if _matches(t, params))
        got = sorted(t["task_id"] for t in api.list_all(user.client, {**params, "limit": 100}))
        assert got == expected, params


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    status=st.none() | st.sampled_from(STATUSES),
    priority=st.none() | st.sampled_from(PRIORITIES),
    category=st.none() | st.sampled_from(CATEGORIES),
    due_after=st.none() | st.dates(date(2025, 12, 31), date(2026, 1, 10)),
    due_before=st.none() | st.dates(date(2025, 12, 31), date(2026, 1, 10)),
    limit=st.integers(1, 8),
)
def test_paging_returns_every_match_exactly_once(
    catalogue: Any,
    api: Any,
    status: str | None,
    priority: str | None,
    category: str | None,
    due_after: date | None,
    due_before: date | None,
    limit: int,
) -> None:
    if due_after and due_before:
        assume(due_after <= due_before)
    user, tasks = catalogue
    params: dict[str, Any] = {
        name: value
        for name, value in {
            "status": status,
            "priority": priority,
            "category": category,
            "due_after": due_after.isoformat() if due_after else None,
            "due_before": due_before.isoformat() if due_before else None,
        }.items()
        if value is not None
    }
    expected = {t["task_id"] for t in tasks if _matches(t, params)}
    ids = [t["task_id"] for t in api.list_all(user.client, {**params, "limit": limit})]
    assert len(ids) == len(set(ids)), "a task came back twice"
    assert set(ids) == expected


def test_limit_bounds(catalogue: Any, api: Any) -> None:
    user, _ = catalogue
    assert len(user.client.get("/api/v1/tasks", params={"limit": 1}).json()["items"]) == 1
    assert len(user.client.get("/api/v1/tasks", params={"limit": 100}).json()["items"]) == TASK_COUNT
    for limit in ("0", "101", "abc", "-5", "1.5", "9" * 40):
        response = user.client.get("/api/v1/tasks", params={"limit": limit})
        assert response.status_code == 422, limit
        assert api.error_code(response) == "VALIDATION_ERROR"


def test_invalid_filters_are_422(catalogue: Any, api: Any) -> None:
    user, _ = catalogue
    for params in (
        {"status": "done"},
        {"priority": "urgent"},
        {"due_before": "2026-13-01"},
        {"due_after": "yesterday"},
        {"due_after": "2026-02-01", "due_before": "2026-01-01"},
        {"category": "x" * 51},
        {"owner": "someone"},
    ):
        response = user.client.get("/api/v1/tasks", params=params)
        assert response.status_code == 422, params
        assert api.error_code(response) == "VALIDATION_ERROR"


def test_a_page_may_change_its_limit(catalogue: Any) -> None:
    user, tasks = catalogue
    first = user.client.get("/api/v1/tasks", params={"limit": 5}).json()
    second = user.client.get("/api/v1/tasks", params={"limit": 50, "cursor": first["next_cursor"]}).json()
    ids = [t["task_id"] for t in first["items"] + second["items"]]
    assert sorted(ids) == sorted(t["task_id"] for t in tasks)
    assert second["next_cursor"] is None


def test_cursor_is_bound_to_the_filters(catalogue: Any, api: Any) -> None:
    user, _ = catalogue
    cursor = user.client.get("/api/v1/tasks", params={"limit": 2, "status": "pending"}).json()["next_cursor"]
    assert cursor
    for params in ({"status": "completed"}, {}, {"status": "pending", "priority": "low"}):
        response = user.client.get("/api/v1/tasks", params={**params, "cursor": cursor})
        assert response.status_code == 400, params
        assert api.error_code(response) == "INVALID_CURSOR"
    ok = user.client.get("/api/v1/tasks", params={"status": "pending", "cursor": cursor, "limit": 3})
    assert ok.status_code == 200


def test_cursor_is_bound_to_the_caller(catalogue: Any, member: Any, api: Any) -> None:
    user, _ = catalogue
    cursor = user.client.get("/api/v1/tasks", params={"limit": 2}).json()["next_cursor"]
    response = member.client.get("/api/v1/tasks", params={"limit": 2, "cursor": cursor})
    assert response.status_code == 400
    assert api.error_code(response) == "INVALID_CURSOR"


def test_tampered_and_malformed_cursors_are_400(catalogue: Any, api: Any) -> None:
    user, _ = catalogue
    cursor = user.client.get("/api/v1/tasks", params={"limit": 2}).json()["next_cursor"]
    flipped = cursor[:3] + ("A" if cursor[3] != "A" else "B") + cursor[4:]
    for bad in (flipped, cursor + "x", cursor[:-1], "garbage", "a.b", "é", "x" * 4096, "." * 10):
        response = user.client.get("/api/v1/tasks", params={"limit": 2, "cursor": bad})
        assert response.status_code == 400, bad
        assert api.error_code(response) == "INVALID_CURSOR"
    too_long = user.client.get("/api/v1/tasks", params={"cursor": "x" * 5000})
    assert too_long.status_code == 422
