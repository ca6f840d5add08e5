"""One DynamoDB stream record → one bronze record (the `BRONZE_CDC` columns), or a reasoned skip."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from todo_contracts.lake_layout import BRONZE_CDC
from todo_contracts.table import (
    ENTITY_TYPE_ATTRIBUTE,
    LAKE_ENTITY_TYPES,
    PARTITION_KEY,
    SORT_KEY,
    VERSION_ATTRIBUTE,
    EntityType,
)
from todo_contracts.timestamps import rfc3339
from todo_etl.cdc.dynamodb_json import ConversionError, dumps_string_keyed, image_to_canonical, image_to_plain

EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})
COMPLETED_STATUS = "completed"
# How a TTL expiry shows up in a stream record (a user's delete carries no userIdentity).
TTL_PRINCIPAL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


@dataclass(frozen=True)
class TaskFlow:
    """What a task record means for the business flow counters."""

    created: bool = False
    completed: bool = False
    deleted: bool = False


@dataclass(frozen=True)
class BronzeRecord:
    """A converted stream record: its bronze JSON line and what the function reports about it."""

    event_id: str
    sequence_number: str
    entity_type: str
    line: bytes  # one JSON object, newline-terminated, exactly the BRONZE_CDC columns
    flow: TaskFlow


@dataclass(frozen=True)
class SkippedRecord:
    """A record that is not for the lake (idempotency records, unknown entity types)."""

    event_id: str
    reason: str


def _required(mapping: Mapping[str, Any], key: str, path: str) -> Any:
    if type(mapping) is dict and key in mapping:  # the common case, without an ABC check
        return mapping[key]
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise ConversionError(path, f"missing {key}")
    return mapping[key]


def _creation_time(value: Any) -> str:
    """Lambda events carry epoch seconds; tolerate a datetime (what boto3 parses it into)."""
    if isinstance(value, datetime):
        return rfc3339(value)
    try:
        seconds = Decimal(str(value))
    except InvalidOperation as exc:
        raise ConversionError(
            "dynamodb.ApproximateCreationDateTime", f"not epoch seconds: {value!r}"
        ) from exc
    if isinstance(value, bool) or not seconds.is_finite():
        raise ConversionError("dynamodb.ApproximateCreationDateTime", f"not epoch seconds: {value!r}")
    return rfc3339(datetime.fromtimestamp(float(seconds), UTC))


def _entity_type(image: Mapping[str, Any] | None) -> str | None:
    attribute = (image or {}).get(ENTITY_TYPE_ATTRIBUTE)
    if type(attribute) is dict and type(attribute.get("S")) is str:
        return str(attribute["S"])
    if isinstance(attribute, Mapping) and isinstance(attribute.get("S"), str):
        return str(attribute["S"])
    return None


def _version(plain: Mapping[str, Any] | None) -> int | None:
    """The item version when it is a whole number; anything else is for silver to quarantine."""
    value = (plain or {}).get(VERSION_ATTRIBUTE)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


def _key_string(keys: Mapping[str, Any], name: str) -> str | None:
    value = keys.get(name)
    return value if isinstance(value, str) else None


def _flow(
    entity_type: str, event_name: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None
) -> TaskFlow:
    if entity_type != EntityType.TASK:
        return TaskFlow()
    now_completed = (new or {}).get("status") == COMPLETED_STATUS
    was_completed = (old or {}).get("status") == COMPLETED_STATUS
    return TaskFlow(
        created=event_name == "INSERT",
        completed=event_name != "REMOVE" and now_completed and not was_completed,
        deleted=event_name == "REMOVE",
    )


def build_bronze_record(raw: Mapping[str, Any], ingested_at: datetime) -> BronzeRecord | SkippedRecord:
    """Convert one stream record (Lambda event shape); `ConversionError` when it cannot be."""
    event_id = _required(raw, "eventID", "")
    if not isinstance(event_id, str) or not event_id:
        raise ConversionError("eventID", "must be a non-empty string")
    event_name = _required(raw, "eventName", "")
    if event_name not in EVENT_NAMES:
        raise ConversionError("eventName", f"not one of {sorted(EVENT_NAMES)}: {event_name!r}")
    stream = _required(raw, "dynamodb", "")
    if not isinstance(stream, Mapping):
        raise ConversionError("dynamodb", "must be an object")
    sequence_number = _required(stream, "SequenceNumber", "dynamodb")
    if not isinstance(sequence_number, str) or not sequence_number.isdigit():
        raise ConversionError("dynamodb.SequenceNumber", f"not a decimal string: {sequence_number!r}")
    new_raw = stream.get("NewImage")
    old_raw = stream.get("OldImage")
    identifying = old_raw if event_name == "REMOVE" else new_raw
    if identifying is None:
        image = "OldImage" if event_name == "REMOVE" else "NewImage"
        raise ConversionError(
            f"dynamodb.{image}", f"a {event_name} record of a NEW_AND_OLD_IMAGES stream has one"
        )

    # The allow-list comes before any further conversion: what is not for the lake is never parsed.
    entity_type = _entity_type(identifying)
    if entity_type is None:
        return SkippedRecord(event_id, "no entity_type (e.g. an idempotency record)")
    if entity_type not in LAKE_ENTITY_TYPES:
        return SkippedRecord(event_id, f"entity_type {entity_type!r} is not allowed into the lake")

    keys = image_to_plain(_required(stream, "Keys", "dynamodb"), "Keys")
    new_image = image_to_plain(new_raw, "NewImage") if new_raw is not None else None
    old_image = image_to_plain(old_raw, "OldImage") if old_raw is not None else None
    new_image_ddb = image_to_canonical(new_raw, "NewImage") if new_raw is not None else None
    creation_time = _creation_time(_required(stream, "ApproximateCreationDateTime", "dynamodb"))
    identity = raw.get("userIdentity")
    ttl_delete = isinstance(identity, Mapping) and all(identity.get(k) == v for k, v in TTL_PRINCIPAL.items())

    values: dict[str, Any] = {
        "event_id": event_id,
        "event_name": event_name,
        "sequence_number": sequence_number,
        "approximate_creation_time": creation_time,
        "pk": _key_string(keys, PARTITION_KEY),
        "sk": _key_string(keys, SORT_KEY),
        "entity_type": entity_type,
        "item_version": _version(old_image if event_name == "REMOVE" else new_image),
        "ttl_delete": ttl_delete,
        "keys": keys,
        "new_image": new_image,
        "old_image": old_image,
        "new_image_ddb": new_image_ddb,
        "ingested_at": rfc3339(ingested_at),
    }
    ordered = {name: values[name] for name in BRONZE_CDC.column_names()}  # the table's column order
    return BronzeRecord(
        event_id=event_id,
        sequence_number=sequence_number,
        entity_type=entity_type,
        line=(dumps_string_keyed(ordered) + "\n").encode("utf-8"),
        flow=_flow(entity_type, event_name, new_image, old_image),
    )
