"""Profiles in the single table, and account deletion (profile plus every task) in transactions."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from todo_api.models.user import User
from todo_api.repository.dynamodb import (
    cancellation_codes,
    error_code,
    from_item,
    key_values,
    put_if_version,
    to_item,
)
from todo_api.repository.errors import (
    ItemAlreadyExistsError,
    ItemNotFoundError,
    WriteConflictError,
)
from todo_contracts.keys import deletion_marker_key, insights_key, profile_key, user_pk
from todo_contracts.table import (
    ENTITY_TYPE_ATTRIBUTE,
    PARTITION_KEY,
    SORT_KEY,
    TASK_PREFIX,
    TTL_ATTRIBUTE,
    EntityType,
)

MAX_TRANSACTION_ITEMS = 100
# The last transaction also deletes the profile, the insights item and the marker: a batch leaves
# room for the three.
DELETE_BATCH = MAX_TRANSACTION_ITEMS - 3
# An interrupted deletion blocks new tasks for at most this long; a retried DELETE finishes the job.
DELETION_MARKER_TTL_SECONDS = 3600
TRANSACTION_ATTEMPTS = 5
USER_FIELDS = tuple(User.model_fields)


def profile_item(user: User) -> dict[str, Any]:
    """The DynamoDB item of a profile."""
    return to_item(
        {
            **profile_key(user.user_id),
            ENTITY_TYPE_ATTRIBUTE: EntityType.USER.value,
            **user.model_dump(mode="json"),
        }
    )


def user_from_item(item: dict[str, Any]) -> User:
    """A profile item back to the model (index and key attributes are not domain data)."""
    values = from_item(item)
    return User.model_validate({name: values[name] for name in USER_FIELDS})


class UserRepository:
    """Reads and conditional writes of profile items."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    def get(self, user_id: str) -> User | None:
        """The profile of `user_id`, read consistently, or None."""
        response = self._client.get_item(
            TableName=self.table_name, Key=key_values(profile_key(user_id)), ConsistentRead=True
        )
        item = response.get("Item")
        return user_from_item(item) if item else None

    def create(self, user: User) -> None:
        """Store a new profile; ItemAlreadyExistsError when the caller has one."""
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=profile_item(user),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise ItemAlreadyExistsError(user.user_id) from None
            raise

    def replace(self, user: User, expected_version: int) -> None:
        """Overwrite a profile only if it is still at `expected_version`."""
        put_if_version(self._client, self.table_name, profile_item(user), expected_version, user.user_id)

    def delete_account(self, user_id: str) -> int:
        """Delete the profile and every task of `user_id`; returns how many tasks were deleted.

        A marker item first stops new tasks from being created; tasks then go in transactions of
        at most 100 items, and the last transaction removes the profile, the insights item and the
        marker together, so the profile disappears only when nothing else is left. The insights
        loader's writes are conditioned on the profile existing, so they are serialized with that
        last transaction: a load either lands before it (and is deleted with it) or finds no
        profile and writes nothing (ADR 0014). If this is interrupted, the profile and marker
        remain and calling it again finishes the job.
        """
        client = self._client
        has_profile = self.get(user_id) is not None
        if has_profile:
            client.put_item(
                TableName=self.table_name,
                Item=to_item(
                    {
                        **deletion_marker_key(user_id),
                        TTL_ATTRIBUTE: int(time.time()) + DELETION_MARKER_TTL_SECONDS,
                    }
                ),
            )
        deleted = 0
        while True:
            keys, more = self._task_keys(user_id)
            final = has_profile and not more
            if not keys and not final:
                if deleted == 0 and not has_profile:
                    raise ItemNotFoundError(user_id)
                return deleted
            actions = [{"Delete": {"TableName": self.table_name, "Key": key}} for key in keys]
            if final:
                for key in (profile_key(user_id), insights_key(user_id), deletion_marker_key(user_id)):
                    actions.append({"Delete": {"TableName": self.table_name, "Key": key_values(key)}})
            self._transact(actions)
            deleted += len(keys)
            if final:
                return deleted

    def _task_keys(self, user_id: str) -> tuple[list[dict[str, Any]], bool]:
        """Up to one batch of the user's task keys, and whether more may follow."""
        response = self._client.query(
            TableName=self.table_name,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :task)",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            ExpressionAttributeValues={":pk": {"S": user_pk(user_id)}, ":task": {"S": TASK_PREFIX}},
            ProjectionExpression="#pk, #sk",
            ConsistentRead=True,
            Limit=DELETE_BATCH,
        )
        return list(response.get("Items", [])), "LastEvaluatedKey" in response

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        for _attempt in range(TRANSACTION_ATTEMPTS):
            try:
                self._client.transact_write_items(TransactItems=actions)
                return
            except ClientError as error:
                # Deletes are unconditional, so the only cancellation is a collision with another
                # writer on one of these items: try again.
                if error_code(error) == "TransactionCanceledException" and all(
                    code in {"None", "TransactionConflict"} for code in cancellation_codes(error)
                ):
                    continue
                if error_code(error) == "TransactionConflictException":
                    continue
                raise
        raise WriteConflictError("account deletion kept colliding with other writes")
