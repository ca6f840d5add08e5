"""Idempotency-Key for POSTs: Powertools idempotency on the same table, scoped to the caller."""

from __future__ import annotations

import hashlib
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
from todo_contracts.keys import IDEMPOTENCY_PARTITION_PREFIX
from todo_contracts.table import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE

IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x20-\x7e]{1,255}$")
RETENTION_SECONDS = 24 * 3600
# Powertools' documented composite-key mode puts every record of one persistence layer under one
# static partition value (the sort key is the hashed key). The records spread over this many such
# partitions, one layer each, so keyed POSTs are not one hot partition (ADR 0002).
PARTITIONS = 8
PARTITION_VALUES = tuple(f"{IDEMPOTENCY_PARTITION_PREFIX}{shard}" for shard in range(PARTITIONS))


def partition_of(scope: str) -> str:
    """The static partition value a scope's record lives under: one of `PARTITION_VALUES`, by a
    stable hash (the same scope always lands in the same partition, so a repeat finds its record)."""
    return PARTITION_VALUES[int.from_bytes(hashlib.sha256(scope.encode()).digest()[:4], "big") % PARTITIONS]


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

    Powertools is used only through its documented options: one `DynamoDBPersistenceLayer` per
    partition (`sort_key_attr` + `static_pk_value`), and its decorator applied once per layer,
    here, to a module-level function; the action travels as an argument Powertools passes
    through (only `request` is hashed and stored).
    """

    def __init__(self, client: Any, table_name: str) -> None:
        self.persistence = {
            partition: DynamoDBPersistenceLayer(
                table_name=table_name,
                key_attr=PARTITION_KEY,
                sort_key_attr=SORT_KEY,
                static_pk_value=partition,
                expiry_attr=TTL_ATTRIBUTE,
                boto3_client=client,
            )
            for partition in PARTITION_VALUES
        }
        self._once: dict[str, Callable[..., dict[str, Any]]] = {
            partition: idempotent_function(
                data_keyword_argument="request", config=CONFIG, persistence_store=layer
            )(execute)
            for partition, layer in self.persistence.items()
        }

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
        scope = f"{operation}#{user_id}#{key}"
        try:
            outcome = self._once[partition_of(scope)](
                request={"scope": scope, "payload": payload}, action=action
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
