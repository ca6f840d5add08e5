"""Unit tests of the request models: limits, defaults, unknown fields, null semantics, dates, zones."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from todo_api.models.task import TaskCreate, TaskListQuery, TaskPatch, TaskPriority, TaskStatus
from todo_api.models.user import UserCreate, UserUpdate


def fields_in_error(error: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in error.errors()}


def test_task_create_defaults() -> None:
    task = TaskCreate.model_validate({"title": "Pay rent"})
    assert task.description == ""
    assert task.status is TaskStatus.PENDING
    assert task.priority is TaskPriority.MEDIUM
    assert task.category == "general"
    assert task.due_date is None
    assert task.tags == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "description": "d" * 2001}, "description"),
        ({"title": "ok", "category": ""}, "category"),
        ({"title": "ok", "category": "c" * 51}, "category"),
        ({"title": "ok", "tags": ["t"] * 11}, "tags"),
        ({"title": "ok", "tags": ["x" * 31]}, "tags.0"),
        ({"title": "ok", "tags": [""]}, "tags.0"),
        ({"title": "ok", "status": "done"}, "status"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "due_date": "2026-02-30"}, "due_date"),
        ({"title": "ok", "due_date": "2026-01-01T00:00:00"}, "due_date"),
        ({"title": "ok", "due_date": 1_700_000_000}, "due_date"),
        ({"title": 5}, "title"),
        ({"title": "\ud800"}, "title"),
        ({"title": "ok", "owner": "someone-else"}, "owner"),
        ({"title": "ok", "user_id": "someone-else"}, "user_id"),
    ],
)
def test_task_create_rejects(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TaskCreate.model_validate(body)
    assert field in fields_in_error(caught.value)


def test_task_create_accepts_the_limits() -> None:
    task = TaskCreate.model_validate(
        {"title": "x" * 200, "description": "d" * 2000, "category": "c" * 50, "tags": ["t" * 30] * 10}
    )
    assert len(task.tags) == 10


def test_patch_null_clears_only_due_date() -> None:
    patch = TaskPatch.model_validate({"due_date": None})
    assert patch.model_dump(exclude_unset=True) == {"due_date": None}
    for field in ("title", "description", "status", "priority", "category", "tags"):
        with pytest.raises(ValidationError) as caught:
            TaskPatch.model_validate({field: None})
        assert field in fields_in_error(caught.value)


def test_patch_keeps_only_sent_fields() -> None:
    patch = TaskPatch.model_validate({"status": "completed", "due_date": "2026-03-01"})
    assert patch.model_dump(exclude_unset=True) == {
        "status": TaskStatus.COMPLETED,
        "due_date": date(2026, 3, 1),
    }


def test_list_query_limits_and_bounds() -> None:
    assert TaskListQuery.model_validate({}).limit == 20
    for limit in (0, 101, "abc", -1):
        with pytest.raises(ValidationError):
            TaskListQuery.model_validate({"limit": limit})
    with pytest.raises(ValidationError):
        TaskListQuery.model_validate({"due_after": "2026-02-01", "due_before": "2026-01-31"})
    same_day = TaskListQuery.model_validate({"due_after": "2026-02-01", "due_before": "2026-02-01"})
    assert same_day.filters() == {"due_after": "2026-02-01", "due_before": "2026-02-01"}


def test_list_query_filters_exclude_paging() -> None:
    query = TaskListQuery.model_validate(
        {"status": "pending", "category": "home", "limit": 5, "cursor": "abc"}
    )
    assert query.filters() == {"status": "pending", "category": "home"}


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Asia/Kolkata"])
def test_user_accepts_iana_zones(zone: str) -> None:
    assert UserCreate.model_validate({"name": "Ada", "timezone": zone}).timezone == zone


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "", "../../etc/passwd", "utc ", "Europe/Paris\x00", "+02:00"]
)
def test_user_rejects_other_zones(zone: str) -> None:
    with pytest.raises(ValidationError):
        UserCreate.model_validate({"name": "Ada", "timezone": zone})


def test_user_create_defaults_and_rejects_email_in_body() -> None:
    assert UserCreate.model_validate({"name": "Ada"}).timezone == "UTC"
    with pytest.raises(ValidationError):
        UserCreate.model_validate({"name": "Ada", "email": "spoof@example.com"})
    with pytest.raises(ValidationError):
        UserCreate.model_validate({"name": " "})


def test_user_update_rejects_null() -> None:
    assert UserUpdate.model_validate({}).model_dump(exclude_unset=True) == {}
    with pytest.raises(ValidationError):
        UserUpdate.model_validate({"name": None})
    with pytest.raises(ValidationError):
        UserUpdate.model_validate({"timezone": None})
