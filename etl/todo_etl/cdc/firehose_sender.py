"""Firehose `put_record_batch` in chunks (≤ 500 records, ≤ 4 MiB), resending only the failed entries.

After a partial `FailedPutCount` only the entries that carry an `ErrorCode` go again, with
exponential backoff and full jitter; what still fails when the attempts run out is returned to
the caller (the CDC function reports those stream records as batch item failures).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

LOG = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024  # Firehose's limit on one record, before base64


class FirehoseClient(Protocol):
    """What the sender needs of a Firehose client (boto3's, or the local delivery stream)."""

    def put_record_batch(
        self,
        *,
        DeliveryStreamName: str,  # noqa: N803 (boto3's parameter names)
        Records: list[dict[str, bytes]],  # noqa: N803
    ) -> Mapping[str, Any]: ...


class RecordTooLargeError(ValueError):
    """A record over Firehose's per-record limit: it belongs on the dead-letter path."""


@dataclass(frozen=True)
class Outbound:
    """One record to send, with the caller's key for it."""

    key: str
    data: bytes


@dataclass
class SendResult:
    """Keys delivered, keys that failed after every attempt (with the last error), resend count."""

    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    retried: int = 0
    calls: int = 0


def chunks(records: Sequence[Outbound]) -> Iterator[list[Outbound]]:
    """Consecutive chunks within both per-call limits."""
    chunk: list[Outbound] = []
    size = 0
    for record in records:
        if chunk and (len(chunk) == MAX_BATCH_RECORDS or size + len(record.data) > MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(record)
        size += len(record.data)
    if chunk:
        yield chunk


class FirehoseSender:
    """Sends records to one delivery stream; the backoff clock and randomness are injectable."""

    def __init__(
        self,
        client: FirehoseClient,
        stream_name: str,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.client = client
        self.stream_name = stream_name
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        self._rng = rng or random.Random()

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base·2^(attempt-1))]."""
        return self._rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def send(self, records: Sequence[Outbound]) -> SendResult:
        result = SendResult()
        for record in records:
            if len(record.data) > MAX_RECORD_BYTES:
                raise RecordTooLargeError(
                    f"record {record.key} is {len(record.data)} bytes (limit {MAX_RECORD_BYTES})"
                )
        for chunk in chunks(records):
            self._send_chunk(chunk, result)
        return result

    def _put(self, pending: list[Outbound], result: SendResult) -> dict[str, str]:
        """One call; the keys that failed in it, with their error."""
        result.calls += 1
        try:
            response = self.client.put_record_batch(
                DeliveryStreamName=self.stream_name, Records=[{"Data": r.data} for r in pending]
            )
        except Exception as exc:  # a failed call accepted nothing; the SDK has already retried it
            LOG.warning("put_record_batch to %s failed: %r", self.stream_name, exc)
            return {r.key: f"{exc.__class__.__name__}: {exc}" for r in pending}
        answers = response.get("RequestResponses") or []
        if len(answers) != len(pending):
            return {
                r.key: f"malformed response: {len(answers)} answers for {len(pending)} records"
                for r in pending
            }
        failed: dict[str, str] = {}
        for record, answer in zip(pending, answers, strict=True):
            if answer.get("ErrorCode"):
                failed[record.key] = f"{answer['ErrorCode']}: {answer.get('ErrorMessage', '')}"
            else:
                result.delivered.append(record.key)
        return failed

    def _send_chunk(self, chunk: list[Outbound], result: SendResult) -> None:
        pending = chunk
        for attempt in range(1, self.max_attempts + 1):
            failed = self._put(pending, result)
            if not failed:
                return
            if attempt == self.max_attempts:
                result.failed.update(failed)
                return
            pending = [r for r in pending if r.key in failed]  # only the entries with an ErrorCode
            result.retried += len(pending)
            self._sleep(self.backoff(attempt))
