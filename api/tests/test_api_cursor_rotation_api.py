"""Through the local gateway: a cursor handed out before the cursor key rotates still pages after it.

The local platform keeps the key in its emulated Secrets Manager, as the stack does on AWS, and the
api reads it through Powertools Parameters; a rotation is the rotation function's own four steps.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import boto3

from todo_api.cursor_key_rotation import rotate_step


def rotate_platform_key(platform: Any) -> None:
    client = boto3.client("secretsmanager")
    secret = platform.api_runtime.settings.cursor_secret_id
    if not client.describe_secret(SecretId=secret).get("RotationEnabled"):
        client.rotate_secret(
            SecretId=secret, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False
        )
        for version, stages in client.describe_secret(SecretId=secret)["VersionIdsToStages"].items():
            if "AWSPENDING" in stages:
                client.update_secret_version_stage(
                    SecretId=secret, VersionStage="AWSPENDING", RemoveFromVersionId=version
                )
    token = str(uuid.uuid4())
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        rotate_step(client, {"SecretId": secret, "ClientRequestToken": token, "Step": step})
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
