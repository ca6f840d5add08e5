"""The CDC batch processor on Powertools' documented extension points (ADR 0017).

`BronzeBatchProcessor` holds converted records back in `success_handler` and delivers them in
`_clean`, the teardown Powertools runs once after its per-record loop and before it builds the
partial batch response. These tests pin that contract through Powertools' public entry points
(`process_partial_response`, and the processor as a context manager), so an upgrade that changed
when the hooks run, or a rework that stopped reporting undelivered records, fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from todo_etl.cdc.batch_processor import BatchTally, BronzeBatchProcessor
from todo_etl.cdc.firehose_sender import FirehoseSender
from todo_local.testing.stream_records import stream_record

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Firehose:
    """A Firehose client that refuses the records whose bronze line contains one of `refuse`."""

    def __init__(self, *refuse: str) -> None:
        self.refuse = refuse
        self.calls: list[int] = []

    def put_record_batch(self, **kwargs: Any) -> dict[str, Any]:
        records = kwargs["Records"]
        self.calls.append(len(records))
        answers: list[dict[str, Any]] = []
        for entry in records:
            if any(marker.encode() in bytes(entry["Data"]) for marker in self.refuse):
                answers.append({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"})
            else:
                answers.append({"RecordId": "r"})
        failed = sum(1 for a in answers if "ErrorCode" in a)
        return {"FailedPutCount": failed, "RequestResponses": answers}


def task_record(seq: int, *, corrupt: bool = False) -> dict[str, Any]:
    image: dict[str, Any] = {
        "PK": {"S": "USER#u1"},
        "SK": {"S": f"TASK#t{seq}"},
        "entity_type": {"S": "TASK"},
        "task_id": {"S": f"t{seq}"},
        "status": {"S": "pending"},
        "version": {"N": "1"},
        "created_at": {"S": "2026-11-23T11:00:00.000Z"},
    }
    if corrupt:
        image["size"] = {"N": "twelve"}
    return stream_record("INSERT", image, None, str(seq), approximate_creation=1795953600, size_bytes=10)


def processor_for(firehose: Firehose) -> tuple[BronzeBatchProcessor, BatchTally]:
    tally = BatchTally()
    sender = FirehoseSender(firehose, "cdc-test", max_attempts=2, sleep=lambda _: None)
    return BronzeBatchProcessor(sender, None, tally, lambda: NOW), tally


def failures(response: Any) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_undelivered_records_are_batch_item_failures_through_process_partial_response() -> None:
    firehose = Firehose("TASK#t2", "TASK#t4")  # refused on every attempt
    processor, tally = processor_for(firehose)
    event = {"Records": [task_record(1), task_record(2), task_record(3, corrupt=True), task_record(4)]}

    response = process_partial_response(event=event, record_handler=processor.convert, processor=processor)

    # the conversion failure first (Powertools' loop), then the undelivered ones in batch order
    assert failures(response) == ["3", "2", "4"]
    assert [record.dynamodb.sequence_number for record in processor.fail_messages] == ["3", "2", "4"]
    assert [record["dynamodb"]["SequenceNumber"] for record in processor.success_messages] == ["1"]
    assert len(processor.exceptions) == 3
    assert (tally.records_in, tally.records_delivered) == (4, 1)
    assert firehose.calls == [3, 2]  # the three converted in one call, the two refused once more


def test_delivery_happens_once_in_the_teardown_after_the_per_record_loop() -> None:
    """Powertools' context-manager use: `process()` converts, leaving the block delivers."""
    firehose = Firehose("TASK#t2")
    processor, _ = processor_for(firehose)
    records = [task_record(1), task_record(2), task_record(3)]

    with processor(records, processor.convert):
        processor.process()
        assert firehose.calls == []  # converted, held back: nothing sent, nothing counted yet
        assert processor.success_messages == []
        assert processor.fail_messages == []

    assert firehose.calls == [3, 1]  # one chunk of three, then the refused one retried
    assert failures(processor.response()) == ["2"]
    assert len(processor.success_messages) == 2


def test_a_batch_nothing_of_which_is_delivered_fails_as_a_whole() -> None:
    processor, _ = processor_for(Firehose("TASK#"))
    event = {"Records": [task_record(1), task_record(2)]}
    with pytest.raises(BatchProcessingError):
        process_partial_response(event=event, record_handler=processor.convert, processor=processor)


def test_a_processor_runs_one_batch_after_another_without_carrying_anything_over() -> None:
    firehose = Firehose("TASK#t2")
    processor, _ = processor_for(firehose)
    first = process_partial_response(
        event={"Records": [task_record(1), task_record(2)]},
        record_handler=processor.convert,
        processor=processor,
    )
    second = process_partial_response(
        event={"Records": [task_record(3)]}, record_handler=processor.convert, processor=processor
    )
    assert failures(first) == ["2"]
    assert failures(second) == []
    assert len(processor.success_messages) == 1


def test_the_per_record_loop_is_powertools_own() -> None:
    """Only the documented hooks are overridden: the loop and the response are Powertools'."""
    assert BronzeBatchProcessor.process is BatchProcessor.process
    assert BronzeBatchProcessor._process_record is BatchProcessor._process_record
    assert BronzeBatchProcessor.response is BatchProcessor.response
