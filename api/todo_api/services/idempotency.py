"""Idempotency-Key for POSTs: Powertools idempotency on the same table, scoped to the caller."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from todo_api.services.failures import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    InvalidIdempotencyKeyError,
)
from todo_contracts.keys import IDEMPOTENCY_SORT_KEY
from todo_contracts.table import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE

IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x20-\x7e]{1,255}$")
RETENTION_SECONDS = 24 * 3600


class CallerScopedPersistenceLayer(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB layer, with each record in its own partition.

    With a sort key configured, Powertools puts every record under one static partition key,
    which turns a busy POST endpoint into a hot partition. Here the (hashed, caller-scoped) key
    is the partition key and the sort key is a constant. The key layout is pinned by a test.
    """

    def _get_key(self, idempotency_key: str) -> dict[str, Any]:
        return {self.key_attr: {"S": idempotency_key}, str(self.sort_key_attr): {"S": IDEMPOTENCY_SORT_KEY}}


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    # Runs only when Powertools returns a stored result instead of calling the function.
    return {**response, "replayed": True}


CONFIG = IdempotencyConfig(
    event_key_jmespath="scope",
    payload_validation_jmespath="payload",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=RETENTION_SECONDS,
    response_hook=_mark_replayed,
)


def check_key(key: str | None) -> str | None:
    """The Idempotency-Key header if present and well-formed (1-255 printable ASCII)."""
    if key is None:
        return None
    if not KEY_PATTERN.match(key) or not key.strip():
        raise InvalidIdempotencyKeyError(IDEMPOTENCY_HEADER)
    return key


class IdempotentRunner:
    """Runs an action once per (operation, caller, key) and body, on one table.

    Powertools' decorator is applied once, here, to a module-level function; the action travels
    as an argument Powertools passes through (only `request` is hashed and stored).
    """

    def __init__(self, client: Any, table_name: str) -> None:
        self.persistence = CallerScopedPersistenceLayer(
            table_name=table_name,
            key_attr=PARTITION_KEY,
            sort_key_attr=SORT_KEY,
            expiry_attr=TTL_ATTRIBUTE,
            boto3_client=client,
        )
        self._once: Callable[..., dict[str, Any]] = idempotent_function(
            data_keyword_argument="request", config=CONFIG, persistence_store=self.persistence
        )(execute)

    def run_once(
        self,
        *,
        operation: str,
        user_id: str,
        key: str | None,
        payload: dict[str, Any],
        action: Callable[[], dict[str, Any]],
    ) -> tuple[dict[str, Any], bool]:
        """Run `action` once per (operation, caller, key) and body; returns (its result, replayed?).

        Without a key the action simply runs. A repeat with the same body gets the stored result;
        the same key with another body is 422; a repeat while the first still runs is 409. Failures
        are not stored, so a failed request can be retried with the same key.
        """
        if key is None:
            return action(), False
        try:
            outcome = self._once(
                request={"scope": f"{operation}#{user_id}#{key}", "payload": payload}, action=action
            )
        except IdempotencyValidationError:
            raise IdempotencyKeyReusedError from None
        except IdempotencyAlreadyInProgressError:
            raise IdempotencyInProgressError from None
        return outcome["result"], bool(outcome["replayed"])


def execute(request: dict[str, Any], action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """What Powertools stores and replays; `request` is only its key and payload check.

    Its name is part of every stored record's key (`<function>.execute#<hash>`): renaming it
    would forget the keys of the last 24 hours."""
    return {"result": action(), "replayed": False}
