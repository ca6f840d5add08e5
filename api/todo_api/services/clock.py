"""Timestamps and identifiers: RFC 3339 UTC times with milliseconds, time-sortable task ids.

Every time the API stamps on data users see (`created_at`, `updated_at`, `completed_at`, the task
id's millisecond prefix, the access log's `ts`) comes from one time source, `now_seconds()`. In
production that is the system clock and nothing changes it. The local demo replays weeks of past
activity through the real API, and for that alone it swaps the source for a simulated clock with
`use_time_source` — the one documented seam; no code under api/ calls it (a test pins that).

The seam is process-wide (the local platform runs the API handler and the DynamoDB emulator in
one process, on several threads; a context variable would not reach the emulator's threads), so
it is for single-threaded replays that own the platform while they run. A simulated time is
never ahead of the real clock: a source that answers a future time is refused with `ValueError`
rather than letting the API write a timestamp that has not happened yet.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from todo_contracts.timestamps import rfc3339

TimeSource = Callable[[], float]
"""A clock: the current time as POSIX seconds (what `time.time` answers)."""

SYSTEM_TIME: TimeSource = time.time

# The one mutable cell of the seam (a dict rather than a rebound global).
_state: dict[str, TimeSource] = {"source": SYSTEM_TIME}


def now_seconds() -> float:
    """The current time as POSIX seconds, from the time source (the system clock in production)."""
    source = _state["source"]
    if source is SYSTEM_TIME:
        return SYSTEM_TIME()
    now = source()
    real = SYSTEM_TIME()
    if now > real:
        raise ValueError(f"a simulated time must not be ahead of the real clock: {now} > {real}")
    return now


def time_source() -> TimeSource:
    """The time source in use (the system clock unless a replay swapped it)."""
    return _state["source"]


@contextmanager
def use_time_source(source: TimeSource) -> Iterator[None]:
    """Stamp times from `source` for the duration of the block, then restore the previous source
    (also when the block raises). For local replays of past activity only; never nested across
    threads."""
    previous = _state["source"]
    _state["source"] = source
    try:
        yield
    finally:
        _state["source"] = previous


def utc_now() -> str:
    """The current time as RFC 3339 UTC with millisecond precision, e.g. 2026-11-23T12:00:00.123Z."""
    return rfc3339(datetime.fromtimestamp(now_seconds(), UTC))


def new_task_id() -> str:
    """A UUIDv7-layout id as 32 lowercase hex digits: sorts by creation time, URL-safe."""
    millis = int(now_seconds() * 1000)
    value = (millis & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return f"{value:032x}"
