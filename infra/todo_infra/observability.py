"""Names shared by the functions' environment, the alarms and the dashboard: namespaces, runbook links."""

from __future__ import annotations

from todo_contracts.metrics import NAMESPACE
from todo_infra.stage_config import StageConfig

METRICS_NAMESPACE = NAMESPACE  # POWERTOOLS_METRICS_NAMESPACE of every function
BUSINESS_METRICS = (
    "TotalUsers",
    "ActiveUsers",
    "TotalTasks",
    "CompletedTasks",
    "CompletionRate",
    "AvgTasksPerUser",
)
KPI_AGE_METRIC = "KpiSnapshotAgeSeconds"
# Published once per silver/gold run by the Glue entry scripts (todo_etl.glue.run_metrics), with
# dimension PIPELINE_JOB_DIMENSION = the job ("silver" or "gold"); 0 when the run had no anomaly.
PIPELINE_ANOMALIES_METRIC = "PipelineRunAnomalies"
PIPELINE_JOB_DIMENSION = "Job"
# Each finished run's duration (etl/todo_etl/glue/run_metrics.py), dimension Job; its sample
# count per day tells whether the erase step (Job = "erasure", ADR 0013) ran to the end.
PIPELINE_DURATION_METRIC = "PipelineRunSeconds"
ERASURE_JOB = "erasure"
RUNBOOK_PATH = "docs/runbooks/alarms.md"


def runbook_description(section: str, summary: str) -> str:
    """Alarm description that names its runbook section (a heading of docs/runbooks/alarms.md)."""
    return f"{summary} Runbook: {RUNBOOK_PATH}#{section}"


def glue_database_name(config: StageConfig) -> str:
    """Catalog database of a stage (underscores: Athena identifiers dislike hyphens)."""
    return f"todo_insights_{config.name}"


def service_name(config: StageConfig, family: str) -> str:
    """POWERTOOLS_SERVICE_NAME of a function: Powertools makes it the `service` metric dimension,
    so qualifying it with the stage keeps dev and prod metrics apart in one account."""
    return f"{config.prefix}-{family}"
