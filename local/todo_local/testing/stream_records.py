"""DynamoDB stream records as a Lambda event source mapping hands them to a function, for CDC tests.

The shape is the one the CDC handler reads (Powertools' `DynamoDBRecord`): `eventSourceARN`
included, images in DynamoDB JSON, `ApproximateCreationDateTime` in epoch seconds.
"""

from __future__ import annotations

from typing import Any

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x"
APPROXIMATE_CREATION = 1795953600.5  # 2026-11-29T12:00:00.500Z


def stream_record(
    event_name: str,
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    seq: str = "100",
    *,
    approximate_creation: float = APPROXIMATE_CREATION,
    size_bytes: int = 100,
    **top: Any,
) -> dict[str, Any]:
    """One record, keyed by the new image (else the old one); `top` adds or replaces top-level fields."""
    image = new if new is not None else old
    if image is None:
        raise ValueError("a stream record needs a new or an old image")
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": approximate_creation,
        "Keys": {"PK": image["PK"], "SK": image["SK"]},
        "SequenceNumber": seq,
        "SizeBytes": size_bytes,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        dynamodb["NewImage"] = new
    if old is not None:
        dynamodb["OldImage"] = old
    return {
        "eventID": f"ev-{seq}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
        "dynamodb": dynamodb,
        **top,
    }
