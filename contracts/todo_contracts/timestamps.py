"""The one spelling of an instant that the system writes: RFC 3339, UTC, milliseconds, `Z`.

API responses, bronze records, run logs, erasure records and the lake's exports all use it, so
strings compare in time order and every reader parses one format.
"""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    """`moment` as e.g. `2026-11-23T12:00:00.123Z` (a naive datetime is taken to be UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
