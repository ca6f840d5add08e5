"""Monitoring stack: alarms to on-call (each naming its runbook section), dashboard, metrics function.

Composed of `AlarmsToOnCall` (the topic, its policies, every alarm) and `OverviewDashboard`; this
module says which alarms there are and what each watches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from todo_contracts.lake_layout import KPI_EXPORT_KEY
from todo_infra.constructs.alarms_to_on_call import AlarmsToOnCall
from todo_infra.constructs.overview_dashboard import OverviewDashboard
from todo_infra.constructs.python_function import PythonFunction
from todo_infra.observability import (
    ERASURE_JOB,
    INSIGHTS_LAG_METRIC,
    KPI_AGE_METRIC,
    METRICS_NAMESPACE,
    PIPELINE_DURATION_METRIC,
    PIPELINE_JOB_DIMENSION,
    TABLE_OPERATIONS,
    dead_letters,
    insights_metric,
    kpi_metric,
    pipeline_anomalies_metric,
)
from todo_infra.packaging import BuiltBundle
from todo_infra.stage_config import StageConfig

GLUE_FAILED_STATES = ("FAILED", "TIMEOUT", "ERROR")
KPI_MAX_AGE_SECONDS = 3 * 3600  # gold runs hourly; three missed runs is an incident
ITERATOR_AGE_MAX_MS = 5 * 60 * 1000
FIREHOSE_FRESHNESS_MAX_SECONDS = 15 * 60
API_P99_MAX_MS = 3000
PIPELINE_ANOMALIES_SECTION = "pipeline-run-anomalies"
# The insights loader (ADR 0014) runs after each gold run: gold runs hourly (silver_schedule, then
# gold when silver succeeds), so served insights older than two periods mean missed runs.
INSIGHTS_LAG_MAX_SECONDS = 2 * 3600


@dataclass(frozen=True)
class ApiResources:
    """What Monitoring watches in the Api stack."""

    rest_api: apigw.RestApi
    function: lambda_.IFunction
    rollback_alarms: Sequence[cloudwatch.IAlarm]


@dataclass(frozen=True)
class EtlResources:
    """What Monitoring watches (and reads) in the Etl stack."""

    cdc_function: lambda_.IFunction
    cdc_dlq: sqs.IQueue
    delivery_streams: Mapping[str, firehose.IDeliveryStream]
    glue_jobs: Mapping[str, glue.CfnJob]
    gold_bucket: s3.IBucket
    insights_loader: lambda_.IFunction
    insights_dlq: sqs.IQueue


class MonitoringStack(Stack):
    """Alarms notify one encrypted topic; the dashboard has one section per part of the system."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        table: dynamodb.ITable,
        api: ApiResources,
        etl: EtlResources,
        metrics_bundle: BuiltBundle,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.on_call = AlarmsToOnCall(self, "AlarmsToOnCall", config=config)
        self.topic = self.on_call.topic
        self.topic_key = self.on_call.topic_key
        self.alarms = self.on_call.alarms
        self._build_metrics_function(etl.gold_bucket, metrics_bundle)
        self._build_api_alarms(api)
        self._build_pipeline_alarms(etl)
        self._build_pipeline_run_alarms(etl)
        self._build_table_alarms(table)
        self._build_kpi_alarm()
        self._build_insights_alarms(etl)
        self._build_glue_failure_rule(etl)
        self.overview = OverviewDashboard(
            self,
            "OverviewDashboard",
            config=config,
            alarms=list(self.alarms.values()),
            rest_api=api.rest_api,
            functions={
                "api": api.function,
                "cdc": etl.cdc_function,
                "metrics": self.metrics_function,
                "insights-loader": etl.insights_loader,
            },
            cdc_function=etl.cdc_function,
            cdc_dlq=etl.cdc_dlq,
            delivery_streams=etl.delivery_streams,
            glue_jobs=etl.glue_jobs,
            table=table,
            insights_dlq=etl.insights_dlq,
        )
        self.dashboard = self.overview.dashboard

    # --- metrics function ---------------------------------------------------------------------

    def _build_metrics_function(self, gold_bucket: s3.IBucket, bundle: BuiltBundle) -> None:
        config = self.config
        self.metrics = PythonFunction(
            self,
            "MetricsFunction",
            config=config,
            built=bundle,
            family="metrics",
            description="Publishes business KPIs from the gold snapshot (never scans the table)",
            memory_mb=config.metrics_memory_mb,
            timeout=Duration.seconds(30),
            environment={
                "GOLD_BUCKET": gold_bucket.bucket_name,
                "KPI_EXPORT_KEY": KPI_EXPORT_KEY,
            },
        )
        self.metrics_function = self.metrics.function
        # Exactly one object: the latest KPI snapshot the gold job exports. Listing, only under
        # that key, lets the function tell a snapshot that does not exist yet from one it may not
        # read (S3 answers 403 for both to a caller who may not list).
        self.metrics_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[gold_bucket.arn_for_objects(KPI_EXPORT_KEY)]
            )
        )
        self.metrics_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[gold_bucket.bucket_arn],
                conditions={"StringEquals": {"s3:prefix": KPI_EXPORT_KEY}},
            )
        )
        self.metrics_schedule = events.Rule(
            self,
            "MetricsSchedule",
            rule_name=f"{config.prefix}-metrics-schedule",
            description="Publish business KPIs",
            schedule=events.Schedule.rate(Duration.minutes(config.metrics_schedule_minutes)),
            targets=[targets.LambdaFunction(self.metrics_function, retry_attempts=2)],
        )

    # --- alarms -------------------------------------------------------------------------------

    def _build_api_alarms(self, api: ApiResources) -> None:
        minute = Duration.minutes(1)
        five = Duration.minutes(5)
        self.on_call.alarm(
            "api-4xx-rate",
            "More than 10% of API requests answered 4XX (clients broken, or an auth outage).",
            cloudwatch.MathExpression(
                expression="IF(requests > 20, 100 * errors / requests, 0)",
                using_metrics={
                    "errors": api.rest_api.metric_client_error(period=five, statistic="Sum"),
                    "requests": api.rest_api.metric_count(period=five, statistic="Sum"),
                },
                label="4XX rate (%)",
                period=five,
            ),
            threshold=10,
        )
        self.on_call.alarm(
            "api-lambda-duration-p99",
            f"The api function's p99 duration exceeded {API_P99_MAX_MS} ms.",
            api.function.metric_duration(period=five, statistic="p99"),
            threshold=API_P99_MAX_MS,
        )
        self.on_call.alarm(
            "api-lambda-throttles",
            "The api function was throttled (concurrency limit reached).",
            api.function.metric_throttles(period=minute, statistic="Sum"),
            threshold=0,
        )
        # The 5XX-rate and function-error alarms live in the Api stack (the deployment group rolls
        # back on them); one composite alarm here routes them to the topic without a stack cycle.
        self.api_rollback_composite = self.on_call.any_of(
            "ApiDeploymentHealthAlarm",
            "api-errors",
            "API 5XX rate or api function errors (also the canary's rollback alarms); "
            "see api-5xx-rate and api-lambda-errors.",
            api.rollback_alarms,
        )

    def _build_pipeline_alarms(self, etl: EtlResources) -> None:
        five = Duration.minutes(5)
        self.on_call.on_first(
            "cdc-lambda-errors",
            "The cdc function failed batches (records are retried, then dead-lettered).",
            etl.cdc_function.metric_errors(period=five, statistic="Sum"),
        )
        self.on_call.alarm(
            "cdc-iterator-age",
            "The cdc function is more than 5 minutes behind the table's stream.",
            etl.cdc_function.metric("IteratorAge", period=Duration.minutes(1), statistic="Maximum"),
            threshold=ITERATOR_AGE_MAX_MS,
            evaluation_periods=5,
            datapoints=3,
        )
        self.on_call.on_first(
            "cdc-dlq-depth",
            "Stream records were dead-lettered: the lake is missing changes until they are replayed.",
            dead_letters(etl.cdc_dlq, Duration.minutes(1)),
        )
        for folder, stream in etl.delivery_streams.items():
            self.on_call.alarm(
                f"firehose-{folder}-delivery-failures",
                f"The {folder} Firehose failed to deliver to S3 (records go to the errors/ prefix).",
                stream.metric("DeliveryToS3.Success", period=five, statistic="Minimum"),
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=2,
                datapoints=2,
            )
            self.on_call.alarm(
                f"firehose-{folder}-freshness",
                f"The oldest record in the {folder} Firehose is more than 15 minutes old.",
                stream.metric("DeliveryToS3.DataFreshness", period=five, statistic="Maximum"),
                threshold=FIREHOSE_FRESHNESS_MAX_SECONDS,
                evaluation_periods=3,
                datapoints=2,
            )

    def _build_pipeline_run_alarms(self, etl: EtlResources) -> None:
        # Each run publishes its anomaly count (0 when clean). An hour without a run is not an
        # anomaly: missing data does not breach (a failed or missing run has its own signals,
        # glue-job-failed and kpi-staleness).
        for job in etl.glue_jobs:
            self.on_call.alarm(
                f"pipeline-{job}-anomalies",
                f"A {job} run found anomalies against its previous run (row_drop or "
                "quarantine_spike; see pipeline_runs).",
                pipeline_anomalies_metric(job),
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                datapoints=1,
                runbook=PIPELINE_ANOMALIES_SECTION,
            )

        # Erasure is a legal deadline (one month at most): the daily maintenance job runs the erase
        # step first and publishes its duration only when the step finished. Two days without it
        # (disabled schedule, a job failing every day) is breaching, so missing data breaches.
        self.on_call.alarm(
            "erasure-overdue",
            "The erase step (deleted accounts out of every layer of the lake) has not finished a "
            "run for two days.",
            cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=PIPELINE_DURATION_METRIC,
                dimensions_map={PIPELINE_JOB_DIMENSION: ERASURE_JOB},
                period=Duration.days(1),
                statistic="SampleCount",
            ),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=2,
            datapoints=2,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

    def _build_table_alarms(self, table: dynamodb.ITable) -> None:
        # Either signal in one of two 5-minute periods, summed over the operations the app performs.
        for section, summary, metric in (
            (
                "dynamodb-throttles",
                "Requests to the table were throttled.",
                table.metric_throttled_requests_for_operations,
            ),
            (
                "dynamodb-system-errors",
                "DynamoDB answered requests with internal (5XX) errors.",
                table.metric_system_errors_for_operations,
            ),
        ):
            self.on_call.alarm(
                section,
                summary,
                metric(operations=list(TABLE_OPERATIONS), period=Duration.minutes(5)),
                threshold=0,
                evaluation_periods=2,
                datapoints=1,
            )

    def _build_kpi_alarm(self) -> None:
        # Missing data breaches: a metrics function that stopped publishing is itself the incident.
        self.on_call.alarm(
            "kpi-staleness",
            "Business KPIs are stale: the gold snapshot is over 3 hours old or nothing was published.",
            kpi_metric(self.config, KPI_AGE_METRIC),
            threshold=KPI_MAX_AGE_SECONDS,
            evaluation_periods=2,
            datapoints=2,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

    def _build_insights_alarms(self, etl: EtlResources) -> None:
        self.on_call.on_first(
            "insights-loader-errors",
            "The insights loader failed a load (a bad export, or the table refused the writes); "
            "users keep their previous insights.",
            etl.insights_loader.metric_errors(period=Duration.minutes(5), statistic="Sum"),
        )
        # Published only by a successful load: no load for two hours (gold stopped, or every load
        # failed) leaves the periods empty, and missing data breaches.
        self.on_call.alarm(
            "insights-lag",
            "Users' insights are stale: the newest load is over 2 hours old, or nothing was loaded.",
            insights_metric(self.config, INSIGHTS_LAG_METRIC, statistic="Minimum"),
            threshold=INSIGHTS_LAG_MAX_SECONDS,
            evaluation_periods=2,
            datapoints=2,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )
        self.on_call.on_first(
            "insights-loader-dlq-depth",
            "Gold-succeeded events were dead-lettered: a gold run's insights were never loaded.",
            dead_letters(etl.insights_dlq, Duration.minutes(5)),
        )

    def _build_glue_failure_rule(self, etl: EtlResources) -> None:
        self.glue_failure_rule = self.on_call.notify_on_event(
            "GlueJobFailedRule",
            "glue-job-failed",
            "A silver or gold Glue job run did not succeed.",
            events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={
                    "jobName": [job.ref for job in etl.glue_jobs.values()],
                    "state": list(GLUE_FAILED_STATES),
                },
            ),
            f"Glue job {events.EventField.from_path('$.detail.jobName')} run "
            f"{events.EventField.from_path('$.detail.jobRunId')} ended "
            f"{events.EventField.from_path('$.detail.state')}: "
            f"{events.EventField.from_path('$.detail.message')}",
        )
