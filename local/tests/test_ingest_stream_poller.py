"""The stream poller on moto's DynamoDB stream: event shape, partial failures, bisect, DLQ, resume."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from todo_contracts.table import TABLE
from todo_local.stream_poller import StreamPoller


@pytest.fixture
def table(moto_dynamodb: Any) -> str:
    name = f"poller-{secrets.token_hex(3)}"
    moto_dynamodb.create_table(**TABLE.create_table_kwargs(name))
    return name


def put_tasks(client: Any, table: str, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        client.put_item(
            TableName=table,
            Item={
                "PK": {"S": "USER#u"},
                "SK": {"S": f"TASK#{i:03d}"},
                "entity_type": {"S": "TASK"},
                "n": {"N": str(i)},
            },
        )


class Handler:
    """A stand-in function: records each batch's sequence numbers; `decide` shapes the answer."""

    def __init__(self, decide: Any = None) -> None:
        self.batches: list[list[str]] = []
        self.events: list[dict[str, Any]] = []
        self.decide = decide or (lambda seqs: None)

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        json.dumps(event)  # a Lambda event is JSON: nothing else may be in it
        assert context.function_name == "cdc"
        assert context.get_remaining_time_in_millis() > 0
        seqs = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.batches.append(seqs)
        self.events.append(event)
        return self.decide(seqs)


def make_poller(table: str, handler: Any, tmp_path: Path, **kwargs: Any) -> StreamPoller:
    return StreamPoller(
        table,
        handler,
        dead_letter_path=tmp_path / "dlq" / "cdc.jsonl",
        checkpoint_path=tmp_path / "state" / "cdc.json",
        **kwargs,
    )


def dead_letters(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "dlq" / "cdc.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_builds_the_lambda_event_shape(moto_dynamodb: Any, table: str, tmp_path: Path) -> None:
    moto_dynamodb.put_item(
        TableName=table,
        Item={
            "PK": {"S": "USER#u"},
            "SK": {"S": "PROFILE"},
            "b": {"B": b"\x00\x01"},
            "bs": {"BS": [b"\x02"]},
        },
    )
    moto_dynamodb.delete_item(TableName=table, Key={"PK": {"S": "USER#u"}, "SK": {"S": "PROFILE"}})
    handler = Handler()
    poller = make_poller(table, handler, tmp_path)
    summary = poller.drain()
    assert summary.records == 2
    assert summary.invocations == 1
    insert, remove = handler.events[0]["Records"]
    stream_arn = moto_dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    assert insert["eventSourceARN"] == stream_arn
    assert (insert["eventSource"], insert["awsRegion"], insert["eventName"]) == (
        "aws:dynamodb",
        "us-east-1",
        "INSERT",
    )
    assert insert["eventID"]
    assert insert["eventVersion"]
    dynamodb = insert["dynamodb"]
    assert isinstance(dynamodb["ApproximateCreationDateTime"], float)
    assert dynamodb["Keys"] == {"PK": {"S": "USER#u"}, "SK": {"S": "PROFILE"}}
    assert dynamodb["NewImage"]["b"] == {"B": base64.b64encode(b"\x00\x01").decode()}
    assert dynamodb["NewImage"]["bs"] == {"BS": [base64.b64encode(b"\x02").decode()]}
    assert dynamodb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert dynamodb["SizeBytes"] > 0
    assert remove["eventName"] == "REMOVE"
    assert "OldImage" in remove["dynamodb"]
    assert "NewImage" not in remove["dynamodb"]


def test_batches_respect_the_batch_size(moto_dynamodb: Any, table: str, tmp_path: Path) -> None:
    put_tasks(moto_dynamodb, table, 7)
    handler = Handler()
    make_poller(table, handler, tmp_path, batch_size=3).drain()
    assert [len(b) for b in handler.batches] == [3, 3, 1]
    assert [s for b in handler.batches for s in b] == sorted(s for b in handler.batches for s in b)


def test_partial_failure_retries_from_the_lowest_failed_sequence_number(
    moto_dynamodb: Any, table: str, tmp_path: Path
) -> None:
    put_tasks(moto_dynamodb, table, 6)
    failed_once: set[str] = set()

    def decide(seqs: list[str]) -> dict[str, Any]:
        # records 3 and 5 fail the first time they are seen (reported out of order on purpose)
        failing = [s for s in (seqs[4:5] + seqs[2:3]) if s not in failed_once] if len(seqs) == 6 else []
        failed_once.update(failing)
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failing]}

    handler = Handler(decide)
    summary = make_poller(table, handler, tmp_path).drain()
    first, second = handler.batches
    assert second == first[2:]  # everything from the lowest failed one, nothing before it
    assert summary.partial_failures == 1
    assert summary.retries == 1
    assert summary.dead_lettered == 0
    assert dead_letters(tmp_path) == []


