"""The CDC function against the local delivery stream, with faults injected into Firehose."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from todo_etl.cdc.bronze_record import BronzeRecord
from todo_etl.cdc.dynamodb_json import loads
from todo_etl.cdc.firehose_sender import FirehoseSender
from todo_etl.cdc.handler import CdcFunction
from todo_local.delivery_stream import LocalDeliveryStream
from todo_local.testing.stream_records import stream_record

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STREAM = "cdc-test"


class RecordingStream:
    """The local delivery stream, remembering the records of every call."""

    def __init__(self, stream: LocalDeliveryStream) -> None:
        self.stream = stream
        self.calls: list[list[bytes]] = []

    def put_record_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append([bytes(r["Data"]) for r in kwargs["Records"]])
        return self.stream.put_record_batch(**kwargs)


class MemoryDeadLetters:
    def __init__(self, fail: bool = False) -> None:
        self.items: list[tuple[BronzeRecord, str]] = []
        self.fail = fail

    def put(self, record: BronzeRecord, reason: str, at: datetime) -> str:
        if self.fail:
            raise ConnectionError("S3 is down")
        self.items.append((record, reason))
        return f"dead-letter/cdc/{record.event_id}.json"


def task(task_id: str, status: str = "pending", version: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "PK": {"S": "USER#u1"},
        "SK": {"S": f"TASK#{task_id}"},
        "entity_type": {"S": "TASK"},
        "task_id": {"S": task_id},
        "status": {"S": status},
        "version": {"N": str(version)},
        "created_at": {"S": "2026-11-23T11:00:00.000Z"},
        **extra,
    }


def record(
    seq: int, event_name: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None
) -> dict[str, Any]:
    return stream_record(event_name, new, old, str(seq), approximate_creation=1795953600, size_bytes=10)


def idempotency_record(seq: int) -> dict[str, Any]:
    image = {
        "PK": {"S": "idem#k"},
        "SK": {"S": "idem#k"},
        "status": {"S": "INPROGRESS"},
        "expiration": {"N": "9"},
    }
    return record(seq, "INSERT", image)


def tasks_event(count: int, first: int = 1) -> dict[str, Any]:
    return {"Records": [record(first + i, "INSERT", task(f"t{first + i}")) for i in range(count)]}


def bronze_rows(lake: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((lake / "bronze" / "cdc").rglob("*.gz")):
        with gzip.open(path, "rb") as handle:
            text = handle.read()
        assert text.endswith(b"\n")
        rows.extend(loads(line) for line in text.splitlines())
    return rows


def emitted_metrics(capsys: pytest.CaptureFixture[str], service: str = "cdc") -> dict[str, float]:
    values: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blob = json.loads(line)
            for definition in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = blob[definition["Name"]]
                values[definition["Name"]] = sum(value) if isinstance(value, list) else value
            assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TodoInsights"
            assert blob["service"] == service
    return values


@pytest.fixture(autouse=True)
def no_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside Lambda the function is `cdc`, whatever another test process left in the environment."""
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)


@pytest.fixture
def stream(tmp_path: Path) -> LocalDeliveryStream:
    return LocalDeliveryStream(STREAM, tmp_path, "cdc", seed=7)


@pytest.fixture
def recording(stream: LocalDeliveryStream) -> RecordingStream:
    return RecordingStream(stream)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_function(
    recording: RecordingStream, sleeps: list[float], dead_letters: Any = None, max_attempts: int = 4
) -> CdcFunction:
    sender = FirehoseSender(recording, STREAM, max_attempts=max_attempts, sleep=sleeps.append)
    return CdcFunction(sender, dead_letters, clock=lambda: NOW)


def test_a_clean_batch_is_delivered_and_idempotency_records_are_skipped(
    stream: LocalDeliveryStream, recording: RecordingStream, sleeps: list[float], tmp_path: Path, capsys: Any
) -> None:
    event = {
        "Records": [
            record(1, "INSERT", task("a")),
            idempotency_record(2),
            record(3, "MODIFY", task("a", "completed", 2), task("a")),
            record(4, "REMOVE", None, task("a", "completed", 2)),
        ]
    }
    response = make_function(recording, sleeps)(event, None)
    stream.flush()

    assert response == {"batchItemFailures": []}
    rows = bronze_rows(tmp_path)
    assert [r["event_id"] for r in rows] == ["ev-1", "ev-3", "ev-4"]
    assert [r["event_name"] for r in rows] == ["INSERT", "MODIFY", "REMOVE"]
    metrics = emitted_metrics(capsys)
    assert metrics["RecordsIn"] == 4
    assert metrics["RecordsDelivered"] == 3
    assert metrics["RecordsSkipped"] == 1
    assert metrics["RecordsFailed"] == 0
    assert (metrics["TasksCreated"], metrics["TasksCompleted"], metrics["TasksDeleted"]) == (1, 1, 1)
    assert sleeps == []


def test_partial_failed_put_count_resends_only_the_failed_entries(
    stream: LocalDeliveryStream, recording: RecordingStream, sleeps: list[float], tmp_path: Path, capsys: Any
) -> None:
    failed_once: set[bytes] = set()

    def fail_first_time_for_odd_tasks(data: bytes) -> bool:
        odd = json.loads(data)["sk"][-1] in "13579"
        if odd and data not in failed_once:
            failed_once.add(data)
            return True
        return False

    stream.configure_faults(fail_when=fail_first_time_for_odd_tasks)
    response = make_function(recording, sleeps)(tasks_event(10), None)
    stream.flush()

    assert response == {"batchItemFailures": []}
    assert len(recording.calls) == 2
    assert len(recording.calls[0]) == 10
    assert sorted(recording.calls[1]) == sorted(failed_once)  # exactly the entries with an ErrorCode
    assert len(failed_once) == 5
    assert sorted(r["event_id"] for r in bronze_rows(tmp_path)) == sorted(f"ev-{i}" for i in range(1, 11))
    assert len(sleeps) == 1
    assert emitted_metrics(capsys)["RecordsRetried"] == 5


