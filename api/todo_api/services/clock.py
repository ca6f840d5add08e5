"""Timestamps and identifiers: RFC 3339 UTC times with milliseconds, time-sortable task ids."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime


def utc_now() -> str:
    """The current time as RFC 3339 UTC with millisecond precision, e.g. 2026-11-23T12:00:00.123Z."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_task_id() -> str:
    """A UUIDv7-layout id as 32 lowercase hex digits: sorts by creation time, URL-safe."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return f"{value:032x}"