def test_a_failing_batch_is_bisected_down_to_the_poison_record(
    moto_dynamodb: Any, table: str, tmp_path: Path
) -> None:
    put_tasks(moto_dynamodb, table, 8)
    poison: list[str] = []

    def decide(seqs: list[str]) -> None:
        if not poison:
            poison.append(seqs[5])  # the sixth record crashes the function whenever it is in a batch
        if poison[0] in seqs:
            raise RuntimeError("function crashed")

    handler = Handler(decide)
    summary = make_poller(table, handler, tmp_path, max_retries=2).drain()
    # 8 fails → [0-3] ok, [4-7] fails → [4,5] fails → [4] ok, [5] fails 1 + 2 retries → DLQ; [6,7] ok
    assert [len(b) for b in handler.batches] == [8, 4, 4, 2, 1, 1, 1, 1, 2]
    assert summary.bisections == 3
    assert summary.function_errors == 6
    (letter,) = dead_letters(tmp_path)
    assert [r["dynamodb"]["SequenceNumber"] for r in letter["records"]] == poison
    assert letter["retries"] == 2
    assert "function crashed" in letter["reason"]
    succeeded = {s for batch in handler.batches if poison[0] not in batch for s in batch}
    assert succeeded == set(handler.batches[0]) - set(poison)


def test_capped_retries_go_to_the_dead_letter_file_and_the_shard_moves_on(
    moto_dynamodb: Any, table: str, tmp_path: Path
) -> None:
    put_tasks(moto_dynamodb, table, 4)
    target: list[str] = []

    def decide(seqs: list[str]) -> dict[str, Any]:
        if not target:
            target.append(seqs[1])  # the second record always fails
        return {"batchItemFailures": [{"itemIdentifier": s} for s in seqs if s == target[0]]}

    handler = Handler(decide)
    poller = make_poller(table, handler, tmp_path, max_retries=3, bisect_on_error=False)
    summary = poller.drain()
    assert len(handler.batches) == 1 + 3  # the first try and three retries
    assert all(batch[0] == target[0] for batch in handler.batches[1:])
    assert summary.dead_lettered == 3  # the failed record and the two after it, as the mapping does
    (letter,) = dead_letters(tmp_path)
    assert letter["failed_sequence_numbers"] == target
    assert letter["first_sequence_number"] == target[0]
    assert letter["shard_id"]
    assert letter["stream_arn"].startswith("arn:aws:dynamodb:")
    assert "batchItemFailures" in letter["reason"]
    put_tasks(moto_dynamodb, table, 1, start=10)
    handler.batches.clear()
    poller.drain()
    assert len(handler.batches) == 1
    assert len(handler.batches[0]) == 1


def test_an_invalid_item_identifier_fails_the_whole_batch(
    moto_dynamodb: Any, table: str, tmp_path: Path
) -> None:
    put_tasks(moto_dynamodb, table, 2)
    handler = Handler(lambda seqs: {"batchItemFailures": [{"itemIdentifier": "nope"}]})
    summary = make_poller(table, handler, tmp_path, max_retries=1, bisect_on_error=False).drain()
    assert [len(b) for b in handler.batches] == [2, 2]
    assert summary.dead_lettered == 2


def test_a_restarted_poller_resumes_from_its_checkpoint(
    moto_dynamodb: Any, table: str, tmp_path: Path
) -> None:
    put_tasks(moto_dynamodb, table, 3)
    first = Handler()
    make_poller(table, first, tmp_path).drain()
    put_tasks(moto_dynamodb, table, 2, start=3)
    second = Handler()
    restarted = make_poller(table, second, tmp_path)
    assert restarted.drain().records == 2
    assert set(first.batches[0]).isdisjoint(second.batches[0])
    (state,) = restarted.checkpoints().values()
    assert state["sequence_number"] == second.batches[0][-1]


def test_a_checkpoint_of_another_stream_is_ignored(moto_dynamodb: Any, table: str, tmp_path: Path) -> None:
    put_tasks(moto_dynamodb, table, 2)
    checkpoint = tmp_path / "state" / "cdc.json"
    checkpoint.parent.mkdir()
    checkpoint.write_text(json.dumps({"stream_arn": "arn:other", "shards": {"x": {"sequence_number": "9"}}}))
    handler = Handler()
    assert make_poller(table, handler, tmp_path).drain().records == 2


def test_poll_once_reads_one_batch_per_shard(moto_dynamodb: Any, table: str, tmp_path: Path) -> None:
    put_tasks(moto_dynamodb, table, 5)
    handler = Handler()
    poller = make_poller(table, handler, tmp_path, batch_size=2)
    assert poller.poll_once().records == 2
    assert poller.poll_once().records == 2
    assert poller.poll_once().records == 1
    assert poller.poll_once().records == 0


def test_invalid_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        make_poller("t", Handler(), tmp_path, batch_size=0)
    with pytest.raises(ValueError, match="max_retries"):
        make_poller("t", Handler(), tmp_path, max_retries=-1)
