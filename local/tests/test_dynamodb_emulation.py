"""The DynamoDB emulation layer (`todo_local.dynamodb_emulation`) against a real moto server over boto3.

Transactions all-or-nothing with cancellation reasons per action, rollback that puts back only the
touched items and drops the failed transaction's stream records, no table copy, stream records
released on consumption and on age, shard iterators that expire, and the guard on moto's source.
"""

from __future__ import annotations

import copy
import threading
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from todo_local import dynamodb_emulation
from todo_local.dynamodb_emulation import StreamConsumer, guard_mismatches


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(dynamodb_emulation.settings, "clock", fake)
    return fake


@pytest.fixture
def table(moto_env: str, clock: FakeClock) -> str:
    dynamodb_emulation.install()
    name = f"emulation-{uuid.uuid4().hex[:8]}"
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    client.close()
    return name


def key(pk: str, sk: str = "A") -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def put(table: str, pk: str, **attrs: Any) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {**key(pk), **attrs}}}


def update(table: str, pk: str, expression: str, values: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An Update action of a transaction; `extra` adds e.g. a ConditionExpression."""
    return {
        "Update": {
            "TableName": table,
            "Key": key(pk),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
            **extra,
        }
    }


def must_exist(table: str, pk: str) -> dict[str, Any]:
    """A ConditionCheck action that fails (cancelling the transaction) when item `pk` is absent."""
    return {
        "ConditionCheck": {"TableName": table, "Key": key(pk), "ConditionExpression": "attribute_exists(PK)"}
    }


def an_update_that_fails_while_applying(dynamodb: Any, table: str) -> dict[str, Any]:
    """Writes item `text`, whose `n` is a string, and returns an Update adding a number to it: it
    meets every condition, so the transaction starts applying, and fails only when it is applied."""
    dynamodb.put_item(TableName=table, Item={**key("text"), "n": {"S": "not a number"}})
    return update(table, "text", "SET n = n + :one", {":one": {"N": "1"}})


def items(dynamodb: Any, table: str) -> dict[str, dict[str, Any]]:
    found = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return {item["PK"]["S"]: item for item in found}


def stream_of(dynamodb: Any, table: str) -> tuple[str, str]:
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    return arn, "shardId-00000001541626099285-f35f62ef"


def read_stream(streams: Any, arn: str, shard: str, **position: Any) -> list[dict[str, Any]]:
    request = {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON", **position}
    iterator = streams.get_shard_iterator(**request)["ShardIterator"]
    return list(streams.get_records(ShardIterator=iterator, Limit=1000)["Records"])


def write_records(dynamodb: Any, streams: Any, table: str, count: int) -> tuple[str, str, list[str]]:
    """Writes items r0, r1, …: the table's stream (arn, shard) and the sequence numbers it holds."""
    for n in range(count):
        dynamodb.put_item(TableName=table, Item=key(f"r{n}"))
    arn, shard = stream_of(dynamodb, table)
    return arn, shard, [r["dynamodb"]["SequenceNumber"] for r in read_stream(streams, arn, shard)]


def cancellation_codes(error: ClientError) -> list[str]:
    return [reason["Code"] for reason in error.response.get("CancellationReasons", [])]


# -- the guard ----------------------------------------------------------------------------------------


def test_moto_is_the_version_the_layer_was_written_against() -> None:
    problems = guard_mismatches()
    assert not problems, (
        "moto changed under todo_local.dynamodb_emulation: "
        + "; ".join(problems)
        + ". Re-read each named moto function against the layer (undo log, stream positions, "
        "locking; ADR 0010), then update MOTO_VERSION / GUARDED_SOURCES."
    )


def test_the_guard_notices_a_changed_function(monkeypatch: pytest.MonkeyPatch) -> None:
    def changed() -> None:
        pass

    monkeypatch.setitem(dynamodb_emulation._GUARDED, "DynamoDBBackend.transact_write_items", changed)
    assert any("transact_write_items" in p for p in guard_mismatches())


def test_install_is_idempotent_and_replaces_the_transaction(moto_env: str) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    dynamodb_emulation.install()
    dynamodb_emulation.install()
    assert dynamodb_emulation.installed()
    assert DynamoDBBackend.transact_write_items is dynamodb_emulation.transact_write_items


# -- transactions -------------------------------------------------------------------------------------


def test_a_failed_condition_cancels_every_action_with_a_reason_each(moto_dynamodb: Any, table: str) -> None:
    moto_dynamodb.put_item(TableName=table, Item={**key("existing"), "v": {"N": "1"}})
    with pytest.raises(ClientError) as caught:
        moto_dynamodb.transact_write_items(
            TransactItems=[
                put(table, "new"),
                update(table, "existing", "SET v = :two", {":two": {"N": "2"}}),
                must_exist(table, "absent"),
            ]
        )
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert cancellation_codes(caught.value) == ["None", "None", "ConditionalCheckFailed"]
    assert set(items(moto_dynamodb, table)) == {"existing"}
    assert items(moto_dynamodb, table)["existing"]["v"] == {"N": "1"}


def test_all_old_is_returned_on_a_failed_condition(moto_dynamodb: Any, table: str) -> None:
    moto_dynamodb.put_item(TableName=table, Item={**key("x"), "v": {"N": "1"}})
    with pytest.raises(ClientError) as caught:
        moto_dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": key("x"),
                        "ConditionExpression": "attribute_not_exists(PK)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            ]
        )
    reason = caught.value.response["CancellationReasons"][0]
    assert reason["Code"] == "ConditionalCheckFailed"
    assert reason["Item"]["v"] == {"N": "1"}


