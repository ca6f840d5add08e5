"""Conversions between DynamoDB items and Python, and the version-conditioned overwrite both
repositories use (the client is the runtime's: todo_api.runtime)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NoReturn

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from todo_api.repository.errors import ItemNotFoundError, VersionMismatchError
from todo_contracts.table import PARTITION_KEY

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain Python values to a DynamoDB item; None values are left out (absent, not NULL)."""
    return {name: _serializer.serialize(value) for name, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item to plain Python values; whole numbers come back as int."""
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def key_values(key: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """A key of string attributes in DynamoDB's wire form."""
    return {name: {"S": value} for name, value in key.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def error_code(error: ClientError) -> str:
    """The AWS error code of a failed call."""
    return str(error.response.get("Error", {}).get("Code", ""))


def cancellation_codes(error: ClientError) -> list[str]:
    """Per-action reasons of a cancelled transaction ("None" for actions that were fine)."""
    reasons = error.response.get("CancellationReasons", [])
    return [str(reason.get("Code", "None")) for reason in reasons]


def raise_condition_failure(error: ClientError, item_id: str) -> NoReturn:
    """Raise what a failed write conditioned on existence and version means; other faults unchanged.

    The write must ask for `ReturnValuesOnConditionCheckFailure="ALL_OLD"`: an item in the answer
    means it exists at another version, none means it does not exist.
    """
    if error_code(error) == "ConditionalCheckFailedException":
        if error.response.get("Item"):
            raise VersionMismatchError(item_id) from None
        raise ItemNotFoundError(item_id) from None
    raise error


def put_if_version(
    client: Any, table_name: str, item: dict[str, Any], expected_version: int, item_id: str
) -> None:
    """Overwrite an item only if it exists and is still at `expected_version`.

    VersionMismatchError when it is at another version, ItemNotFoundError when it does not exist.
    """
    try:
        client.put_item(
            TableName=table_name,
            Item=item,
            ConditionExpression="attribute_exists(#pk) AND #version = :expected",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#version": "version"},
            ExpressionAttributeValues={":expected": {"N": str(expected_version)}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        raise_condition_failure(error, item_id)
