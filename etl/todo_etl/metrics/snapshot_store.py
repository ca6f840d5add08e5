"""Reads the exported KPI snapshot object from the gold bucket: the only place this function touches AWS."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchBucket", "404"})
_DENIED = frozenset({"AccessDenied", "403"})


class SnapshotUnavailableError(RuntimeError):
    """The snapshot object could not be read (absent, or S3 refused or failed)."""

    def __init__(self, message: str, *, missing: bool) -> None:
        super().__init__(message)
        self.missing = missing


@cache
def _s3() -> Any:
    # Built on first use, not at import: tests point AWS_ENDPOINT_URL at a local server first.
    return boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 3}))


def read_snapshot(bucket: str, key: str, client: Any | None = None) -> bytes:
    """The object's bytes; `SnapshotUnavailableError` (with `missing`) when it cannot be read."""
    s3 = client if client is not None else _s3()
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        body: bytes = response["Body"].read()
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        missing = code in _NOT_FOUND or (code in _DENIED and _absent(s3, bucket, key))
        raise SnapshotUnavailableError(f"s3://{bucket}/{key}: {code or exc}", missing=missing) from exc
    except BotoCoreError as exc:
        raise SnapshotUnavailableError(f"s3://{bucket}/{key}: {exc}", missing=False) from exc
    return body


def _absent(s3: Any, bucket: str, key: str) -> bool:
    """Whether a GetObject refused with 403 was about an object that does not exist.

    S3 answers 403 instead of 404 unless the caller may list the bucket, and the function may list
    only under the snapshot's own key (prefix-conditioned ListBucket), which a GetObject does not
    carry. So ask directly: a listing under exactly that key tells absent from forbidden.
    """
    try:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    except (ClientError, BotoCoreError):
        return False  # cannot tell: report it as unreadable, the louder of the two
    return not any(entry.get("Key") == key for entry in listing.get("Contents", []))
