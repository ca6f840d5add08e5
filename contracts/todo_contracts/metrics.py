"""Every metric the system publishes and its alarms and dashboard read: the namespace, the names
and the dimensions, in one place for the publishers (api, cdc, insights loader, metrics Lambda,
Glue entry scripts) and for the Monitoring stack.

The stacks set NAMESPACE as each function's POWERTOOLS_METRICS_NAMESPACE and point alarms and
dashboard widgets at it; the functions and the Glue jobs fall back to it when run outside a stack.
Powertools adds the `service` dimension (SERVICE_DIMENSION) to every metric a function publishes.
"""

from __future__ import annotations

from enum import StrEnum

NAMESPACE = "TodoInsights"
SERVICE_DIMENSION = "service"


class ApiMetric(StrEnum):
    """What the api counts, per request that did it."""

    TASKS_CREATED = "TasksCreated"
    TASKS_COMPLETED = "TasksCompleted"
    TASKS_DELETED = "TasksDeleted"
    USERS_CREATED = "UsersCreated"
    USERS_DELETED = "UsersDeleted"


class KpiMetric(StrEnum):
    """The metrics Lambda's figures from gold's KPI snapshot (SPEC §8), and the snapshot's health."""

    TOTAL_USERS = "TotalUsers"
    ACTIVE_USERS = "ActiveUsers"
    TOTAL_TASKS = "TotalTasks"
    COMPLETED_TASKS = "CompletedTasks"
    COMPLETION_RATE = "CompletionRate"
    AVG_TASKS_PER_USER = "AvgTasksPerUser"
    SNAPSHOT_AGE_SECONDS = "KpiSnapshotAgeSeconds"
    SNAPSHOT_READ_FAILURES = "KpiSnapshotReadFailures"


BUSINESS_METRICS = (
    KpiMetric.TOTAL_USERS,
    KpiMetric.ACTIVE_USERS,
    KpiMetric.TOTAL_TASKS,
    KpiMetric.COMPLETED_TASKS,
    KpiMetric.COMPLETION_RATE,
    KpiMetric.AVG_TASKS_PER_USER,
)


class InsightsMetric(StrEnum):
    """The insights loader's outcome per load (ADR 0014)."""

    WRITTEN = "InsightsWritten"
    SKIPPED_STALE = "InsightsSkippedStale"
    SKIPPED_DELETED = "InsightsSkippedDeleted"
    LOAD_ERRORS = "InsightsLoadErrors"
    LAG_SECONDS = "InsightsLagSeconds"


class PipelineMetric(StrEnum):
    """Published once per finished silver, gold or erasure run by the Glue entry scripts, with
    dimension PIPELINE_JOB_DIMENSION = the job."""

    ANOMALIES = "PipelineRunAnomalies"
    ROWS_WRITTEN = "PipelineRowsWritten"
    ROWS_QUARANTINED = "PipelineRowsQuarantined"
    DURATION_SECONDS = "PipelineRunSeconds"


PIPELINE_JOB_DIMENSION = "Job"
ERASURE_JOB = "erasure"
