"""Stream record → bronze record: the BRONZE_CDC columns, the allow-list, TTL deletes, bad records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from todo_contracts.lake_layout import BRONZE_CDC
from todo_etl.cdc.bronze_record import BronzeRecord, SkippedRecord, TaskFlow, build_bronze_record
from todo_etl.cdc.dynamodb_json import ConversionError, loads
from todo_local.testing.stream_records import stream_record

NOW = datetime(2026, 11, 23, 12, 0, 0, 123000, tzinfo=UTC)


def task_image(status: str = "pending", version: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "PK": {"S": "USER#u1"},
        "SK": {"S": "TASK#t1"},
        "entity_type": {"S": "TASK"},
        "task_id": {"S": "t1"},
        "status": {"S": status},
        "version": {"N": str(version)},
        "created_at": {"S": "2026-11-23T11:00:00.000Z"},
        "tags": {"L": [{"S": "a"}]},
        **extra,
    }


def parsed(record: BronzeRecord | SkippedRecord) -> dict[str, Any]:
    assert isinstance(record, BronzeRecord)
    assert record.line.endswith(b"\n")
    assert record.line.count(b"\n") == 1
    value: dict[str, Any] = loads(record.line)
    return value


def test_insert_has_exactly_the_bronze_columns_in_order() -> None:
    record = build_bronze_record(stream_record("INSERT", new=task_image(amount={"N": "0.1"})), NOW)
    row = parsed(record)
    assert list(row) == BRONZE_CDC.column_names()
    assert row["event_id"] == "ev-100"
    assert row["event_name"] == "INSERT"
    assert row["sequence_number"] == "100"
    assert row["approximate_creation_time"] == "2026-11-29T12:00:00.500Z"
    assert (row["pk"], row["sk"], row["entity_type"], row["item_version"]) == (
        "USER#u1",
        "TASK#t1",
        "TASK",
        1,
    )
    assert row["ttl_delete"] is False
    assert row["keys"] == {"PK": "USER#u1", "SK": "TASK#t1"}
    assert row["new_image"]["amount"] == Decimal("0.1")
    assert row["new_image"]["tags"] == ["a"]
    assert row["old_image"] is None
    assert row["new_image_ddb"]["amount"] == {"N": "0.1"}
    assert row["ingested_at"] == "2026-11-23T12:00:00.123Z"
    assert isinstance(record, BronzeRecord)
    assert record.flow == TaskFlow(created=True)


def test_modify_to_completed_counts_a_completion_once() -> None:
    done = build_bronze_record(
        stream_record("MODIFY", new=task_image("completed", 2), old=task_image("pending", 1)), NOW
    )
    again = build_bronze_record(
        stream_record("MODIFY", new=task_image("completed", 3), old=task_image("completed", 2)), NOW
    )
    assert isinstance(done, BronzeRecord)
    assert done.flow == TaskFlow(completed=True)
    assert isinstance(again, BronzeRecord)
    assert again.flow == TaskFlow()
    assert parsed(done)["item_version"] == 2


def test_remove_takes_version_and_type_from_the_old_image() -> None:
    record = build_bronze_record(stream_record("REMOVE", old=task_image("pending", 4)), NOW)
    row = parsed(record)
    assert row["item_version"] == 4
    assert row["new_image"] is None
    assert row["new_image_ddb"] is None
    assert row["old_image"]["version"] == 4
    assert row["ttl_delete"] is False
    assert isinstance(record, BronzeRecord)
    assert record.flow == TaskFlow(deleted=True)


def test_ttl_removal_is_marked() -> None:
    identity = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    row = parsed(build_bronze_record(stream_record("REMOVE", old=task_image(), userIdentity=identity), NOW))
    assert row["ttl_delete"] is True


def test_user_profile_is_allowed() -> None:
    profile = {
        "PK": {"S": "USER#u1"},
        "SK": {"S": "PROFILE"},
        "entity_type": {"S": "USER"},
        "version": {"N": "1"},
        "email": {"S": "a@example.com"},
    }
    record = build_bronze_record(stream_record("INSERT", new=profile), NOW)
    assert isinstance(record, BronzeRecord)
    assert record.entity_type == "USER"
    assert record.flow == TaskFlow()


@pytest.mark.parametrize(
    "image",
    [
        # a Powertools idempotency record: no entity_type
        {
            "PK": {"S": "idem#x"},
            "SK": {"S": "idem#x"},
            "status": {"S": "COMPLETED"},
            "expiration": {"N": "1"},
        },
        {"PK": {"S": "X"}, "SK": {"S": "Y"}, "entity_type": {"S": "AUDIT"}},
        {"PK": {"S": "X"}, "SK": {"S": "Y"}, "entity_type": {"N": "1"}},
    ],
)
def test_records_outside_the_allow_list_are_skipped_not_failed(image: dict[str, Any]) -> None:
    # Even a broken attribute elsewhere does not matter: skipped records are never parsed further.
    image = {**image, "junk": {"N": "not-a-number"}}
    assert isinstance(build_bronze_record(stream_record("INSERT", new=image), NOW), SkippedRecord)


def test_version_that_is_not_a_whole_number_is_left_for_silver_to_quarantine() -> None:
    image = {**task_image(), "version": {"S": "x"}}
    row = parsed(build_bronze_record(stream_record("INSERT", new=image), NOW))
    assert row["item_version"] is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.pop("eventID"), "eventID"),
        (lambda r: r.update(eventName="UPSERT"), "eventName"),
        (lambda r: r.pop("dynamodb"), "dynamodb"),
        (lambda r: r["dynamodb"].pop("SequenceNumber"), "SequenceNumber"),
        (lambda r: r["dynamodb"].pop("NewImage"), "NewImage"),
        (lambda r: r["dynamodb"]["NewImage"].update(size={"N": "12abc"}), "NewImage.size"),
        (lambda r: r["dynamodb"]["NewImage"].update(blob={"B": "%%%"}), "NewImage.blob"),
        (
            lambda r: r["dynamodb"].update(ApproximateCreationDateTime="yesterday"),
            "ApproximateCreationDateTime",
        ),
        (lambda r: r["dynamodb"].pop("Keys"), "Keys"),
    ],
)
def test_corrupt_records_raise(mutate: Any, message: str) -> None:
    record = stream_record("INSERT", new=task_image())
    mutate(record)
    with pytest.raises(ConversionError, match=message):
        build_bronze_record(record, NOW)


def test_line_is_plain_json_readable_by_any_parser() -> None:
    record = build_bronze_record(
        stream_record("INSERT", new=task_image(big={"N": "123456789012345678901234567890"})), NOW
    )
    assert isinstance(record, BronzeRecord)
    assert b"123456789012345678901234567890" in record.line
    assert json.loads(record.line)["new_image"]["big"] == 123456789012345678901234567890
