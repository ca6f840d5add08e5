"""The local event source mapping: reads the emulated DynamoDB stream and invokes the CDC handler.

It behaves like Lambda's mapping with `ReportBatchItemFailures`, `BisectBatchOnFunctionError` and
`MaximumRetryAttempts`: a batch is retried from the lowest sequence number the function reported
as failed; a batch whose invocation raised is split in two (splitting does not use up retries);
what still fails after the retries goes to a dead-letter file (the records themselves and the
reason, where AWS would send the batch's coordinates to the on-failure queue) and the shard moves
on. The position in each shard is checkpointed, so a restarted poller resumes where it stopped.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from todo_contracts.timestamps import rfc3339
from todo_local.lambda_context import LambdaContext
from todo_local.log_capture import STDOUT_ROUTER, LogSink

if TYPE_CHECKING:
    from todo_etl.aws_clients import ClientFactory

LOG = logging.getLogger("todo_local.stream_poller")

Handler = Callable[[dict[str, Any], Any], Any]
StreamRecord = Mapping[str, Any]  # one record as boto3's dynamodbstreams client returns it
EVENT_VERSION = "1.1"
MAX_DRAIN_ROUNDS = 100_000  # only a writer faster than the poller could get near this


@dataclass
class PollSummary:
    """What one poll (or a whole drain) did."""

    shards: int = 0
    records: int = 0
    batches: int = 0
    invocations: int = 0
    retries: int = 0
    bisections: int = 0
    partial_failures: int = 0
    function_errors: int = 0
    dead_lettered: int = 0

    def add(self, other: PollSummary) -> None:
        for name, value in asdict(other).items():
            if name != "shards":
                setattr(self, name, getattr(self, name) + value)
        self.shards = max(self.shards, other.shards)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Outcome:
    """One invocation: `failed_from` is the index to retry from (None when all succeeded)."""

    failed_from: int | None = None
    function_error: bool = False
    reason: str = ""
    failed_sequence_numbers: tuple[str, ...] = ()


@dataclass
class _Checkpoints:
    stream_arn: str
    shards: dict[str, dict[str, Any]] = field(default_factory=dict)


def _jsonable(value: Any) -> Any:
    """boto3 hands binary attributes over as bytes; a Lambda event carries them as base64 text."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _epoch_seconds(value: Any) -> Any:
    return value.timestamp() if isinstance(value, datetime) else value