def test_a_successful_transaction_applies_every_action(moto_dynamodb: Any, table: str) -> None:
    moto_dynamodb.put_item(TableName=table, Item={**key("gone"), "v": {"N": "1"}})
    moto_dynamodb.put_item(TableName=table, Item={**key("counter"), "n": {"N": "1"}})
    moto_dynamodb.transact_write_items(
        TransactItems=[
            put(table, "a"),
            {"Delete": {"TableName": table, "Key": key("gone")}},
            update(
                table, "counter", "SET n = n + :one", {":one": {"N": "1"}}, ConditionExpression="n = :one"
            ),
        ]
    )
    found = items(moto_dynamodb, table)
    assert set(found) == {"a", "counter"}
    assert found["counter"]["n"] == {"N": "2"}


def test_two_actions_on_one_item_are_refused(moto_dynamodb: Any, table: str) -> None:
    with pytest.raises(ClientError) as caught:
        moto_dynamodb.transact_write_items(TransactItems=[put(table, "a"), put(table, "a")])
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert items(moto_dynamodb, table) == {}


def test_a_failure_while_applying_restores_exactly_the_touched_items_and_drops_their_records(
    moto_dynamodb: Any, moto_streams: Any, table: str
) -> None:
    moto_dynamodb.put_item(TableName=table, Item={**key("bystander"), "v": {"N": "7"}})
    moto_dynamodb.put_item(TableName=table, Item={**key("replaced"), "v": {"N": "1"}})
    unappliable = an_update_that_fails_while_applying(moto_dynamodb, table)
    arn, shard = stream_of(moto_dynamodb, table)
    before = read_stream(moto_streams, arn, shard)
    with pytest.raises(ClientError) as caught:
        moto_dynamodb.transact_write_items(
            TransactItems=[
                put(table, "created"),  # applied first ...
                put(table, "replaced", v={"N": "2"}),
                unappliable,  # ... then this one cannot be applied: a number added to a string
            ]
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    found = items(moto_dynamodb, table)
    assert set(found) == {"bystander", "replaced", "text"}
    assert found["replaced"]["v"] == {"N": "1"}
    assert found["text"]["n"] == {"S": "not a number"}
    assert found["bystander"]["v"] == {"N": "7"}
    assert read_stream(moto_streams, arn, shard) == before  # the failed transaction left no record

    moto_dynamodb.put_item(TableName=table, Item=key("after"))
    records = read_stream(moto_streams, arn, shard)
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert numbers == sorted(set(numbers))  # strictly increasing, as DynamoDB's
    assert records[-1]["dynamodb"]["Keys"]["PK"] == {"S": "after"}


def test_no_table_is_ever_copied(moto_dynamodb: Any, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's own transaction deep-copies every table it touches; the emulation copies only items."""
    from moto.dynamodb.models.table import StreamShard, Table

    copied: list[type] = []
    real_deepcopy = copy.deepcopy

    def counting_deepcopy(value: Any, memo: Any = None) -> Any:
        if memo is None:  # only the outermost call: what was asked to be copied
            copied.append(type(value))
        return real_deepcopy(value, memo)

    for n in range(20):
        moto_dynamodb.put_item(TableName=table, Item={**key(f"item-{n}"), "v": {"N": str(n)}})
    monkeypatch.setattr(copy, "deepcopy", counting_deepcopy)
    moto_dynamodb.transact_write_items(TransactItems=[put(table, "ok")])
    with pytest.raises(ClientError):
        moto_dynamodb.transact_write_items(
            TransactItems=[
                put(table, "another"),
                must_exist(table, "nope"),
            ]
        )
    monkeypatch.undo()
    assert not [t for t in copied if issubclass(t, (Table, StreamShard))]
    assert len(copied) <= 4  # at most the touched items (and moto's own per-item copies)


def test_concurrent_transactions_and_scans_see_no_partial_state(moto_dynamodb: Any, table: str) -> None:
    """Pairs written together in one transaction are always seen together."""
    errors: list[BaseException] = []
    halves: list[int] = []

    def writer(n: int) -> None:
        client = boto3.client("dynamodb")
        try:
            for i in range(10):
                client.transact_write_items(
                    TransactItems=[
                        put(table, f"w{n}-{i}", pair={"S": "1"}),
                        put(table, f"w{n}-{i}-twin", pair={"S": "2"}),
                    ]
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    def reader() -> None:
        client = boto3.client("dynamodb")
        try:
            for _ in range(10):
                found = {i["PK"]["S"] for i in client.scan(TableName=table, ConsistentRead=True)["Items"]}
                singles = {pk for pk in found if not pk.endswith("-twin")}
                halves.append(len({pk for pk in singles if f"{pk}-twin" not in found}))
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)] + [
        threading.Thread(target=reader) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert set(halves) <= {0}
    assert len(items(moto_dynamodb, table)) == 80


# -- the stream -----------------------------------------------------------------------------------


def test_consumed_records_are_released_and_sequence_numbers_go_on(
    moto_dynamodb: Any, moto_streams: Any, table: str
) -> None:
    for n in range(5):
        moto_dynamodb.put_item(TableName=table, Item=key(f"r{n}"))
    arn, shard = stream_of(moto_dynamodb, table)
    records = read_stream(moto_streams, arn, shard)
    assert len(records) == 5
    kept_before = dynamodb_emulation.stream_records_kept()

    consumer = StreamConsumer()
    consumer(arn, shard, records[2]["dynamodb"]["SequenceNumber"])
    assert dynamodb_emulation.stream_records_kept() == kept_before - 3
    left = read_stream(moto_streams, arn, shard)
    assert [r["dynamodb"]["SequenceNumber"] for r in left] == [
        r["dynamodb"]["SequenceNumber"] for r in records[3:]
    ]
    after = read_stream(
        moto_streams,
        arn,
        shard,
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        SequenceNumber=records[2]["dynamodb"]["SequenceNumber"],
    )
    assert after == left

    moto_dynamodb.put_item(TableName=table, Item=key("r5"))
    latest = read_stream(moto_streams, arn, shard)[-1]
    assert int(latest["dynamodb"]["SequenceNumber"]) == int(records[-1]["dynamodb"]["SequenceNumber"]) + 1
    consumer.close()


def test_records_are_kept_until_every_consumer_has_them(
    moto_dynamodb: Any, moto_streams: Any, table: str
) -> None:
    arn, shard, numbers = write_records(moto_dynamodb, moto_streams, table, 4)
    fast, slow = StreamConsumer(), StreamConsumer()
    slow(arn, shard, numbers[0])
    fast(arn, shard, numbers[3])
    assert len(read_stream(moto_streams, arn, shard)) == 3  # the slow one still needs 1..3
    slow.close()  # a consumer gone holds nothing back; the next release goes as far as the others
    fast(arn, shard, numbers[3])
    assert read_stream(moto_streams, arn, shard) == []
    fast.close()


def test_records_older_than_24_hours_are_released(
    moto_dynamodb: Any, moto_streams: Any, table: str, clock: FakeClock
) -> None:
    moto_dynamodb.put_item(TableName=table, Item=key("old"))
    clock.now += 12 * 3600
    moto_dynamodb.put_item(TableName=table, Item=key("younger"))
    arn, shard = stream_of(moto_dynamodb, table)
    assert len(read_stream(moto_streams, arn, shard)) == 2
    clock.now += 12 * 3600 + 1
    moto_dynamodb.put_item(TableName=table, Item=key("new"))
    kept = [r["dynamodb"]["Keys"]["PK"]["S"] for r in read_stream(moto_streams, arn, shard)]
    assert kept == ["younger", "new"]
    clock.now += 24 * 3600 + 1
    assert read_stream(moto_streams, arn, shard) == []  # released on read too, not only on write


def test_shard_iterators_expire_after_15_minutes(
    moto_dynamodb: Any, moto_streams: Any, table: str, clock: FakeClock
) -> None:
    moto_dynamodb.put_item(TableName=table, Item=key("r"))
    arn, shard = stream_of(moto_dynamodb, table)
    iterator = moto_streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    clock.now += 14 * 60
    assert len(moto_streams.get_records(ShardIterator=iterator)["Records"]) == 1  # still valid, reusable
    clock.now += 60 + 1
    with pytest.raises(ClientError) as caught:
        moto_streams.get_records(ShardIterator=iterator)
    assert caught.value.response["Error"]["Code"] == "ExpiredIteratorException"
    assert len(read_stream(moto_streams, arn, shard)) == 1  # a fresh iterator reads on


def test_latest_starts_after_the_last_record_even_after_trimming(
    moto_dynamodb: Any, moto_streams: Any, table: str
) -> None:
    arn, shard, numbers = write_records(moto_dynamodb, moto_streams, table, 3)
    consumer = StreamConsumer()
    consumer(arn, shard, numbers[1])
    iterator = moto_streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    moto_dynamodb.put_item(TableName=table, Item=key("next"))
    records = moto_streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["dynamodb"]["Keys"]["PK"]["S"] for r in records] == ["next"]
    consumer.close()


def test_a_rollback_drops_its_records_even_when_old_ones_were_released_meanwhile(
    moto_dynamodb: Any, moto_streams: Any, table: str, clock: FakeClock
) -> None:
    for n in range(3):
        moto_dynamodb.put_item(TableName=table, Item=key(f"old{n}"))
    unappliable = an_update_that_fails_while_applying(moto_dynamodb, table)
    clock.now += 24 * 3600 + 1  # the first record the transaction writes releases these four
    with pytest.raises(ClientError):
        moto_dynamodb.transact_write_items(
            TransactItems=[
                put(table, "created"),
                unappliable,
            ]
        )
    arn, shard = stream_of(moto_dynamodb, table)
    assert read_stream(moto_streams, arn, shard) == []
    assert "created" not in items(moto_dynamodb, table)


# -- the stream record clock (the history replay's seam) ------------------------------------------


def test_stream_records_are_stamped_from_the_record_clock_and_it_is_restored(
    moto_dynamodb: Any, moto_streams: Any, table: str
) -> None:
    import time
    from datetime import UTC, datetime

    assert dynamodb_emulation.settings.record_time is time.time  # the default is the wall clock
    before = time.time()
    moto_dynamodb.put_item(TableName=table, Item=key("now"))
    past = datetime(2026, 10, 8, 9, 30, 15, tzinfo=UTC).timestamp()

    def put_in_the_past_then_fail() -> None:
        with dynamodb_emulation.record_times(lambda: past):
            moto_dynamodb.put_item(TableName=table, Item=key("past"))
            raise RuntimeError("the block fails")

    with pytest.raises(RuntimeError, match="the block fails"):
        put_in_the_past_then_fail()
    assert dynamodb_emulation.settings.record_time is time.time  # restored, also after a failure
    moto_dynamodb.put_item(TableName=table, Item=key("later"))
    arn, shard = stream_of(moto_dynamodb, table)
    stamped = {
        r["dynamodb"]["Keys"]["PK"]["S"]: r["dynamodb"]["ApproximateCreationDateTime"].timestamp()
        for r in read_stream(moto_streams, arn, shard)
    }
    assert stamped["past"] == past
    assert before - 1 <= stamped["now"] <= stamped["later"] <= time.time() + 1
