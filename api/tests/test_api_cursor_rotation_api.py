"""Through the local gateway: a cursor handed out before the cursor key rotates still pages after it.

The local platform keeps the key in its emulated Secrets Manager, as the stack does on AWS, and the
api reads it through Powertools Parameters; a rotation is the rotation function's own four steps.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import boto3

from todo_local.testing.secret_rotation import enable_rotation, rotate


def rotate_platform_key(platform: Any) -> None:
    client = boto3.client("secretsmanager")
    secret = platform.api_runtime.settings.cursor_secret_id
    enable_rotation(client, secret)
    rotate(client, secret)
    # A container started after the rotation: nothing cached from before it.
    platform.api_runtime = dataclasses.replace(platform.api_runtime)


def test_a_cursor_from_before_a_rotation_pages_on_and_one_from_two_rotations_ago_is_refused(
    api_user: Any, api: Any, local_platform: Any
) -> None:
    client = api_user.client
    api.create_profile(client)
    created = {api.create_task(client, title=f"task {i}")["task_id"] for i in range(3)}
    first = client.get("/api/v1/tasks", params={"limit": 1})
    assert first.status_code == 200
    cursor = first.json()["next_cursor"]
    assert cursor

    rotate_platform_key(local_platform)
    second = client.get("/api/v1/tasks", params={"limit": 1, "cursor": cursor})
    assert second.status_code == 200, second.text
    seen = {first.json()["items"][0]["task_id"], second.json()["items"][0]["task_id"]}
    assert len(seen) == 2
    assert seen <= created
    newer_cursor = second.json()["next_cursor"]  # signed with the new key

    rotate_platform_key(local_platform)
    refused = client.get("/api/v1/tasks", params={"limit": 1, "cursor": cursor})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "INVALID_CURSOR"
    assert client.get("/api/v1/tasks", params={"limit": 1, "cursor": newer_cursor}).status_code == 200
