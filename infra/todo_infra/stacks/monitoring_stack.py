"""Monitoring stack: SNS topic, alarms (each naming its runbook section), dashboard, metrics function."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsii
from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces import aws_events as events_refs
from constructs import Construct

from todo_contracts.lake_layout import KPI_EXPORT_KEY
from todo_infra.constructs.python_function import PythonFunction
from todo_infra.observability import (
    BUSINESS_METRICS,
    ERASURE_JOB,
    KPI_AGE_METRIC,
    METRICS_NAMESPACE,
    PIPELINE_ANOMALIES_METRIC,
    PIPELINE_DURATION_METRIC,
    PIPELINE_JOB_DIMENSION,
    RUNBOOK_PATH,
    runbook_description,
    service_name,
)
from todo_infra.packaging import BuiltBundle
from todo_infra.stage_config import StageConfig

_TABLE_OPERATIONS = (
    dynamodb.Operation.GET_ITEM,
    dynamodb.Operation.PUT_ITEM,
    dynamodb.Operation.UPDATE_ITEM,
    dynamodb.Operation.DELETE_ITEM,
    dynamodb.Operation.QUERY,
    dynamodb.Operation.BATCH_WRITE_ITEM,
    dynamodb.Operation.TRANSACT_WRITE_ITEMS,
)
GLUE_FAILED_STATES = ("FAILED", "TIMEOUT", "ERROR")
KPI_MAX_AGE_SECONDS = 3 * 3600  # gold runs hourly; three missed runs is an incident
ITERATOR_AGE_MAX_MS = 5 * 60 * 1000
FIREHOSE_FRESHNESS_MAX_SECONDS = 15 * 60
API_P99_MAX_MS = 3000
PIPELINE_ANOMALIES_SECTION = "pipeline-run-anomalies"
# The insights loader (ADR 0014) runs after each gold run: gold runs hourly (silver_schedule, then
# gold when silver succeeds), so served insights older than two periods mean missed runs.
INSIGHTS_LAG_MAX_SECONDS = 2 * 3600
INSIGHTS_LAG_METRIC = "InsightsLagSeconds"
INSIGHTS_COUNT_METRICS = (
    "InsightsWritten",
    "InsightsSkippedStale",
    "InsightsSkippedDeleted",
    "InsightsLoadErrors",
)


@jsii.implements(events.IRuleTarget)
class _AlarmTopicTarget:
    """An EventBridge target that publishes to the alarm topic and grants nothing by itself: the
    topic and key policies for EventBridge are written with the topic (see `_build_topic`)."""

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput) -> None:
        self._topic = topic
        self._message = message

    def bind(self, rule: events_refs.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._topic.topic_arn, input=self._message)


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
        self.alarms: dict[str, cloudwatch.AlarmBase] = {}
        self._build_topic()
        self._build_metrics_function(etl.gold_bucket, metrics_bundle)
        self._build_api_alarms(api)
        self._build_pipeline_alarms(etl)
        self._build_pipeline_run_alarms(etl)
        self._build_table_alarms(table)
        self._build_kpi_alarm()
        self._build_insights_alarms(etl)
        self._build_glue_failure_rule(etl)
        self._build_dashboard(table, api, etl)

    # --- topic --------------------------------------------------------------------------------

    def _build_topic(self) -> None:
        config = self.config
        stack = Stack.of(self)
        # A customer-managed key: CloudWatch alarms and EventBridge cannot publish to a topic
        # encrypted with the AWS-managed SNS key, because its policy cannot be extended.
        self.topic_key = kms.Key(
            self,
            "AlarmTopicKey",
            alias=f"alias/{config.prefix}-alarms",
            description="Encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=config.removal_policy,
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=f"{config.prefix}-alarms",  # the key policy names it (below)
            display_name=f"Todo Insights {config.name} alarms",
            master_key=self.topic_key,
            enforce_ssl=True,
        )
        # The topic policy CDK writes (TLS deny, EventBridge allow) replaces SNS's default policy,
        # so CloudWatch needs its own Allow, or no alarm would ever notify. Scoped to this stage's
        # alarms in this account (confused-deputy guard: CloudWatch sends both keys).
        alarms_of_this_stage = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{config.prefix}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        cloudwatch_source = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": alarms_of_this_stage},
        }
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisStage",
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=[self.topic.topic_arn],
                conditions=cloudwatch_source,
            )
        )
        # SNS encrypts each message under the topic key on the publisher's behalf, with the topic
        # ARN as encryption context: only this topic's messages may use the key. The ARN is built
        # from the name: a reference to the topic would make the key depend on it, a cycle.
        topic_arn = stack.format_arn(service="sns", resource=f"{config.prefix}-alarms")
        this_topic = {"kms:EncryptionContext:aws:sns:topicArn": topic_arn}
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsEncryptForTheTopic",
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],
                conditions={
                    **cloudwatch_source,
                    "StringEquals": {**cloudwatch_source["StringEquals"], **this_topic},
                },
            )
        )
        # EventBridge sends no aws:SourceArn/aws:SourceAccount on this path: AWS documents that
        # Condition blocks in the topic policy, and source keys in the key policy, drop every event.
        # So its topic statement is unconditioned (scoped by the topic ARN) and its key statement is
        # scoped by the topic's encryption context only. (Written here, not by targets.SnsTopic,
        # which would add an unconditioned key statement of its own.)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeRules",
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                resources=[self.topic.topic_arn],
            )
        )
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeRulesEncryptForTheTopic",
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                resources=["*"],
                conditions={"StringEquals": this_topic},
            )
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(config.require_alarm_email()))
        self._notify = cloudwatch_actions.SnsAction(self.topic)

    def _alarm(
        self,
        section: str,
        summary: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods: int = 3,
        datapoints: int = 2,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
        runbook: str | None = None,
    ) -> cloudwatch.Alarm:
        """One alarm named `<prefix>-<section>`, linking runbook section `runbook` (default: `section`)."""
        alarm = cloudwatch.Alarm(
            self,
            "".join(part.title() for part in section.split("-")) + "Alarm",
            alarm_name=f"{self.config.prefix}-{section}",
            alarm_description=runbook_description(runbook or section, summary),
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self._notify)
        alarm.add_ok_action(self._notify)
        self.alarms[section] = alarm
        return alarm

    # --- metrics function ---------------------------------------------------------------------

    def _build_metrics_function(self, gold_bucket: s3.IBucket, bundle: BuiltBundle) -> None:
        config = self.config
        self.metrics = PythonFunction(
            self,
            "MetricsFunction",
            config=config,
            built=bundle,
            function_name=f"{config.prefix}-metrics",
            description="Publishes business KPIs from the gold snapshot (never scans the table)",
            memory_mb=config.metrics_memory_mb,
            timeout=Duration.seconds(30),
            environment={
                "GOLD_BUCKET": gold_bucket.bucket_name,
                "KPI_EXPORT_KEY": KPI_EXPORT_KEY,
                "STAGE": config.name,
                "POWERTOOLS_SERVICE_NAME": service_name(config, "metrics"),
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
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
        self._alarm(
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
        self._alarm(
            "api-lambda-duration-p99",
            f"The api function's p99 duration exceeded {API_P99_MAX_MS} ms.",
            api.function.metric_duration(period=five, statistic="p99"),
            threshold=API_P99_MAX_MS,
        )
        self._alarm(
            "api-lambda-throttles",
            "The api function was throttled (concurrency limit reached).",
            api.function.metric_throttles(period=minute, statistic="Sum"),
            threshold=0,
        )
        # The 5XX-rate and function-error alarms live in the Api stack (the deployment group rolls
        # back on them); one composite alarm here routes them to the topic without a stack cycle.
        self.api_rollback_composite = cloudwatch.CompositeAlarm(
            self,
            "ApiDeploymentHealthAlarm",
            composite_alarm_name=f"{self.config.prefix}-api-errors",
            alarm_description=runbook_description(
                "api-errors",
                "API 5XX rate or api function errors (also the canary's rollback alarms); "
                "see api-5xx-rate and api-lambda-errors.",
            ),
            alarm_rule=cloudwatch.AlarmRule.any_of(
                *(
                    cloudwatch.AlarmRule.from_alarm(a, cloudwatch.AlarmState.ALARM)
                    for a in api.rollback_alarms
                )
            ),
        )
        self.api_rollback_composite.add_alarm_action(self._notify)
        self.api_rollback_composite.add_ok_action(self._notify)
        self.alarms["api-errors"] = self.api_rollback_composite

    def _build_pipeline_alarms(self, etl: EtlResources) -> None:
        five = Duration.minutes(5)
        self._alarm(
            "cdc-lambda-errors",
            "The cdc function failed batches (records are retried, then dead-lettered).",
            etl.cdc_function.metric_errors(period=five, statistic="Sum"),
            threshold=0,
            evaluation_periods=1,
            datapoints=1,
        )
        self._alarm(
            "cdc-iterator-age",
            "The cdc function is more than 5 minutes behind the table's stream.",
            etl.cdc_function.metric("IteratorAge", period=Duration.minutes(1), statistic="Maximum"),
            threshold=ITERATOR_AGE_MAX_MS,
            evaluation_periods=5,
            datapoints=3,
        )
        self._alarm(
            "cdc-dlq-depth",
            "Stream records were dead-lettered: the lake is missing changes until they are replayed.",
            etl.cdc_dlq.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=0,
            evaluation_periods=1,
            datapoints=1,
        )
        for folder, stream in etl.delivery_streams.items():
            self._alarm(
                f"firehose-{folder}-delivery-failures",
                f"The {folder} Firehose failed to deliver to S3 (records go to the errors/ prefix).",
                stream.metric("DeliveryToS3.Success", period=five, statistic="Minimum"),
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=2,
                datapoints=2,
            )
            self._alarm(
                f"firehose-{folder}-freshness",
                f"The oldest record in the {folder} Firehose is more than 15 minutes old.",
                stream.metric("DeliveryToS3.DataFreshness", period=five, statistic="Maximum"),
                threshold=FIREHOSE_FRESHNESS_MAX_SECONDS,
                evaluation_periods=3,
                datapoints=2,
            )

    def _pipeline_anomalies_metric(self, job: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=PIPELINE_ANOMALIES_METRIC,
            dimensions_map={PIPELINE_JOB_DIMENSION: job},
            period=Duration.hours(1),
            statistic="Sum",
        )

    def _build_pipeline_run_alarms(self, etl: EtlResources) -> None:
        # Each run publishes its anomaly count (0 when clean). An hour without a run is not an
        # anomaly: missing data does not breach (a failed or missing run has its own signals,
        # glue-job-failed and kpi-staleness).
        for job in etl.glue_jobs:
            self._alarm(
                f"pipeline-{job}-anomalies",
                f"A {job} run found anomalies against its previous run (row_drop or "
                "quarantine_spike; see pipeline_runs).",
                self._pipeline_anomalies_metric(job),
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                datapoints=1,
                runbook=PIPELINE_ANOMALIES_SECTION,
            )

        # Erasure is a legal deadline (one month at most): the daily maintenance job runs the erase
        # step first and publishes its duration only when the step finished. Two days without it
        # (disabled schedule, a job failing every day) is breaching, so missing data breaches.
        self._alarm(
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
        five = Duration.minutes(5)
        self._alarm(
            "dynamodb-throttles",
            "Requests to the table were throttled.",
            table.metric_throttled_requests_for_operations(operations=list(_TABLE_OPERATIONS), period=five),
            threshold=0,
            evaluation_periods=2,
            datapoints=1,
        )
        self._alarm(
            "dynamodb-system-errors",
            "DynamoDB answered requests with internal (5XX) errors.",
            table.metric_system_errors_for_operations(operations=list(_TABLE_OPERATIONS), period=five),
            threshold=0,
            evaluation_periods=2,
            datapoints=1,
        )

    def _kpi_metric(self, name: str, statistic: str = "Maximum") -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": service_name(self.config, "metrics")},
            period=Duration.minutes(self.config.metrics_schedule_minutes),
            statistic=statistic,
        )

    def _build_kpi_alarm(self) -> None:
        # Missing data breaches: a metrics function that stopped publishing is itself the incident.
        self._alarm(
            "kpi-staleness",
            "Business KPIs are stale: the gold snapshot is over 3 hours old or nothing was published.",
            self._kpi_metric(KPI_AGE_METRIC),
            threshold=KPI_MAX_AGE_SECONDS,
            evaluation_periods=2,
            datapoints=2,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

    def _insights_metric(self, name: str, statistic: str = "Sum") -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": service_name(self.config, "insights-loader")},
            period=Duration.hours(1),
            statistic=statistic,
        )

    def _build_insights_alarms(self, etl: EtlResources) -> None:
        self._alarm(
            "insights-loader-errors",
            "The insights loader failed a load (a bad export, or the table refused the writes); "
            "users keep their previous insights.",
            etl.insights_loader.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            threshold=0,
            evaluation_periods=1,
            datapoints=1,
        )
        # Published only by a successful load: no load for two hours (gold stopped, or every load
        # failed) leaves the periods empty, and missing data breaches.
        self._alarm(
            "insights-lag",
            "Users' insights are stale: the newest load is over 2 hours old, or nothing was loaded.",
            self._insights_metric(INSIGHTS_LAG_METRIC, statistic="Minimum"),
            threshold=INSIGHTS_LAG_MAX_SECONDS,
            evaluation_periods=2,
            datapoints=2,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )
        self._alarm(
            "insights-loader-dlq-depth",
            "Gold-succeeded events were dead-lettered: a gold run's insights were never loaded.",
            etl.insights_dlq.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=0,
            evaluation_periods=1,
            datapoints=1,
        )

    def _build_glue_failure_rule(self, etl: EtlResources) -> None:
        section = "glue-job-failed"
        self.glue_failure_rule = events.Rule(
            self,
            "GlueJobFailedRule",
            rule_name=f"{self.config.prefix}-glue-job-failed",
            description=runbook_description(section, "A silver or gold Glue job run did not succeed."),
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={
                    "jobName": [job.ref for job in etl.glue_jobs.values()],
                    "state": list(GLUE_FAILED_STATES),
                },
            ),
        )
        message = events.RuleTargetInput.from_text(
            f"Glue job {events.EventField.from_path('$.detail.jobName')} run "
            f"{events.EventField.from_path('$.detail.jobRunId')} ended "
            f"{events.EventField.from_path('$.detail.state')}: "
            f"{events.EventField.from_path('$.detail.message')} "
            f"Runbook: {RUNBOOK_PATH}#{section}"
        )
        self.glue_failure_rule.add_target(_AlarmTopicTarget(self.topic, message))

    # --- dashboard ----------------------------------------------------------------------------

    def _build_dashboard(self, table: dynamodb.ITable, api: ApiResources, etl: EtlResources) -> None:
        five = Duration.minutes(5)

        def graph(
            title: str, metrics: Sequence[cloudwatch.IMetric], width: int = 8
        ) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(metrics), width=width, height=6)

        def header(text: str) -> cloudwatch.TextWidget:
            return cloudwatch.TextWidget(markdown=f"## {text}", width=24, height=1)

        alarm_status = cloudwatch.AlarmStatusWidget(
            title="Alarms", alarms=list(self.alarms.values()), width=24, height=4
        )
        functions = {
            "api": api.function,
            "cdc": etl.cdc_function,
            "metrics": self.metrics_function,
            "insights-loader": etl.insights_loader,
        }
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{self.config.prefix}-overview",
            default_interval=Duration.hours(6),
            widgets=[
                [alarm_status],
                [header("API health")],
                [
                    graph("Requests", [api.rest_api.metric_count(period=five, statistic="Sum")]),
                    graph(
                        "Errors",
                        [
                            api.rest_api.metric_client_error(period=five, statistic="Sum"),
                            api.rest_api.metric_server_error(period=five, statistic="Sum"),
                        ],
                    ),
                    graph(
                        "Latency (p50, p99)",
                        [
                            api.rest_api.metric_latency(period=five, statistic="p50"),
                            api.rest_api.metric_latency(period=five, statistic="p99"),
                        ],
                    ),
                ],
                [header("Lambda performance")],
                [
                    graph(
                        "Invocations",
                        [f.metric_invocations(period=five, label=n) for n, f in functions.items()],
                    ),
                    graph("Errors", [f.metric_errors(period=five, label=n) for n, f in functions.items()]),
                    graph(
                        "Duration p99",
                        [
                            f.metric_duration(period=five, statistic="p99", label=n)
                            for n, f in functions.items()
                        ],
                    ),
                ],
                [header("CDC and delivery")],
                [
                    graph(
                        "cdc IteratorAge (max)",
                        [
                            etl.cdc_function.metric(
                                "IteratorAge", period=Duration.minutes(1), statistic="Maximum"
                            )
                        ],
                    ),
                    graph(
                        "Dead letters",
                        [
                            etl.cdc_dlq.metric_approximate_number_of_messages_visible(
                                period=five, statistic="Maximum"
                            )
                        ],
                    ),
                    graph(
                        "Firehose freshness (s)",
                        [
                            s.metric("DeliveryToS3.DataFreshness", period=five, statistic="Maximum", label=n)
                            for n, s in etl.delivery_streams.items()
                        ],
                    ),
                ],
                [header("Glue jobs")],
                [
                    graph(
                        "Completed / failed tasks",
                        [
                            cloudwatch.Metric(
                                namespace="Glue",
                                metric_name=f"glue.driver.aggregate.{kind}",
                                dimensions_map={"JobName": job.ref, "JobRunId": "ALL", "Type": "count"},
                                period=Duration.hours(1),
                                statistic="Sum",
                                label=f"{name} {kind.removeprefix('num')}",
                            )
                            for name, job in etl.glue_jobs.items()
                            for kind in ("numCompletedTasks", "numFailedTasks")
                        ],
                        width=8,
                    ),
                    graph(
                        "Elapsed time (ms)",
                        [
                            cloudwatch.Metric(
                                namespace="Glue",
                                metric_name="glue.driver.aggregate.elapsedTime",
                                dimensions_map={"JobName": job.ref, "JobRunId": "ALL", "Type": "count"},
                                period=Duration.hours(1),
                                statistic="Maximum",
                                label=name,
                            )
                            for name, job in etl.glue_jobs.items()
                        ],
                        width=8,
                    ),
                    graph(
                        "Run anomalies (sum per hour)",
                        [self._pipeline_anomalies_metric(name).with_(label=name) for name in etl.glue_jobs],
                    ),
                ],
                [header("DynamoDB")],
                [
                    graph(
                        "Consumed capacity",
                        [
                            table.metric_consumed_read_capacity_units(period=five),
                            table.metric_consumed_write_capacity_units(period=five),
                        ],
                    ),
                    graph(
                        "Throttled requests",
                        [
                            table.metric_throttled_requests_for_operations(
                                operations=list(_TABLE_OPERATIONS), period=five
                            )
                        ],
                    ),
                    graph(
                        "System errors",
                        [
                            table.metric_system_errors_for_operations(
                                operations=list(_TABLE_OPERATIONS), period=five
                            )
                        ],
                    ),
                ],
                [header("Business metrics")],
                [
                    cloudwatch.SingleValueWidget(
                        title="Latest KPIs",
                        metrics=[self._kpi_metric(name) for name in BUSINESS_METRICS],
                        width=16,
                        height=4,
                    ),
                    graph("KPI snapshot age (s)", [self._kpi_metric(KPI_AGE_METRIC)]),
                ],
                [header("Insights served back")],
                [
                    graph(
                        "Insights lag (s, newest load)",
                        [self._insights_metric(INSIGHTS_LAG_METRIC, statistic="Minimum")],
                    ),
                    graph(
                        "Users written / skipped / load errors (per hour)",
                        [self._insights_metric(name).with_(label=name) for name in INSIGHTS_COUNT_METRICS],
                    ),
                    graph(
                        "Loader dead letters",
                        [
                            etl.insights_dlq.metric_approximate_number_of_messages_visible(
                                period=five, statistic="Maximum"
                            )
                        ],
                    ),
                ],
            ],
        )
        self.dashboard_body_sections = (
            "API health",
            "Lambda performance",
            "CDC and delivery",
            "Glue jobs",
            "DynamoDB",
            "Business metrics",
            "Insights served back",
        )
