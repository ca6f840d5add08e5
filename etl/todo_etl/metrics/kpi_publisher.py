"""Turns the latest KPI snapshot into CloudWatch metrics, or into a staleness signal when it cannot."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from todo_contracts.metrics import NAMESPACE as METRICS_NAMESPACE
from todo_contracts.metrics import KpiMetric
from todo_etl.metrics.kpi_snapshot import InvalidSnapshotError, parse_snapshot
from todo_etl.metrics.snapshot_store import SnapshotUnavailableError

# Gold's metric names -> the CloudWatch metric names the dashboard and alarms use (SPEC §8).
CLOUDWATCH_METRICS: dict[str, tuple[KpiMetric, MetricUnit]] = {
    "total_users": (KpiMetric.TOTAL_USERS, MetricUnit.Count),
    "active_users": (KpiMetric.ACTIVE_USERS, MetricUnit.Count),
    "total_tasks": (KpiMetric.TOTAL_TASKS, MetricUnit.Count),
    "completed_tasks": (KpiMetric.COMPLETED_TASKS, MetricUnit.Count),
    "completion_rate": (KpiMetric.COMPLETION_RATE, MetricUnit.Percent),
    "avg_tasks_per_user": (KpiMetric.AVG_TASKS_PER_USER, MetricUnit.Count),
}
AGE_METRIC = KpiMetric.SNAPSHOT_AGE_SECONDS
READ_FAILURE_METRIC = KpiMetric.SNAPSHOT_READ_FAILURES

# The stack sets both (its service name is stage-qualified); the defaults serve local runs.
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE)
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "metrics")

logger = Logger(service=SERVICE, child=True)


@dataclass(frozen=True)
class PublishOutcome:
    """What one run published: `published`, or why it published only the staleness signal."""

    status: str  # published | snapshot_missing | snapshot_unreadable | snapshot_invalid
    snapshot_at: str | None = None
    age_seconds: float | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def publish_latest_snapshot(metrics: Metrics, read: Callable[[], bytes], now: datetime) -> PublishOutcome:
    """Add the KPI metrics and the snapshot's age to `metrics`; never raise for a bad snapshot.

    A missing or corrupt snapshot is an operational state, not a reason to crash: raising would
    only make the schedule retry into the same answer. Instead no age is published (the staleness
    alarm treats missing data as breaching) and `KpiSnapshotReadFailures` counts the failure.
    """
    try:
        snapshot = parse_snapshot(read())
    except SnapshotUnavailableError as exc:
        status = "snapshot_missing" if exc.missing else "snapshot_unreadable"
        return _failed(metrics, status, str(exc))
    except InvalidSnapshotError as exc:
        return _failed(metrics, "snapshot_invalid", str(exc))

    for kpi, value in snapshot.values.items():
        name, unit = CLOUDWATCH_METRICS[kpi]
        metrics.add_metric(name=name, unit=unit, value=value)
    age = snapshot.age_seconds(now)
    metrics.add_metric(name=AGE_METRIC, unit=MetricUnit.Seconds, value=age)
    metrics.add_metric(name=READ_FAILURE_METRIC, unit=MetricUnit.Count, value=0)
    outcome = PublishOutcome(
        status="published", snapshot_at=snapshot.snapshot_at.isoformat(), age_seconds=age
    )
    logger.info("published business KPIs", extra=outcome.as_dict())
    return outcome


def _failed(metrics: Metrics, status: str, reason: str) -> PublishOutcome:
    metrics.add_metric(name=READ_FAILURE_METRIC, unit=MetricUnit.Count, value=1)
    outcome = PublishOutcome(status=status, reason=reason)
    logger.error("KPI snapshot not published", extra=outcome.as_dict())
    return outcome