def test_a_random_fault_fraction_is_resent_until_delivered(
    stream: LocalDeliveryStream, recording: RecordingStream, sleeps: list[float], tmp_path: Path
) -> None:
    stream.configure_faults(fraction=0.3)
    response = make_function(recording, sleeps, max_attempts=20)(tasks_event(40), None)
    stream.flush()
    assert response == {"batchItemFailures": []}
    assert [len(c) for c in recording.calls[:2]] == [40, 12]  # 30% of 40 failed and only they went again
    assert len(bronze_rows(tmp_path)) == 40


def test_exhausted_retries_report_exactly_the_failed_records(
    stream: LocalDeliveryStream, recording: RecordingStream, sleeps: list[float], tmp_path: Path, capsys: Any
) -> None:
    stream.configure_faults(fail_when=lambda data: json.loads(data)["event_id"] in {"ev-3", "ev-7"})
    response = make_function(recording, sleeps, max_attempts=4)(tasks_event(8), None)
    stream.flush()

    assert response == {"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "7"}]}
    assert len(recording.calls) == 4
    assert [len(c) for c in recording.calls] == [8, 2, 2, 2]
    assert len(sleeps) == 3
    assert all(0 <= s <= 5.0 for s in sleeps)
    assert sorted(r["event_id"] for r in bronze_rows(tmp_path)) == [f"ev-{i}" for i in (1, 2, 4, 5, 6, 8)]
    metrics = emitted_metrics(capsys)
    assert (metrics["RecordsDelivered"], metrics["RecordsFailed"], metrics["RecordsRetried"]) == (6, 2, 6)


def test_oversized_record_goes_to_the_dead_letter_path(
    stream: LocalDeliveryStream, recording: RecordingStream, sleeps: list[float], tmp_path: Path, capsys: Any
) -> None:
    dead_letters = MemoryDeadLetters()
    # about 400 KB of text in the new image: the plain and typed copies together pass 1,000 KiB
    huge = task("big", description={"S": "x" * 390_000}, notes={"S": "y" * 390_000})
    event = {"Records": [record(1, "INSERT", task("a")), record(2, "INSERT", huge)]}
    response = make_function(recording, sleeps, dead_letters)(event, None)
    stream.flush()

    assert response == {"batchItemFailures": []}
    assert [r["event_id"] for r in bronze_rows(tmp_path)] == ["ev-1"]
    ((kept, reason),) = dead_letters.items
    assert kept.event_id == "ev-2"
    assert len(kept.line) > 1000 * 1024
    assert "over Firehose" in reason
    assert emitted_metrics(capsys)["RecordsDeadLettered"] == 1


@pytest.mark.parametrize("dead_letters", [None, MemoryDeadLetters(fail=True)], ids=["no-bucket", "s3-down"])
def test_oversized_record_without_a_dead_letter_path_is_a_batch_item_failure(
    recording: RecordingStream, sleeps: list[float], dead_letters: Any
) -> None:
    huge = task("big", description={"S": "x" * 390_000}, notes={"S": "y" * 390_000})
    event = {"Records": [record(1, "INSERT", task("a")), record(2, "INSERT", huge)]}
    response = make_function(recording, sleeps, dead_letters)(event, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}


def test_a_corrupt_record_fails_alone_and_the_rest_is_delivered(
    stream: LocalDeliveryStream, recording: RecordingStream, sleeps: list[float], tmp_path: Path, caplog: Any
) -> None:
    corrupt = record(2, "INSERT", task("b", size={"N": "twelve"}))
    event = {"Records": [record(1, "INSERT", task("a")), corrupt, record(3, "INSERT", task("c"))]}
    response = make_function(recording, sleeps)(event, None)
    stream.flush()

    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert [r["event_id"] for r in bronze_rows(tmp_path)] == ["ev-1", "ev-3"]
    (logged,) = [r for r in caplog.records if r.getMessage() == "stream record cannot be converted"]
    assert logged.event_id == "ev-2"  # logged with its event id
    assert "twelve" in logged.problem


def test_when_every_record_fails_the_invocation_fails(
    recording: RecordingStream, sleeps: list[float]
) -> None:
    recording.stream.configure_faults(fraction=1.0)
    with pytest.raises(BatchProcessingError):
        make_function(recording, sleeps, max_attempts=2)(tasks_event(3), None)


def test_a_failing_firehose_call_is_retried_then_reported(sleeps: list[float]) -> None:
    class Down:
        calls = 0

        def put_record_batch(self, **_: Any) -> dict[str, Any]:
            Down.calls += 1
            raise ConnectionError("firehose unreachable")

    sender = FirehoseSender(Down(), STREAM, max_attempts=3, sleep=sleeps.append)
    event = {"Records": [record(1, "INSERT", task("a")), idempotency_record(2)]}
    response = CdcFunction(sender)(event, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert Down.calls == 3
    assert len(sleeps) == 2


def test_metrics_carry_the_stage_qualified_service_name_the_stack_sets(
    stream: LocalDeliveryStream,
    recording: RecordingStream,
    sleeps: list[float],
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the environment the Etl stack gives the staging function
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "todo-insights-staging-cdc")
    # When it handles a batch
    make_function(recording, sleeps)(tasks_event(2), None)
    # Then its metrics are published under that service, not a bare "cdc" shared by every stage
    assert emitted_metrics(capsys, service="todo-insights-staging-cdc")["RecordsIn"] == 2
