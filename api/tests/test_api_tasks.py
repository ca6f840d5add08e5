"""Tasks through the local gateway: create, read, replace, patch, delete, ETag/If-Match, isolation."""

from __future__ import annotations

import re
from typing import Any

import boto3

from todo_api.models.task import Task
from todo_api.repository.task_repository import task_item

TASK_FIELDS = {
    "task_id", "user_id", "title", "description", "status", "priority", "category",
    "due_date", "tags", "created_at", "updated_at", "completed_at", "version",
}  # fmt: skip


def test_create_returns_201_location_and_etag(member: Any) -> None:
    body = {
        "title": "Book flights",
        "description": "window seat",
        "priority": "high",
        "category": "travel",
        "due_date": "2026-12-01",
        "tags": ["trip", "family"],
    }
    response = member.client.post("/api/v1/tasks", json=body)
    assert response.status_code == 201
    task = response.json()
    assert set(task) == TASK_FIELDS
    assert re.fullmatch(r"[0-9a-f]{32}", task["task_id"])
    assert task["user_id"] == member.sub
    assert {k: task[k] for k in body} == body
    assert (task["status"], task["version"], task["completed_at"]) == ("pending", 1, None)
    assert response.headers["Location"] == f"/api/v1/tasks/{task['task_id']}"
    assert response.headers["ETag"] == '"1"'
    fetched = member.client.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.json() == task
    assert fetched.headers["ETag"] == '"1"'


