"""Powertools' DynamoDB-streams BatchProcessor, extended to deliver the converted batch to Firehose.

Powertools converts record by record (a conversion failure fails that record alone); this
subclass then sends the converted records in Firehose-sized chunks and turns every record that
was not delivered (or dead-lettered) into a failure, so `process_partial_response` reports it in
`batchItemFailures` and the event source retries it.

It does so through Powertools' documented extension points only (ADR 0017): `success_handler`
holds each converted record back instead of counting it a success; `_clean`, the processor's
teardown that runs once after the per-record loop and builds the response, first delivers the held
records and hands each to `success_handler` or `failure_handler`. `process()` is Powertools' own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.base import SuccessResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from todo_etl.cdc.bronze_record import BronzeRecord, SkippedRecord, build_bronze_record
from todo_etl.cdc.dead_letter import DeadLetterStore
from todo_etl.cdc.firehose_sender import MAX_RECORD_BYTES, FirehoseSender, Outbound

DEFAULT_SERVICE = "cdc"  # outside Lambda; the stack sets POWERTOOLS_SERVICE_NAME per stage


def service_name() -> str:
    """Powertools service of the cdc function: the stage-qualified name the stack sets (so stages
    sharing an account keep their metrics and logs apart), else `cdc`."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE


logger = Logger(service=service_name(), child=True)


class DeliveryError(RuntimeError):
    """A converted record that reached neither Firehose nor the dead-letter path."""


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None: ...


@dataclass
class BatchTally:
    """Counts of one invocation, published as EMF metrics (zeros included, so alarms see data)."""

    records_in: int = 0
    records_delivered: int = 0
    records_retried: int = 0
    records_failed: int = 0
    records_skipped: int = 0
    records_dead_lettered: int = 0
    tasks_created: int = 0
    tasks_completed: int = 0
    tasks_deleted: int = 0

    def publish(self, metrics: MetricsSink) -> None:
        for item in fields(self):
            name = "".join(part.capitalize() for part in item.name.split("_"))  # records_in → RecordsIn
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=getattr(self, item.name))


class BronzeBatchProcessor(BatchProcessor):
    """Converts each stream record (Powertools' per-record loop), then delivers the batch."""

    def __init__(
        self,
        sender: FirehoseSender,
        dead_letters: DeadLetterStore | None,
        tally: BatchTally,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(event_type=EventType.DynamoDBStreams)
        self._sender = sender
        self._dead_letters = dead_letters
        self.tally = tally
        self._clock = clock
        # (raw stream record, its bronze record): converted in this batch, not yet delivered
        self._converted: list[tuple[dict[str, Any], BronzeRecord]] = []

    def convert(self, record: DynamoDBRecord) -> BronzeRecord | SkippedRecord:
        """The record handler: one stream record → a bronze record or a skip; raises if it cannot."""
        raw = record.raw_event
        try:
            converted = build_bronze_record(raw, self._clock())
        except Exception as exc:
            logger.error(
                "stream record cannot be converted",
                extra={
                    "event_id": raw.get("eventID"),
                    "sequence_number": (raw.get("dynamodb") or {}).get("SequenceNumber"),
                    "problem": f"{exc.__class__.__name__}: {exc}",
                },
            )
            raise
        if isinstance(converted, SkippedRecord):
            self.tally.records_skipped += 1
            logger.debug("record skipped", extra={"event_id": converted.event_id, "reason": converted.reason})
        return converted

    # -- Powertools' extension points (ADR 0017) ---------------------------------------------------

    def _prepare(self) -> None:
        """Before the per-record loop (the processor's context manager enters)."""
        super()._prepare()  # type: ignore[no-untyped-call]
        self._converted = []
        self.tally.records_in = len(self.records)

    def success_handler(self, record: Any, result: Any) -> SuccessResponse:
        """A converted record is not a success yet: it is held until it is delivered (in `_clean`).
        A skip needs no delivery and succeeds now."""
        if isinstance(result, BronzeRecord):
            self._converted.append((record, result))
            return ("success", result, record)
        return super().success_handler(record, result)

    def _clean(self) -> None:
        """After the per-record loop: deliver what was converted, record each as a success or a
        failure, then let Powertools build the partial batch response from the failures."""
        converted, self._converted = self._converted, []
        undelivered = self._deliver([bronze for _, bronze in converted])
        for index, (raw, bronze) in enumerate(converted):
            reason = undelivered.get(index)
            if reason is None:
                super().success_handler(raw, bronze)
                continue
            logger.error(
                "record not delivered; reported as a batch item failure",
                extra={
                    "event_id": bronze.event_id,
                    "sequence_number": bronze.sequence_number,
                    "reason": reason,
                },
            )
            self.failure_handler(
                record=DynamoDBRecord(raw), exception=(DeliveryError, DeliveryError(reason), None)
            )
        super()._clean()  # type: ignore[no-untyped-call]

    def _deliver(self, records: list[BronzeRecord]) -> dict[int, str]:
        """Send (or dead-letter) every record; the indexes of those that got nowhere, with why."""
        undelivered: dict[int, str] = {}
        outbound: list[Outbound] = []
        for index, record in enumerate(records):
            if len(record.line) <= MAX_RECORD_BYTES:
                outbound.append(Outbound(str(index), record.line))
                continue
            reason = f"record is {len(record.line)} bytes, over Firehose's {MAX_RECORD_BYTES}-byte limit"
            if self._dead_letters is None:
                undelivered[index] = f"{reason}, and no dead-letter bucket is configured"
                continue
            try:
                key = self._dead_letters.put(record, reason, self._clock())
            except Exception as exc:
                undelivered[index] = f"{reason}, and dead-lettering failed: {exc!r}"
                continue
            self.tally.records_dead_lettered += 1
            logger.warning(
                "record dead-lettered", extra={"event_id": record.event_id, "key": key, "reason": reason}
            )
        result = self._sender.send(outbound)
        self.tally.records_retried += result.retried
        self.tally.records_delivered += len(result.delivered)
        for key, reason in result.failed.items():
            undelivered[int(key)] = reason
        for key in result.delivered:
            flow = records[int(key)].flow
            self.tally.tasks_created += flow.created
            self.tally.tasks_completed += flow.completed
            self.tally.tasks_deleted += flow.deleted
        return undelivered
