"""The stage's overview dashboard: alarm states first, then one section per part of the system.

API health, Lambda performance, CDC and delivery, Glue jobs, DynamoDB, business metrics and the
insights served back, each a header and a row of graphs (the runbook points at these sections).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from todo_infra.constructs.stack_part import StackPart
from todo_infra.observability import (
    BUSINESS_METRICS,
    INSIGHTS_COUNT_METRICS,
    INSIGHTS_LAG_METRIC,
    KPI_AGE_METRIC,
    TABLE_OPERATIONS,
    dead_letters,
    insights_metric,
    kpi_metric,
    pipeline_anomalies_metric,
)
from todo_infra.stage_config import StageConfig

FIVE_MINUTES = Duration.minutes(5)


def _graph(title: str, metrics: Sequence[cloudwatch.IMetric], width: int = 8) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=width, height=6)


def _header(text: str) -> cloudwatch.TextWidget:
    return cloudwatch.TextWidget(markdown=f"## {text}", width=24, height=1)


class OverviewDashboard(StackPart):
    """Dashboard `<prefix>-overview`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        alarms: Sequence[cloudwatch.IAlarm],
        rest_api: apigw.RestApi,
        functions: Mapping[str, lambda_.IFunction],
        cdc_function: lambda_.IFunction,
        cdc_dlq: sqs.IQueue,
        delivery_streams: Mapping[str, firehose.IDeliveryStream],
        glue_jobs: Mapping[str, glue.CfnJob],
        table: dynamodb.ITable,
        insights_dlq: sqs.IQueue,
    ) -> None:
        """`functions`: every function by the label its lines get in the Lambda graphs."""
        super().__init__(scope, construct_id)
        five = FIVE_MINUTES
        alarm_status = cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=24, height=4)
        api_health = [
            _graph("Requests", [rest_api.metric_count(period=five, statistic="Sum")]),
            _graph(
                "Errors",
                [
                    rest_api.metric_client_error(period=five, statistic="Sum"),
                    rest_api.metric_server_error(period=five, statistic="Sum"),
                ],
            ),
            _graph(
                "Latency (p50, p99)",
                [
                    rest_api.metric_latency(period=five, statistic="p50"),
                    rest_api.metric_latency(period=five, statistic="p99"),
                ],
            ),
        ]
        lambda_performance = [
            _graph("Invocations", [f.metric_invocations(period=five, label=n) for n, f in functions.items()]),
            _graph("Errors", [f.metric_errors(period=five, label=n) for n, f in functions.items()]),
            _graph(
                "Duration p99",
                [f.metric_duration(period=five, statistic="p99", label=n) for n, f in functions.items()],
            ),
        ]
        cdc_and_delivery = [
            _graph(
                "cdc IteratorAge (max)",
                [cdc_function.metric("IteratorAge", period=Duration.minutes(1), statistic="Maximum")],
            ),
            _graph(
                "Dead letters",
                [dead_letters(cdc_dlq, five)],
            ),
            _graph(
                "Firehose freshness (s)",
                [
                    s.metric("DeliveryToS3.DataFreshness", period=five, statistic="Maximum", label=n)
                    for n, s in delivery_streams.items()
                ],
            ),
        ]
        glue_jobs_row = [
            _graph(
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
                    for name, job in glue_jobs.items()
                    for kind in ("numCompletedTasks", "numFailedTasks")
                ],
            ),
            _graph(
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
                    for name, job in glue_jobs.items()
                ],
            ),
            _graph(
                "Run anomalies (sum per hour)",
                [pipeline_anomalies_metric(name).with_(label=name) for name in glue_jobs],
            ),
        ]
        dynamodb_row = [
            _graph(
                "Consumed capacity",
                [
                    table.metric_consumed_read_capacity_units(period=five),
                    table.metric_consumed_write_capacity_units(period=five),
                ],
            ),
            _graph(
                "Throttled requests",
                [
                    table.metric_throttled_requests_for_operations(
                        operations=list(TABLE_OPERATIONS), period=five
                    )
                ],
            ),
            _graph(
                "System errors",
                [table.metric_system_errors_for_operations(operations=list(TABLE_OPERATIONS), period=five)],
            ),
        ]
        business = [
            cloudwatch.SingleValueWidget(
                title="Latest KPIs",
                metrics=[kpi_metric(config, name) for name in BUSINESS_METRICS],
                width=16,
                height=4,
            ),
            _graph("KPI snapshot age (s)", [kpi_metric(config, KPI_AGE_METRIC)]),
        ]
        insights = [
            _graph(
                "Insights lag (s, newest load)",
                [insights_metric(config, INSIGHTS_LAG_METRIC, statistic="Minimum")],
            ),
            _graph(
                "Users written / skipped / load errors (per hour)",
                [insights_metric(config, name).with_(label=name) for name in INSIGHTS_COUNT_METRICS],
            ),
            _graph(
                "Loader dead letters",
                [dead_letters(insights_dlq, five)],
            ),
        ]
        sections: list[tuple[str, list[cloudwatch.IWidget]]] = [
            ("API health", list(api_health)),
            ("Lambda performance", list(lambda_performance)),
            ("CDC and delivery", list(cdc_and_delivery)),
            ("Glue jobs", list(glue_jobs_row)),
            ("DynamoDB", list(dynamodb_row)),
            ("Business metrics", list(business)),
            ("Insights served back", list(insights)),
        ]
        self.sections = tuple(title for title, _ in sections)  # in order, each under a `## ` header
        rows: list[list[cloudwatch.IWidget]] = [[alarm_status]]
        for title, row in sections:
            rows += [[_header(title)], row]
        self.dashboard = cloudwatch.Dashboard(
            self.home,
            "Dashboard",
            dashboard_name=f"{config.prefix}-overview",
            default_interval=Duration.hours(6),
            widgets=rows,
        )
