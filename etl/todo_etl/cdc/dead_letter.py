"""The CDC dead-letter path: records Firehose cannot take (over 1,000 KiB) kept whole in S3."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from todo_etl.cdc.bronze_record import BronzeRecord

DEAD_LETTER_PREFIX = "dead-letter/cdc/"


class DeadLetterStore(Protocol):
    """Somewhere a bronze record can be kept when it cannot go through Firehose."""

    def put(self, record: BronzeRecord, reason: str, at: datetime) -> str: ...


def dead_letter_key(record: BronzeRecord, at: datetime, prefix: str = DEAD_LETTER_PREFIX) -> str:
    """Day-partitioned, named by event id: a re-delivered record overwrites its own copy."""
    return f"{prefix}year={at:%Y}/month={at:%m}/day={at:%d}/{record.event_id}.json"


class S3DeadLetters:
    """Writes the bronze line itself (ready to re-drive into bronze), the reason as object metadata."""

    def __init__(self, s3_client: Any, bucket: str, prefix: str = DEAD_LETTER_PREFIX) -> None:
        self._s3 = s3_client
        self.bucket = bucket
        self.prefix = prefix

    def close(self) -> None:
        close = getattr(self._s3, "close", None)
        if callable(close):
            close()

    def put(self, record: BronzeRecord, reason: str, at: datetime) -> str:
        key = dead_letter_key(record, at, self.prefix)
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=record.line,
            ContentType="application/json",
            Metadata={
                "reason": reason.encode("ascii", "replace").decode("ascii"),
                "event-id": record.event_id,
            },
        )
        return key
