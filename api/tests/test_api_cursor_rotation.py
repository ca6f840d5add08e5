"""Cursor keys from Secrets Manager (moto server): the rotation function's steps, and a cursor
signed before a rotation still accepted after it (previous key), but not after two."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from todo_api.cursor_key_rotation import RotationError, rotate_step
from todo_api.cursor_keys import REFRESH_INTERVAL_SECONDS, SecretsManagerCursorKeys
from todo_api.services.cursor import InvalidCursorError, decode_cursor_with_any, encode_cursor
from todo_local.testing.secret_rotation import enable_rotation
from todo_local.testing.secret_rotation import rotate as rotate_secret

SECRET = "todo-test/cursor-signing-key"
USER, FILTERS, POSITION = "user-1", {"status": "pending"}, {"PK": "USER#user-1", "SK": "TASK#a"}


@pytest.fixture
def secrets(moto_env: str) -> Any:
    """moto's Secrets Manager with the cursor secret, rotation enabled as the stack enables it."""
    client = boto3.client("secretsmanager")
    client.create_secret(Name=SECRET, SecretString="first-key-" + "a" * 40)
    enable_rotation(client, SECRET)
    assert client.describe_secret(SecretId=SECRET)["RotationEnabled"] is True
    return client


def rotate(client: Any) -> str:
    """One rotation as Secrets Manager drives it: the four steps with one new version token."""
    return rotate_secret(client, SECRET)


def value(client: Any, stage: str) -> str:
    return str(client.get_secret_value(SecretId=SECRET, VersionStage=stage)["SecretString"])


def test_a_rotation_makes_a_new_random_current_key_and_keeps_the_old_one_as_previous(secrets: Any) -> None:
    before = value(secrets, "AWSCURRENT")
    token = rotate(secrets)
    after = value(secrets, "AWSCURRENT")
    assert after != before
    assert len(after) == 64
    assert value(secrets, "AWSPREVIOUS") == before
    stages = secrets.describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[token]  # (Secrets Manager drops AWSPENDING itself afterwards)


def test_retried_steps_change_nothing(secrets: Any) -> None:
    token = rotate(secrets)
    current = value(secrets, "AWSCURRENT")
    for step in ("createSecret", "finishSecret"):
        rotate_step(secrets, {"SecretId": SECRET, "ClientRequestToken": token, "Step": step})
    assert value(secrets, "AWSCURRENT") == current


def test_a_step_for_an_unknown_version_or_an_unknown_step_fails(secrets: Any) -> None:
    with pytest.raises(RotationError, match="not a version"):
        rotate_step(
            secrets, {"SecretId": SECRET, "ClientRequestToken": str(uuid.uuid4()), "Step": "finishSecret"}
        )
    with pytest.raises(RotationError, match="unknown rotation step"):
        rotate_step(secrets, {"SecretId": SECRET, "ClientRequestToken": "x", "Step": "dropSecret"})


def test_a_cursor_issued_before_a_rotation_is_accepted_after_it_but_not_after_two(secrets: Any) -> None:
    # Given a cursor signed with the key that is current now
    issued = encode_cursor(SecretsManagerCursorKeys(SECRET, secrets).signing_key(), USER, FILTERS, POSITION)
    # When the key rotates, a container that reads the keys afresh still accepts it (AWSPREVIOUS)
    rotate(secrets)
    fresh = SecretsManagerCursorKeys(SECRET, secrets)
    assert len(fresh.verification_keys()) == 2
    assert decode_cursor_with_any(fresh.verification_keys(), USER, FILTERS, issued) == POSITION
    # and signs new cursors with the new key
    assert fresh.signing_key() == value(secrets, "AWSCURRENT").encode()
    # But after a second rotation that key is neither current nor previous
    rotate(secrets)
    with pytest.raises(InvalidCursorError):
        decode_cursor_with_any(
            SecretsManagerCursorKeys(SECRET, secrets).verification_keys(), USER, FILTERS, issued
        )


def test_before_any_rotation_only_the_current_key_verifies(secrets: Any) -> None:
    keys = SecretsManagerCursorKeys(SECRET, secrets)
    assert keys.verification_keys() == (value(secrets, "AWSCURRENT").encode(),)


def test_a_container_that_missed_a_rotation_catches_up_once_per_interval(secrets: Any) -> None:
    now = [1000.0]
    stale = SecretsManagerCursorKeys(SECRET, secrets, clock=lambda: now[0])
    stale.verification_keys()  # cached before the rotation
    rotate(secrets)
    signed_elsewhere = encode_cursor(
        SecretsManagerCursorKeys(SECRET, secrets).signing_key(), USER, FILTERS, POSITION
    )
    with pytest.raises(InvalidCursorError):
        decode_cursor_with_any(stale.verification_keys(), USER, FILTERS, signed_elsewhere)  # still cached
    assert stale.refresh() is True
    assert decode_cursor_with_any(stale.verification_keys(), USER, FILTERS, signed_elsewhere) == POSITION
    # A flood of bad cursors cannot turn into a flood of Secrets Manager calls
    assert stale.refresh() is False
    now[0] += REFRESH_INTERVAL_SECONDS
    assert stale.refresh() is False  # allowed again, but nothing changed
