"""Cursor-key rotation on moto's Secrets Manager, as the stack's rotation schedule drives it."""

from __future__ import annotations

import uuid
from typing import Any

from todo_api.cursor_key_rotation import rotate_step

ROTATION_STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def enable_rotation(client: Any, secret_id: str) -> None:
    """Turn rotation on, as the stack does (once; again is a no-op).

    Turning it on makes moto stage a copy as AWSPENDING, which Secrets Manager proper would not:
    that stage is removed, so the first rotation starts as on AWS.
    """
    if client.describe_secret(SecretId=secret_id).get("RotationEnabled"):
        return
    client.rotate_secret(
        SecretId=secret_id, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False
    )
    for version, stages in client.describe_secret(SecretId=secret_id)["VersionIdsToStages"].items():
        if "AWSPENDING" in stages:
            client.update_secret_version_stage(
                SecretId=secret_id, VersionStage="AWSPENDING", RemoveFromVersionId=version
            )


def rotate(client: Any, secret_id: str) -> str:
    """One rotation as Secrets Manager drives it: the four steps with one new version token."""
    token = str(uuid.uuid4())
    for step in ROTATION_STEPS:
        rotate_step(client, {"SecretId": secret_id, "ClientRequestToken": token, "Step": step})
    return token