def test_task_ids_sort_by_creation(member: Any, api: Any) -> None:
    ids = [api.create_task(member.client, title=f"t{n}")["task_id"] for n in range(3)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3


def test_create_completed_sets_completed_at(member: Any, api: Any) -> None:
    task = api.create_task(member.client, status="completed")
    assert task["completed_at"] is not None


def test_create_without_profile_is_404(api_user: Any, api: Any) -> None:
    response = api_user.client.post("/api/v1/tasks", json={"title": "x"})
    assert response.status_code == 404
    assert api.error_code(response) == "USER_NOT_FOUND"
    assert "profile" in response.json()["error"]["message"]


def test_create_rejects_invalid_fields_with_each_path(member: Any, api: Any) -> None:
    response = member.client.post(
        "/api/v1/tasks", json={"title": " ", "status": "done", "tags": ["ok", ""], "owner": "x"}
    )
    assert response.status_code == 422
    assert api.error_code(response) == "VALIDATION_ERROR"
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert fields == {"body.title", "body.status", "body.tags.1", "body.owner"}
    assert member.client.get("/api/v1/tasks").json()["items"] == []


def test_get_unknown_or_malformed_id_is_404(member: Any, api: Any) -> None:
    for task_id in ("0" * 32, "not-an-id", "A" * 32, "x" * 2000):
        response = member.client.get(f"/api/v1/tasks/{task_id}")
        assert response.status_code == 404
        assert api.error_code(response) == "TASK_NOT_FOUND"


def test_put_replaces_every_mutable_field(member: Any, api: Any) -> None:
    task = api.create_task(
        member.client, description="old", priority="high", tags=["a"], due_date="2026-01-01"
    )
    response = member.client.put(f"/api/v1/tasks/{task['task_id']}", json={"title": "New title"})
    assert response.status_code == 200
    replaced = response.json()
    assert replaced["title"] == "New title"
    # Fields left out go back to their defaults.
    assert (replaced["description"], replaced["priority"], replaced["tags"], replaced["due_date"]) == (
        "",
        "medium",
        [],
        None,
    )
    assert replaced["version"] == 2
    assert replaced["created_at"] == task["created_at"]
    assert response.headers["ETag"] == '"2"'


def test_put_requires_title_and_rejects_unknown_fields(member: Any, api: Any) -> None:
    task = api.create_task(member.client)
    for body in ({}, {"title": "x", "version": 9}, {"title": "x", "task_id": "0" * 32}):
        response = member.client.put(f"/api/v1/tasks/{task['task_id']}", json=body)
        assert api.error_code(response) == "VALIDATION_ERROR", body
    assert member.client.get(f"/api/v1/tasks/{task['task_id']}").json()["version"] == 1


def test_patch_changes_only_sent_fields_and_null_clears_due_date(member: Any, api: Any) -> None:
    task = api.create_task(member.client, due_date="2026-01-01", tags=["x"], priority="low")
    url = f"/api/v1/tasks/{task['task_id']}"
    response = member.client.patch(url, json={"due_date": None, "title": "Renamed"})
    assert response.status_code == 200
    patched = response.json()
    assert (patched["due_date"], patched["title"], patched["tags"], patched["priority"]) == (
        None,
        "Renamed",
        ["x"],
        "low",
    )
    assert patched["version"] == 2
    assert member.client.get("/api/v1/tasks", params={"due_after": "2000-01-01"}).json()["items"] == []
    assert api.error_code(member.client.patch(url, json={"title": None})) == "VALIDATION_ERROR"


def test_completed_at_follows_the_status(member: Any, api: Any) -> None:
    task = api.create_task(member.client)
    url = f"/api/v1/tasks/{task['task_id']}"
    completed = member.client.patch(url, json={"status": "completed"}).json()
    assert completed["completed_at"] is not None
    assert completed["version"] == 2
    renamed = member.client.patch(url, json={"title": "still done"}).json()
    assert renamed["completed_at"] == completed["completed_at"]
    reopened = member.client.patch(url, json={"status": "in_progress"}).json()
    assert reopened["completed_at"] is None
    assert reopened["version"] == 4


def test_noop_patch_does_not_bump_the_version(member: Any, api: Any) -> None:
    task = api.create_task(member.client, priority="high")
    url = f"/api/v1/tasks/{task['task_id']}"
    for body in ({}, {"priority": "high"}, {"title": task["title"]}):
        response = member.client.patch(url, json=body)
        assert response.status_code == 200
        assert response.json() == task
        assert response.headers["ETag"] == '"1"'


def test_if_match_current_version_succeeds_and_stale_is_412_changing_nothing(member: Any, api: Any) -> None:
    task = api.create_task(member.client)
    url = f"/api/v1/tasks/{task['task_id']}"
    first = member.client.patch(url, json={"title": "v2"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200
    for method, body in (("PATCH", {"title": "lost"}), ("PUT", {"title": "lost"}), ("DELETE", None)):
        response = member.client.request(method, url, json=body, headers={"If-Match": '"1"'})
        assert response.status_code == 412, method
        assert api.error_code(response) == "PRECONDITION_FAILED"
    current = member.client.get(url).json()
    assert (current["title"], current["version"]) == ("v2", 2)
    assert member.client.put(url, json={"title": "v3"}, headers={"If-Match": '"2"'}).status_code == 200
    assert member.client.delete(url, headers={"If-Match": '"3"'}).status_code == 204


def test_malformed_if_match_is_412(member: Any, api: Any) -> None:
    task = api.create_task(member.client)
    url = f"/api/v1/tasks/{task['task_id']}"
    for header in ("1", 'W/"1"', '"abc"', '"' + "9" * 40 + '"'):
        response = member.client.patch(url, json={"title": "x"}, headers={"If-Match": header})
        assert api.error_code(response) == "PRECONDITION_FAILED", header
    assert member.client.patch(url, json={"title": "x"}, headers={"If-Match": "*"}).status_code == 200


def test_delete_then_404(member: Any, api: Any) -> None:
    task = api.create_task(member.client)
    url = f"/api/v1/tasks/{task['task_id']}"
    response = member.client.delete(url)
    assert response.status_code == 204
    assert response.content == b""
    for method in ("GET", "DELETE", "PATCH", "PUT"):
        body = {"title": "x"} if method in {"PATCH", "PUT"} else None
        response = member.client.request(method, url, json=body)
        assert response.status_code == 404, method
        assert api.error_code(response) == "TASK_NOT_FOUND"


def test_another_users_task_is_404_and_unchanged(member_factory: Any, api: Any) -> None:
    owner, intruder = member_factory(), member_factory()
    task = api.create_task(owner.client, title="private")
    url = f"/api/v1/tasks/{task['task_id']}"
    attempts = [
        ("GET", None, {}),
        ("PATCH", {"title": "pwned"}, {}),
        ("PUT", {"title": "pwned"}, {}),
        ("DELETE", None, {}),
        ("PATCH", {"title": "pwned"}, {"If-Match": '"1"'}),
        ("DELETE", None, {"If-Match": '"1"'}),
    ]
    for method, body, headers in attempts:
        response = intruder.client.request(method, url, json=body, headers=headers)
        assert response.status_code == 404, method
        assert api.error_code(response) == "TASK_NOT_FOUND"
    assert intruder.client.get("/api/v1/tasks").json()["items"] == []
    assert owner.client.get(url).json() == task


def test_identity_cannot_be_chosen_by_the_client(member_factory: Any, api: Any) -> None:
    alice, bob = member_factory(), member_factory()
    response = alice.client.post("/api/v1/tasks", json={"title": "x", "user_id": bob.sub})
    assert api.error_code(response) == "VALIDATION_ERROR"
    spoofed = alice.client.get("/api/v1/tasks", params={"user_id": bob.sub})
    assert api.error_code(spoofed) == "VALIDATION_ERROR"
    mine = api.create_task(alice.client, title="mine")
    assert mine["user_id"] == alice.sub
    assert bob.client.get("/api/v1/tasks").json()["items"] == []


def test_patched_item_is_exactly_what_a_full_write_of_the_task_stores(
    member: Any, api: Any, local_platform: Any
) -> None:
    """PATCH and PUT change the item in place (one UpdateItem); the stored item, and so the stream's
    images the lake reads, must be attribute for attribute what `task_item` writes for the task."""
    table = local_platform.endpoints["table_name"]
    client = boto3.client("dynamodb")
    task = api.create_task(member.client, due_date="2026-01-01", tags=["x"])
    url = f"/api/v1/tasks/{task['task_id']}"
    key = {"PK": {"S": f"USER#{member.sub}"}, "SK": {"S": f"TASK#{task['task_id']}"}}
    changes: list[dict[str, Any]] = [
        {"status": "completed", "category": "home"},
        {"title": "still done", "tags": []},
        {"status": "in_progress", "priority": "high", "due_date": None},
        {"due_date": "2026-02-03", "description": ""},
    ]
    for body in changes:
        response = member.client.patch(url, json=body)
        assert response.status_code == 200
        stored = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
        assert stored == task_item(Task.model_validate(response.json()))
        assert member.client.get(url).json() == response.json()
    put = member.client.put(url, json={"title": "replaced", "status": "completed"})
    assert put.status_code == 200
    stored = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert stored == task_item(Task.model_validate(put.json()))


def test_an_item_off_the_completed_at_invariant_takes_the_read_then_write_path(
    member: Any, api: Any, local_platform: Any
) -> None:
    """A stored task that is completed without completed_at (not written by this API) is patched by
    reading it and writing it whole, as before: its completed_at stays null."""
    table = local_platform.endpoints["table_name"]
    client = boto3.client("dynamodb")
    task = api.create_task(member.client, status="completed")
    key = {"PK": {"S": f"USER#{member.sub}"}, "SK": {"S": f"TASK#{task['task_id']}"}}
    client.update_item(TableName=table, Key=key, UpdateExpression="REMOVE completed_at")
    response = member.client.patch(
        f"/api/v1/tasks/{task['task_id']}", json={"status": "completed", "title": "t"}
    )
    assert response.status_code == 200
    assert (response.json()["completed_at"], response.json()["version"]) == (None, 2)
