"""Names shared by the functions' environment, the alarms and the dashboard: namespaces, runbook links."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sqs as sqs

from todo_contracts import metrics
from todo_contracts.metrics import NAMESPACE
from todo_infra.stage_config import StageConfig

METRICS_NAMESPACE = NAMESPACE  # POWERTOOLS_METRICS_NAMESPACE of every function
# The names come from todo_contracts.metrics, which the publishers use too; CDK takes plain strings.
BUSINESS_METRICS = tuple(name.value for name in metrics.BUSINESS_METRICS)
KPI_AGE_METRIC = metrics.KpiMetric.SNAPSHOT_AGE_SECONDS.value
# Published once per silver/gold run by the Glue entry scripts (todo_etl.glue.run_metrics), with
# dimension PIPELINE_JOB_DIMENSION = the job ("silver" or "gold"); 0 when the run had no anomaly.
PIPELINE_ANOMALIES_METRIC = metrics.PipelineMetric.ANOMALIES.value
PIPELINE_JOB_DIMENSION = metrics.PIPELINE_JOB_DIMENSION
# Each finished run's duration (etl/todo_etl/glue/run_metrics.py), dimension Job; its sample
# count per day tells whether the erase step (Job = "erasure", ADR 0013) ran to the end.
PIPELINE_DURATION_METRIC = metrics.PipelineMetric.DURATION_SECONDS.value
ERASURE_JOB = metrics.ERASURE_JOB
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


# --- metrics the alarms and the dashboard both read ------------------------------------------

# The table operations the api (and the loader) perform: throttles and system errors are summed
# over these.
TABLE_OPERATIONS = (
    dynamodb.Operation.GET_ITEM,
    dynamodb.Operation.PUT_ITEM,
    dynamodb.Operation.UPDATE_ITEM,
    dynamodb.Operation.DELETE_ITEM,
    dynamodb.Operation.QUERY,
    dynamodb.Operation.BATCH_WRITE_ITEM,
    dynamodb.Operation.TRANSACT_WRITE_ITEMS,
)
# Published by the insights loader (ADR 0014) after each load, dimension `service`.
INSIGHTS_LAG_METRIC = metrics.InsightsMetric.LAG_SECONDS.value
INSIGHTS_COUNT_METRICS = tuple(
    name.value for name in metrics.InsightsMetric if name is not metrics.InsightsMetric.LAG_SECONDS
)


def pipeline_anomalies_metric(job: str) -> cloudwatch.Metric:
    """Anomalies a silver or gold run found against its previous run, summed per hour."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=PIPELINE_ANOMALIES_METRIC,
        dimensions_map={PIPELINE_JOB_DIMENSION: job},
        period=Duration.hours(1),
        statistic="Sum",
    )


def kpi_metric(config: StageConfig, name: str, statistic: str = "Maximum") -> cloudwatch.Metric:
    """A business KPI (or the KPI snapshot's age) as the metrics function publishes it."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={metrics.SERVICE_DIMENSION: service_name(config, "metrics")},
        period=Duration.minutes(config.metrics_schedule_minutes),
        statistic=statistic,
    )


def insights_metric(config: StageConfig, name: str, statistic: str = "Sum") -> cloudwatch.Metric:
    """One of the insights loader's metrics, per hour."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={metrics.SERVICE_DIMENSION: service_name(config, "insights-loader")},
        period=Duration.hours(1),
        statistic=statistic,
    )


def dead_letters(queue: sqs.IQueue, period: Duration) -> cloudwatch.Metric:
    """Messages waiting in a dead-letter queue, the highest count in each period (alarm and graph)."""
    return queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum")
