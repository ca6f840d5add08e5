"""Etl stack: the lake's buckets, its inputs (CDC, access logs), Glue jobs, insights loader, Athena.

Composed of constructs (`todo_infra.constructs`): `CdcPipeline` (stream → cdc function →
Firehose → bronze), a `BronzeDeliveryStream` for the access logs, `LakeCatalog`, `GlueLakeJobs`
`InsightsLoader` and `AnalystWorkgroup`; the buckets are written here.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from aws_cdk import aws_logs_destinations as log_destinations
from aws_cdk import aws_s3 as s3
from constructs import Construct

from todo_contracts.lake_layout import (
    BRONZE_TABLES,
    INSIGHTS_RUN_FOLDER_PREFIX,
    LOGS_FOLDER,
    Layer,
)
from todo_etl.queries import NamedQuery, load_queries
from todo_infra import nag
from todo_infra.constructs.analyst_workgroup import AnalystWorkgroup
from todo_infra.constructs.bronze_delivery import BronzeDeliveryStream
from todo_infra.constructs.cdc_pipeline import CdcPipeline
from todo_infra.constructs.glue_lake_jobs import GlueLakeJobs
from todo_infra.constructs.insights_loader import InsightsLoader
from todo_infra.constructs.lake_catalog import LakeCatalog
from todo_infra.constructs.secure_bucket import secure_bucket
from todo_infra.constructs.trust import restrict_provider_roles
from todo_infra.observability import glue_database_name
from todo_infra.packaging import BuiltBundle, GlueArtifacts
from todo_infra.stage_config import StageConfig

# The erase step (ADR 0013) replaces a deleted account's bronze objects in place; S3 versioning
# keeps the replaced versions, which this lifecycle bound expires: erasure (daily, in the
# maintenance job) + this + S3's lifecycle lag (a day or two) stays well within GDPR's month.
BRONZE_NONCURRENT_VERSION_DAYS = 7
# Each gold run's export folder is read minutes after it is written; older ones are kept this long
# for inspection (the gold job also prunes them itself; this rule only bounds what it leaves).
INSIGHTS_EXPORT_EXPIRY_DAYS = 7
# Only access-log lines reach the lake (Powertools JSON with log_type "access"), not START/REPORT.
ACCESS_LOG_FILTER = '{ $.log_type = "access" }'


class EtlStack(Stack):
    """From the table's stream to queryable gold tables."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        table: dynamodb.ITable,
        api_log_group: logs.ILogGroup,
        cdc_bundle: BuiltBundle,
        insights_bundle: BuiltBundle,
        glue_artifacts: GlueArtifacts,
        named_queries: tuple[NamedQuery, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self._build_buckets()
        self.cdc_pipeline = CdcPipeline(
            self, "CdcPipeline", config=config, table=table, bronze=self.bronze, bundle=cdc_bundle
        )
        self._build_access_logs_to_lake(api_log_group)
        deliveries = (self.cdc_pipeline.delivery, self.logs_delivery)
        self.delivery_streams = {d.folder: d.stream for d in deliveries}
        self.delivery_roles = {d.folder: d.role for d in deliveries}
        # The Firehose L2 always adds a CIDR mapping for Redshift/Splunk destinations; we use S3.
        nag.acknowledge(
            self,
            "CloudFormation-Validate::W7001",
            "Unused Firehose CIDR mapping added by the L2 construct; only used by non-S3 destinations.",
        )
        self.cdc_stream = self.cdc_pipeline.stream
        self.cdc_function = self.cdc_pipeline.function
        self.cdc_dlq = self.cdc_pipeline.dlq
        self.database_name = glue_database_name(config)
        # Bronze as plain Glue tables; silver and gold are Iceberg tables the jobs create (ADR 0009).
        self.catalog = LakeCatalog(
            self,
            "Catalog",
            database_name=self.database_name,
            buckets={Layer.BRONZE: self.bronze, Layer.SILVER: self.silver, Layer.GOLD: self.gold},
            tables=BRONZE_TABLES,
        )
        self.lake_jobs = GlueLakeJobs(
            self,
            "GlueLakeJobs",
            config=config,
            bronze=self.bronze,
            silver=self.silver,
            gold=self.gold,
            database_name=self.database_name,
            artifacts=glue_artifacts,
        )
        self.glue_key = self.lake_jobs.key
        self.glue_roles = self.lake_jobs.roles
        self.glue_jobs = self.lake_jobs.jobs
        self.insights = InsightsLoader(
            self,
            "InsightsLoaderOnGoldSuccess",
            config=config,
            table=table,
            gold=self.gold,
            gold_job=self.glue_jobs["gold"],
            bundle=insights_bundle,
        )
        self.insights_loader_function = self.insights.function
        self.insights_dlq = self.insights.dlq
        self.gold_succeeded_rule = self.insights.gold_succeeded_rule
        self.analysts = AnalystWorkgroup(
            self,
            "AnalystWorkgroup",
            config=config,
            database_name=self.database_name,
            lake=(self.bronze, self.silver, self.gold),
            query_results=self.query_results,
            queries=tuple(load_queries()) if named_queries is None else named_queries,
        )
        self.workgroup = self.analysts.workgroup
        # dev's buckets are emptied on delete by CDK's provider function: bind its role too.
        restrict_provider_roles(self, ("Custom::S3AutoDeleteObjectsCustomResourceProvider",))
        for name, value in (
            ("BronzeBucket", self.bronze.bucket_name),
            ("SilverBucket", self.silver.bucket_name),
            ("GoldBucket", self.gold.bucket_name),
            ("AthenaWorkGroup", self.workgroup.ref),
            ("GlueDatabase", self.database_name),
        ):
            CfnOutput(self, name, value=value)

    # --- buckets ------------------------------------------------------------------------------

    def _build_buckets(self) -> None:
        config = self.config
        self.access_logs = secure_bucket(self, "AccessLogs", config=config, access_logs=None)
        self.access_logs.add_lifecycle_rule(id="expire-access-logs", expiration=Duration.days(365))
        self.bronze = secure_bucket(
            self,
            "Bronze",
            config=config,
            access_logs=self.access_logs,
            versioned=True,  # bronze is the system of record for rebuilds: keep every version
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="bronze-to-cheaper-storage",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(30),
                        ),
                        # Instant retrieval keeps old partitions queryable by Athena and Glue.
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(180),
                        ),
                    ],
                    # Old versions of rewritten (erased) objects go after a bound (ADR 0013); it is
                    # also how long an accidental overwrite of a bronze object can be undone.
                    noncurrent_version_expiration=Duration.days(BRONZE_NONCURRENT_VERSION_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
        )
        self.silver = secure_bucket(self, "Silver", config=config, access_logs=self.access_logs)
        self.gold = secure_bucket(
            self,
            "Gold",
            config=config,
            access_logs=self.access_logs,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-insights-exports",
                    prefix=INSIGHTS_RUN_FOLDER_PREFIX,
                    expiration=Duration.days(INSIGHTS_EXPORT_EXPIRY_DAYS),
                )
            ],
        )
        self.query_results = secure_bucket(
            self,
            "QueryResults",
            config=config,
            access_logs=self.access_logs,
            lifecycle_rules=[s3.LifecycleRule(id="expire-query-results", expiration=Duration.days(30))],
        )

    # --- delivery -----------------------------------------------------------------------------

    def _build_access_logs_to_lake(self, api_log_group: logs.ILogGroup) -> None:
        """The api's access-log lines, through the logs Firehose, into `bronze/logs/`."""
        # Subscription records arrive gzip-compressed and wrapped in CloudWatch Logs envelopes:
        # decompress, keep only the message text, one line per message.
        self.logs_delivery = BronzeDeliveryStream(
            self,
            "LogsDeliveryToBronze",
            config=self.config,
            bronze=self.bronze,
            folder=LOGS_FOLDER,
            stream_id="LogsDelivery",
            processors=[
                firehose.DecompressionProcessor(),
                firehose.CloudWatchLogProcessor(data_message_extraction=True),
                firehose.AppendDelimiterToRecordProcessor(),
            ],
        )
        self.logs_stream = self.logs_delivery.stream
        self.logs_subscription_role = iam.Role(
            self,
            "LogsSubscriptionRole",
            # CloudWatch Logs names the delivering log group's account and region in aws:SourceArn.
            assumed_by=iam.ServicePrincipal(
                "logs.amazonaws.com",
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": Stack.of(self).format_arn(
                            service="logs", resource="*", arn_format=ArnFormat.NO_RESOURCE_NAME
                        )
                    }
                },
            ),
            description="Lets CloudWatch Logs put the api's access-log lines into the logs Firehose",
        )
        logs.SubscriptionFilter(
            self,
            "ApiAccessLogSubscription",
            log_group=api_log_group,
            destination=log_destinations.FirehoseDestination(
                self.logs_stream, role=self.logs_subscription_role
            ),
            filter_pattern=logs.FilterPattern.literal(ACCESS_LOG_FILTER),
            filter_name=f"{self.config.prefix}-access-logs-to-lake",
        )
