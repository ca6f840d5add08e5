"""Users through the local gateway with real Cognito tokens: profile lifecycle and account deletion."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from todo_api.repository import user_repository
from todo_contracts.keys import deletion_marker_key


def test_create_profile_takes_email_from_the_token(api_user: Any, api: Any) -> None:
    response = api_user.client.post(
        "/api/v1/users", json={"name": "Ada Lovelace", "timezone": "Europe/London"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["user_id"] == api_user.sub
    assert body["email"] == api_user.email
    assert body["name"] == "Ada Lovelace"
    assert body["timezone"] == "Europe/London"
    assert body["version"] == 1
    assert body["created_at"].endswith("Z")
    assert len(body["created_at"]) == len("2026-11-23T12:00:00.123Z")
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == "/api/v1/users/me"


def test_timezone_defaults_to_utc(api_user: Any) -> None:
    response = api_user.client.post("/api/v1/users", json={"name": "Ada"})
    assert response.json()["timezone"] == "UTC"


def test_second_profile_is_409(member: Any, api: Any) -> None:
    response = member.client.post("/api/v1/users", json={"name": "Again"})
    assert response.status_code == 409
    assert api.error_code(response) == "USER_EXISTS"
    assert member.client.get("/api/v1/users/me").json()["name"] == "Ada"


def test_invalid_profile_bodies_are_422(api_user: Any, api: Any) -> None:
    for body in (
        {"name": "Ada", "timezone": "Mars/Base"},
        {"name": ""},
        {"name": "Ada", "email": "x@y.z"},
        {},
    ):
        response = api_user.client.post("/api/v1/users", json=body)
        assert response.status_code == 422, body
        assert api.error_code(response) == "VALIDATION_ERROR"
    assert api.error_code(api_user.client.get("/api/v1/users/me")) == "USER_NOT_FOUND"


def test_me_and_by_id(member: Any, api: Any) -> None:
    me = member.client.get("/api/v1/users/me")
    assert me.status_code == 200
    assert me.headers["ETag"] == '"1"'
    by_id = member.client.get(f"/api/v1/users/{member.sub}")
    assert by_id.status_code == 200
    assert by_id.json() == me.json()


def test_me_without_profile_is_404(api_user: Any, api: Any) -> None:
    response = api_user.client.get("/api/v1/users/me")
    assert response.status_code == 404
    assert api.error_code(response) == "USER_NOT_FOUND"


def test_other_users_profile_is_404_never_403(member_factory: Any, api: Any) -> None:
    alice, bob = member_factory(), member_factory()
    response = alice.client.get(f"/api/v1/users/{bob.sub}")
    assert response.status_code == 404
    assert api.error_code(response) == "USER_NOT_FOUND"
    # Same answer as for an id nobody has: existence is not revealed.
    assert api.error_code(alice.client.get("/api/v1/users/no-such-user")) == "USER_NOT_FOUND"


def test_patch_me(member: Any, api: Any) -> None:
    response = member.client.patch("/api/v1/users/me", json={"timezone": "Asia/Tokyo"})
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["timezone"], body["version"]) == ("Ada", "Asia/Tokyo", 2)
    assert response.headers["ETag"] == '"2"'
    assert body["updated_at"] >= body["created_at"]


def test_patch_me_rejects_null_unknown_and_stale(member: Any, api: Any) -> None:
    for body in ({"name": None}, {"timezone": "Nowhere/Land"}, {"user_id": "x"}, {"email": "x@y.z"}):
        response = member.client.patch("/api/v1/users/me", json=body)
        assert api.error_code(response) == "VALIDATION_ERROR", body
    stale = member.client.patch("/api/v1/users/me", json={"name": "Eve"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    assert api.error_code(stale) == "PRECONDITION_FAILED"
    current = member.client.get("/api/v1/users/me").json()
    assert (current["name"], current["version"]) == ("Ada", 1)


def test_patch_me_without_profile_is_404(api_user: Any, api: Any) -> None:
    assert api.error_code(api_user.client.patch("/api/v1/users/me", json={"name": "X"})) == "USER_NOT_FOUND"


def test_noop_patch_keeps_the_version(member: Any) -> None:
    response = member.client.patch("/api/v1/users/me", json={"name": "Ada"})
    assert response.status_code == 200
    assert response.json()["version"] == 1


def test_deletion_batches_fit_in_one_transaction() -> None:
    # Tasks, then the profile, the insights item and the deletion marker.
    assert user_repository.DELETE_BATCH + 3 <= user_repository.MAX_TRANSACTION_ITEMS == 100


def test_delete_me_removes_profile_and_every_task(
    member: Any, member_factory: Any, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of 4 (the gateway runs the handler in this process) so that a dozen tasks take
    # several transactions, as a hundred would with the real batch size.
    monkeypatch.setattr(user_repository, "DELETE_BATCH", 4)
    bystander = member_factory()
    kept = api.create_task(bystander.client, title="not yours")
    for n in range(13):
        api.create_task(member.client, title=f"task {n}", category=f"c{n % 3}", due_date="2026-05-01")
    response = member.client.delete("/api/v1/users/me")
    assert response.status_code == 204
    assert response.content == b""
    assert api.error_code(member.client.get("/api/v1/users/me")) == "USER_NOT_FOUND"
    assert member.client.get("/api/v1/tasks").json() == {"items": [], "next_cursor": None}
    assert member.client.get("/api/v1/tasks", params={"category": "c1"}).json()["items"] == []
    assert member.client.get("/api/v1/tasks", params={"due_after": "2026-01-01"}).json()["items"] == []
    assert api.error_code(member.client.post("/api/v1/tasks", json={"title": "x"})) == "USER_NOT_FOUND"
    assert api.error_code(member.client.delete("/api/v1/users/me")) == "USER_NOT_FOUND"
    assert bystander.client.get(f"/api/v1/tasks/{kept['task_id']}").status_code == 200
    # A new profile can be created afterwards, starting clean.
    assert api.create_profile(member.client)["version"] == 1


def test_delete_me_without_profile_is_404(api_user: Any, api: Any) -> None:
    assert api.error_code(api_user.client.delete("/api/v1/users/me")) == "USER_NOT_FOUND"


def test_delete_me_with_stale_if_match_changes_nothing(member: Any, api: Any) -> None:
    task = api.create_task(member.client)
    response = member.client.delete("/api/v1/users/me", headers={"If-Match": '"9"'})
    assert api.error_code(response) == "PRECONDITION_FAILED"
    assert member.client.get("/api/v1/users/me").status_code == 200
    assert member.client.get(f"/api/v1/tasks/{task['task_id']}").status_code == 200


def test_interrupted_deletion_blocks_new_tasks_and_a_retry_finishes_it(
    member: Any, api: Any, local_platform: Any
) -> None:
    """Given a deletion that stopped after its first step (the marker exists, tasks remain)."""
    task = api.create_task(member.client)
    table = local_platform.endpoints["table_name"]
    marker = {name: {"S": value} for name, value in deletion_marker_key(member.sub).items()}
    client = boto3.client("dynamodb")
    client.put_item(TableName=table, Item={**marker, "expiration": {"N": "99999999999"}})
    # Then no task can be created while it is in progress ...
    blocked = member.client.post("/api/v1/tasks", json={"title": "sneaky"})
    assert api.error_code(blocked) == "USER_NOT_FOUND"
    assert [t["task_id"] for t in member.client.get("/api/v1/tasks").json()["items"]] == [task["task_id"]]
    # ... and a retried DELETE finishes the job, marker included.
    assert member.client.delete("/api/v1/users/me").status_code == 204
    assert member.client.get("/api/v1/tasks").json()["items"] == []
    assert "Item" not in client.get_item(TableName=table, Key=marker, ConsistentRead=True)
    assert api.error_code(member.client.get("/api/v1/users/me")) == "USER_NOT_FOUND"
