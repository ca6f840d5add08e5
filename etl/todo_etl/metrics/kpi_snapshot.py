"""The KPI snapshot the gold job exports (`KPI_EXPORT_KEY`): its JSON shape, parsed and validated.

    {"snapshot_at": "2026-11-23T12:00:00Z",
     "metrics": {"total_users": 3, "active_users": 2, "total_tasks": 12, "completed_tasks": 5,
                 "completion_rate": 41.67, "avg_tasks_per_user": 4.0}}

`metrics` may also be the table's own rows, `[{"metric": "total_users", "value": 3}, ...]`.
Standard library only: the function ships without a JSON-schema or Parquet dependency.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from todo_contracts.lake_layout import BUSINESS_KPI_METRICS


class InvalidSnapshotError(ValueError):
    """The snapshot object exists but cannot be trusted (bad JSON, missing or non-numeric metric)."""


@dataclass(frozen=True)
class KpiSnapshot:
    """One snapshot: when gold computed it, and the value of every business KPI."""

    snapshot_at: datetime
    values: Mapping[str, float]

    def age_seconds(self, now: datetime) -> float:
        """How old the snapshot is at `now` (never negative: a clock ahead of ours means fresh)."""
        return max(0.0, (now - self.snapshot_at).total_seconds())


def parse_snapshot(raw: bytes) -> KpiSnapshot:
    """Parse and validate the exported JSON; `InvalidSnapshotError` says what is wrong."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidSnapshotError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidSnapshotError("the snapshot must be a JSON object")
    snapshot_at = _parse_time(document.get("snapshot_at"))
    values = _metric_values(document.get("metrics"))
    missing = [m for m in BUSINESS_KPI_METRICS if m not in values]
    if missing:
        raise InvalidSnapshotError(f"metrics missing: {', '.join(missing)}")
    return KpiSnapshot(snapshot_at=snapshot_at, values={m: values[m] for m in BUSINESS_KPI_METRICS})


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidSnapshotError("snapshot_at must be an RFC 3339 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidSnapshotError(f"snapshot_at is not RFC 3339: {value!r}") from exc
    if parsed.tzinfo is None:
        raise InvalidSnapshotError(f"snapshot_at has no time zone: {value!r}")
    return parsed.astimezone(UTC)


def _metric_values(metrics: Any) -> dict[str, float]:
    if isinstance(metrics, dict):
        pairs = list(metrics.items())
    elif isinstance(metrics, list) and all(isinstance(r, dict) for r in metrics):
        pairs = [(row.get("metric"), row.get("value")) for row in metrics]
    else:
        raise InvalidSnapshotError("metrics must be an object or a list of {metric, value} rows")
    values: dict[str, float] = {}
    for name, value in pairs:
        # bool is an int in Python; a true/false KPI is a bug upstream, not a 1 or a 0.
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidSnapshotError(f"metric {name!r} has a non-numeric value {value!r}")
        if not math.isfinite(value) or value < 0:
            raise InvalidSnapshotError(f"metric {name!r} has an impossible value {value!r}")
        values[name] = float(value)
    return values