def lambda_record(record: StreamRecord, stream_arn: str, region: str) -> dict[str, Any]:
    """A stream record in the shape Lambda hands to a function (moto omits `eventSourceARN`)."""
    stream = record.get("dynamodb") or {}
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": _epoch_seconds(stream.get("ApproximateCreationDateTime"))
    }
    for name in ("Keys", "NewImage", "OldImage", "SequenceNumber", "SizeBytes", "StreamViewType"):
        if name in stream:
            dynamodb[name] = _jsonable(stream[name])
    event: dict[str, Any] = {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": EVENT_VERSION,
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion") or region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if record.get("userIdentity"):
        event["userIdentity"] = dict(record["userIdentity"])
    return event


def _sequence_number(record: StreamRecord) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber", ""))


class StreamPoller:
    """Polls every shard of one table's stream and feeds the handler Lambda-shaped batches."""

    def __init__(
        self,
        table_name: str,
        handler: Handler,
        batch_size: int = 100,
        max_retries: int = 3,
        bisect_on_error: bool = True,
        *,
        dead_letter_path: Path,
        checkpoint_path: Path,
        function_name: str = "cdc",
        sink: LogSink | None = None,
        timeout_seconds: float = 60.0,
        on_consumed: Callable[[str, str, str], None] | None = None,
        clients: ClientFactory | None = None,
    ) -> None:
        if not 1 <= batch_size <= 10_000:
            raise ValueError("batch_size is between 1 and 10,000 (as for the event source mapping)")
        if max_retries < 0:
            raise ValueError("max_retries cannot be negative")
        self.table_name = table_name
        self.handler = handler
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.bisect_on_error = bisect_on_error
        self.dead_letter_path = Path(dead_letter_path)
        self.checkpoint_path = Path(checkpoint_path)
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        # Told (stream ARN, shard id, sequence number) once a batch is handled and checkpointed:
        # the local emulator may then release those records (todo_local.dynamodb_emulation).
        self.on_consumed = on_consumed
        self._sink = sink
        self._lock = threading.Lock()
        self._dynamodb: Any = None
        self._streams: Any = None
        self._stream_arn: str | None = None
        # Explicit clients (the local platform's emulator); None: as boto3 resolves them from the
        # environment, in the region it names.
        self._client_factory = clients
        self._region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    # -- AWS side --------------------------------------------------------------------------------

    def _clients(self) -> tuple[Any, Any]:
        if self._streams is None:
            if self._client_factory is not None:
                from botocore.config import Config

                self._dynamodb = self._client_factory("dynamodb", config=Config())
                self._streams = self._client_factory("dynamodbstreams", config=Config())
                return self._dynamodb, self._streams
            import boto3

            self._dynamodb = boto3.client("dynamodb", region_name=self._region)
            self._streams = boto3.client("dynamodbstreams", region_name=self._region)
        return self._dynamodb, self._streams

    def close(self) -> None:
        """Close the clients (their keep-alive connections would hold emulator threads)."""
        with self._lock:
            for client in (self._dynamodb, self._streams):
                if client is not None:
                    client.close()
            self._dynamodb = self._streams = None

    @property
    def stream_arn(self) -> str:
        if self._stream_arn is None:
            dynamodb, _ = self._clients()
            arn = dynamodb.describe_table(TableName=self.table_name)["Table"].get("LatestStreamArn")
            if not arn:
                raise RuntimeError(f"table {self.table_name} has no stream")
            self._stream_arn = str(arn)
        return self._stream_arn

    def _shards(self) -> list[dict[str, Any]]:
        _, streams = self._clients()
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = streams.describe_stream(**kwargs)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            kwargs["ExclusiveStartShardId"] = last

    # -- checkpoints -----------------------------------------------------------------------------

    def _load_checkpoints(self) -> _Checkpoints:
        try:
            stored = json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _Checkpoints(self.stream_arn)
        if stored.get("stream_arn") != self.stream_arn:  # another table's stream: start afresh
            return _Checkpoints(self.stream_arn)
        return _Checkpoints(self.stream_arn, dict(stored.get("shards", {})))

    def _save_checkpoints(self, checkpoints: _Checkpoints) -> None:
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.checkpoint_path.with_name(self.checkpoint_path.name + ".partial")
        partial.write_text(json.dumps(asdict(checkpoints), indent=2), encoding="utf-8")
        partial.replace(self.checkpoint_path)

    def checkpoints(self) -> dict[str, dict[str, Any]]:
        """The stored position per shard (`sequence_number`, `closed`)."""
        with self._lock:
            return self._load_checkpoints().shards

    # -- polling ---------------------------------------------------------------------------------

    def poll_once(self) -> PollSummary:
        """One `get_records` per readable shard, each batch handled to the end (delivered or given up)."""
        with self._lock:
            return self._poll()

    def drain(self) -> PollSummary:
        """Poll until a round finds nothing new: every record written before the call is handled."""
        total = PollSummary()
        with self._lock:
            for _ in range(MAX_DRAIN_ROUNDS):
                summary = self._poll()
                total.add(summary)
                if summary.records == 0:
                    return total
        raise RuntimeError(f"the stream did not drain in {MAX_DRAIN_ROUNDS} rounds")

    def _readable(self, shards: Sequence[Mapping[str, Any]], checkpoints: _Checkpoints) -> Iterator[str]:
        """Open shards and unfinished closed ones, a child only after its parent is finished."""
        ids = {s["ShardId"] for s in shards}
        for shard in shards:
            state = checkpoints.shards.get(shard["ShardId"], {})
            if state.get("closed"):
                continue
            parent = shard.get("ParentShardId")
            if (
                isinstance(parent, str)
                and parent in ids
                and not checkpoints.shards.get(parent, {}).get("closed")
            ):
                continue
            yield shard["ShardId"]

    def _poll(self) -> PollSummary:
        summary = PollSummary()
        _, streams = self._clients()
        shards = self._shards()
        summary.shards = len(shards)
        checkpoints = self._load_checkpoints()
        for shard_id in list(self._readable(shards, checkpoints)):
            state = checkpoints.shards.setdefault(shard_id, {"sequence_number": None, "closed": False})
            request: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id}
            if state["sequence_number"]:
                request.update(
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=state["sequence_number"]
                )
            else:
                request["ShardIteratorType"] = "TRIM_HORIZON"
            iterator = streams.get_shard_iterator(**request)["ShardIterator"]
            response = streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
            records = response.get("Records", [])
            if records:
                summary.records += len(records)
                summary.batches += 1
                self._handle_batch(shard_id, records, summary)
                state["sequence_number"] = _sequence_number(records[-1])
            elif not response.get("NextShardIterator"):
                state["closed"] = True  # a closed shard read to its end
            self._save_checkpoints(checkpoints)
            if records and self.on_consumed is not None:
                self.on_consumed(self.stream_arn, shard_id, state["sequence_number"])
        return summary

    # -- one batch -------------------------------------------------------------------------------

    def _scope(self) -> AbstractContextManager[Any]:
        return STDOUT_ROUTER.capture(self._sink, self.function_name) if self._sink else nullcontext()

    def _invoke(self, batch: Sequence[StreamRecord]) -> _Outcome:
        event = {"Records": [lambda_record(r, self.stream_arn, self._region) for r in batch]}
        context = LambdaContext(self.function_name, timeout_seconds=self.timeout_seconds, region=self._region)
        try:
            with self._scope():
                response = self.handler(event, context)
        except Exception as exc:  # a function error: on AWS the whole batch fails
            LOG.warning("%s raised on a batch of %d: %r", self.function_name, len(batch), exc)
            return _Outcome(0, function_error=True, reason=f"function error: {exc.__class__.__name__}: {exc}")
        failures = response.get("batchItemFailures") if isinstance(response, Mapping) else None
        if not failures:
            return _Outcome()
        sequence_numbers = [_sequence_number(r) for r in batch]
        identifiers = [f.get("itemIdentifier") if isinstance(f, Mapping) else None for f in failures]
        if any(i not in sequence_numbers for i in identifiers):
            # Lambda treats an unknown or empty identifier as the failure of the whole batch.
            return _Outcome(0, reason=f"invalid batchItemFailures: {failures!r}")
        failed = tuple(str(i) for i in identifiers)
        first = min(sequence_numbers.index(i) for i in failed)
        return _Outcome(
            first, reason=f"batchItemFailures: {len(failed)} record(s)", failed_sequence_numbers=failed
        )

    def _handle_batch(self, shard_id: str, records: Sequence[StreamRecord], summary: PollSummary) -> None:
        queue: deque[tuple[Sequence[StreamRecord], int]] = deque([(records, 0)])
        while queue:
            batch, retries = queue.popleft()
            outcome = self._invoke(batch)
            summary.invocations += 1
            if outcome.failed_from is None:
                continue
            if outcome.function_error:
                summary.function_errors += 1
                if self.bisect_on_error and len(batch) > 1:
                    middle = len(batch) // 2
                    queue.appendleft((batch[middle:], retries))
                    queue.appendleft((batch[:middle], retries))
                    summary.bisections += 1
                    continue
            else:
                summary.partial_failures += 1
            remaining = batch[outcome.failed_from :]
            if retries >= self.max_retries:
                self._dead_letter(shard_id, remaining, outcome, retries)
                summary.dead_lettered += len(remaining)
                continue
            summary.retries += 1
            queue.appendleft((remaining, retries + 1))

    def _dead_letter(
        self, shard_id: str, records: Sequence[StreamRecord], outcome: _Outcome, retries: int
    ) -> None:
        entry = {
            "failed_at": rfc3339(datetime.now(UTC)),
            "function": self.function_name,
            "stream_arn": self.stream_arn,
            "shard_id": shard_id,
            "reason": outcome.reason,
            "retries": retries,
            "first_sequence_number": _sequence_number(records[0]),
            "last_sequence_number": _sequence_number(records[-1]),
            "failed_sequence_numbers": list(outcome.failed_sequence_numbers)
            or [_sequence_number(r) for r in records],
            "records": [lambda_record(r, self.stream_arn, self._region) for r in records],
        }
        self.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
        with self.dead_letter_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        LOG.error(
            "gave up on %d record(s) of %s after %d retries (%s): %s",
            len(records),
            shard_id,
            retries,
            outcome.reason,
            self.dead_letter_path,
        )
