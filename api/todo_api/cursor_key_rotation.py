"""Secrets Manager rotation function for the cursor-signing key (its own Lambda, same bundle as the api).

Secrets Manager calls it four times per rotation with `Step` = createSecret, setSecret,
testSecret, finishSecret. The key is ours alone (no database to tell), so: create a random
AWSPENDING value, check it, then make it AWSCURRENT; Secrets Manager moves the old current to
AWSPREVIOUS, which the api keeps accepting for cursors it signed before the rotation.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from todo_api.cursor_keys import MIN_KEY_LENGTH

KEY_LENGTH = 64
CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"

logger = Logger()
_clients: dict[str, Any] = {}
_lock = threading.Lock()


class RotationError(RuntimeError):
    """The rotation cannot go on; Secrets Manager marks it failed and retries later."""


def _client() -> Any:
    with _lock:  # built on first use, not at import (tests point AWS_ENDPOINT_URL first)
        if "secretsmanager" not in _clients:
            _clients["secretsmanager"] = boto3.client("secretsmanager")
        return _clients["secretsmanager"]


def _has_version(client: Any, secret_id: str, token: str, stage: str) -> bool:
    try:
        client.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage=stage)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


def create_secret(client: Any, secret_id: str, token: str) -> None:
    client.get_secret_value(SecretId=secret_id, VersionStage=CURRENT)  # the secret must exist
    if _has_version(client, secret_id, token, PENDING):
        return  # a retried step: the pending key is already there
    value = client.get_random_password(PasswordLength=KEY_LENGTH, ExcludePunctuation=True)["RandomPassword"]
    client.put_secret_value(
        SecretId=secret_id, ClientRequestToken=token, SecretString=value, VersionStages=[PENDING]
    )


def check_secret(client: Any, secret_id: str, token: str) -> None:
    value = client.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage=PENDING)["SecretString"]
    if len(value) < MIN_KEY_LENGTH:
        raise RotationError(f"the pending key is shorter than {MIN_KEY_LENGTH} characters")


def finish_secret(client: Any, secret_id: str, token: str) -> None:
    versions = client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    current = next((version for version, stages in versions.items() if CURRENT in stages), None)
    if current == token:
        return  # already finished (a retried step)
    client.update_secret_version_stage(
        SecretId=secret_id, VersionStage=CURRENT, MoveToVersionId=token, RemoveFromVersionId=current
    )


STEPS = {
    "createSecret": create_secret,
    "setSecret": lambda client, secret_id, token: None,  # nothing outside Secrets Manager uses the key
    "testSecret": check_secret,
    "finishSecret": finish_secret,
}


def rotate_step(client: Any, event: dict[str, Any]) -> None:
    """Run one rotation step for `event` ({SecretId, ClientRequestToken, Step})."""
    secret_id, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if step not in STEPS:
        raise RotationError(f"unknown rotation step {step!r}")
    metadata = client.describe_secret(SecretId=secret_id)
    if not metadata.get("RotationEnabled", False):
        raise RotationError(f"rotation is not enabled on {secret_id}")
    stages = metadata.get("VersionIdsToStages", {}).get(token)
    if stages is None:
        # Secrets Manager labels the new version AWSPENDING before it calls createSecret; only
        # createSecret may find it missing (and then creates it), any later step may not.
        if step != "createSecret":
            raise RotationError(f"version {token} is not a version of {secret_id}")
        stages = [PENDING]
    if CURRENT in stages and step != "finishSecret":
        return  # this version is already current: nothing left to do
    if CURRENT not in stages and PENDING not in stages:
        raise RotationError(f"version {token} is neither pending nor current")
    logger.info("rotation step", step=step, version=token)
    STEPS[step](client, secret_id, token)


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> None:
    rotate_step(_client(), event)
