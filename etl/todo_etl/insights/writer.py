"""Conditional, batched writes of insights items into the single table (ADR 0014).

Each user is two actions of one TransactWriteItems call: a ConditionCheck that the user's profile
still exists (and was created no later than the run's `as_of`), and a Put of the insights item
conditioned on the stored `as_of` being older (or absent). So an older run never overwrites a
newer one, the same run twice writes nothing, and a user whose account is deleted meanwhile gets
no item back: account deletion removes the profile and the insights item in one transaction, and
the two are serialized with this one.

A cancelled transaction names, per action, why (CancellationReasons): users whose condition
failed are counted and dropped, and the rest are sent again. Throttling of whole calls is
botocore's (standard retry mode); conflicts with concurrent writers are retried here.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from todo_contracts.keys import insights_key, profile_key
from todo_contracts.table import ENTITY_TYPE_ATTRIBUTE, INSIGHTS_ENTITY_TYPE, PARTITION_KEY

# DynamoDB allows 100 actions per transaction; each user takes two.
USERS_PER_TRANSACTION = 50
# Attempts per chunk: each cancellation removes the users that can never succeed, so only
# conflicts with other writers (or throttled items) need another try.
MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 0.05
RETRYABLE_REASONS = frozenset(
    {"None", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
CONDITION_FAILED = "ConditionalCheckFailed"
RETRYABLE_ERRORS = frozenset({"TransactionConflictException", "TransactionInProgressException"})

_serializer = TypeSerializer()


class InsightsWriteError(RuntimeError):
    """The table refused writes for a reason other than a failed condition, or kept conflicting."""


@dataclass
class WriteOutcome:
    """What one load did, per user."""

    written: int = 0
    skipped_stale: int = 0  # the table already holds this run or a newer one
    skipped_deleted: int = 0  # the profile is gone (or is a newer account): the account was deleted
    transactions: int = 0
    retries: int = 0


def insights_item(row: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The DynamoDB item of one user's insights (nulls left out, as everywhere in the table)."""
    values: dict[str, Any] = {
        **insights_key(row["user_id"]),
        ENTITY_TYPE_ATTRIBUTE: INSIGHTS_ENTITY_TYPE,
        "run_id": run_id,
        **row,
    }
    return {name: _serializer.serialize(_exact(value)) for name, value in values.items() if value is not None}


def _exact(value: Any) -> Any:
    # TypeSerializer refuses float; the export's numbers are already Decimal or int.
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, list):
        return [_exact(v) for v in value]
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    return value


def _key(key: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in key.items()}


class InsightsWriter:
    """Loads rows into `table_name` in conditional transactions of USERS_PER_TRANSACTION users."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        users_per_transaction: int = USERS_PER_TRANSACTION,
    ) -> None:
        if not 1 <= users_per_transaction <= USERS_PER_TRANSACTION:
            raise ValueError(f"users_per_transaction must be 1-{USERS_PER_TRANSACTION}")
        self.client = client
        self.table_name = table_name
        self._sleep = sleep
        self._chunk = users_per_transaction

    def write(self, rows: Sequence[dict[str, Any]], run_id: str) -> WriteOutcome:
        outcome = WriteOutcome()
        for start in range(0, len(rows), self._chunk):
            self._write_chunk(list(rows[start : start + self._chunk]), run_id, outcome)
        return outcome

    def _actions(self, rows: Sequence[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
        actions: list[dict[str, Any]] = []
        for row in rows:
            actions.append(
                {
                    "ConditionCheck": {
                        "TableName": self.table_name,
                        "Key": _key(profile_key(row["user_id"])),
                        # The profile exists, and is the one the run saw: an account deleted and
                        # created again after `as_of` (same Cognito sub) must not get the old
                        # account's figures. Profile times have the same fixed-width format.
                        "ConditionExpression": "attribute_exists(#pk) AND #created <= :as_of",
                        "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#created": "created_at"},
                        "ExpressionAttributeValues": {":as_of": {"S": row["as_of"]}},
                    }
                }
            )
            actions.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": insights_item(row, run_id),
                        # Strictly older only: the same as_of again is a no-op, not a rewrite.
                        "ConditionExpression": "attribute_not_exists(#pk) OR #as_of < :as_of",
                        "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#as_of": "as_of"},
                        "ExpressionAttributeValues": {":as_of": {"S": row["as_of"]}},
                    }
                }
            )
        return actions

    def _write_chunk(self, rows: list[dict[str, Any]], run_id: str, outcome: WriteOutcome) -> None:
        for attempt in range(MAX_ATTEMPTS):
            if not rows:
                return
            if attempt:
                outcome.retries += 1
                # Full jitter: concurrent writers on the same users stop colliding in lock step.
                self._sleep(random.uniform(0, BACKOFF_BASE_SECONDS * 2**attempt))
            try:
                outcome.transactions += 1
                self.client.transact_write_items(TransactItems=self._actions(rows, run_id))
            except ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", ""))
                if code == "TransactionCanceledException":
                    rows = self._survivors(rows, error, outcome)
                    continue
                if code in RETRYABLE_ERRORS:
                    continue
                raise InsightsWriteError(f"TransactWriteItems failed: {code or error}") from error
            outcome.written += len(rows)
            return
        raise InsightsWriteError(
            f"{len(rows)} users still not written after {MAX_ATTEMPTS} attempts (conflicting writes)"
        )

    @staticmethod
    def _survivors(
        rows: list[dict[str, Any]], error: ClientError, outcome: WriteOutcome
    ) -> list[dict[str, Any]]:
        """The rows worth sending again; counts the ones whose condition failed."""
        reasons = error.response.get("CancellationReasons") or []
        if len(reasons) != 2 * len(rows):
            raise InsightsWriteError(
                f"transaction cancelled with {len(reasons)} reasons for {2 * len(rows)} actions: {error}"
            ) from error
        codes = [str(reason.get("Code", "None")) for reason in reasons]
        unexpected = sorted({c for c in codes if c != CONDITION_FAILED and c not in RETRYABLE_REASONS})
        if unexpected:
            raise InsightsWriteError(f"transaction cancelled: {', '.join(unexpected)}") from error
        survivors = []
        for index, row in enumerate(rows):
            profile_code, put_code = codes[2 * index], codes[2 * index + 1]
            if profile_code == CONDITION_FAILED:
                outcome.skipped_deleted += 1
            elif put_code == CONDITION_FAILED:
                outcome.skipped_stale += 1
            else:
                survivors.append(row)
        return survivors
