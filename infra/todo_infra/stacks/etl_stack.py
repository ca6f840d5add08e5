"""Etl stack: lake buckets, the CDC function and its stream mapping, Firehose, Glue, Athena."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Duration, Size, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_logs_destinations as log_destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from todo_contracts.lake_layout import (
    BRONZE_TABLES,
    CDC_FOLDER,
    ERRORS_FOLDER,
    GOLD_TABLES,
    ICEBERG_TABLES,
    INSIGHTS_EXPORT_PREFIX,
    INSIGHTS_RUN_FOLDER_PREFIX,
    LOGS_FOLDER,
    PIPELINE_RUNS,
    SILVER_TABLES,
    Layer,
    firehose_error_prefix,
    firehose_prefix,
)
from todo_etl.cdc.dead_letter import DEAD_LETTER_PREFIX
from todo_etl.glue.catalog_settings import glue_catalog_settings, glue_conf_argument
from todo_etl.glue.maintenance_policy import MaintenancePolicy
from todo_etl.queries import NamedQuery, load_queries
from todo_infra import nag
from todo_infra.constructs.glue_job_role import LakeArea, glue_job_role, grant_catalog
from todo_infra.constructs.lake_catalog import LakeCatalog
from todo_infra.constructs.python_function import PythonFunction
from todo_infra.constructs.secure_bucket import secure_bucket
from todo_infra.constructs.trust import restrict_provider_roles
from todo_infra.observability import METRICS_NAMESPACE, glue_database_name, service_name
from todo_infra.packaging import BuiltBundle, GlueArtifacts
from todo_infra.stacks.api_stack import TABLE_KEY_ACTIONS
from todo_infra.stage_config import GlueWorkers, StageConfig

CDC_TIMEOUT = Duration.minutes(1)
# Stream mapping limits: records older than this go to the DLQ instead of blocking the shard.
CDC_MAX_RECORD_AGE = Duration.hours(6)
CDC_RETRY_ATTEMPTS = 5
FIREHOSE_BUFFER_INTERVAL = Duration.seconds(60)
FIREHOSE_BUFFER_SIZE = Size.mebibytes(16)
GLUE_VERSION = "5.1"
GLUE_TIMEOUT_MINUTES = 60
GLUE_JOB_NAMES = ("silver", "gold", "maintenance")
# The erase step (ADR 0013) replaces a deleted account's bronze objects in place; S3 versioning
# keeps the replaced versions, which this lifecycle bound expires: erasure (daily, in the
# maintenance job) + this + S3's lifecycle lag (a day or two) stays well within GDPR's month.
BRONZE_NONCURRENT_VERSION_DAYS = 7
# The two log groups Glue 5.x writes per job prefix: driver/executor/system logs, and stdout/stderr.
GLUE_LOG_STREAMS = ("error", "output")
# The insights loader (ADR 0014): a load of a few thousand users takes seconds; the bound is for
# a slow table. Its item actions are exactly those of its TransactWriteItems calls (IAM authorizes
# a transaction per item action): a ConditionCheck on the profile and a Put of the insights item.
INSIGHTS_LOADER_TIMEOUT = Duration.minutes(5)
INSIGHTS_LOADER_MEMORY_MB = 512
INSIGHTS_LOADER_ITEM_ACTIONS = ("dynamodb:ConditionCheckItem", "dynamodb:PutItem")
# A failed load is retried twice (EventBridge to Lambda, then Lambda's async retries), then
# dead-lettered; an event older than the next gold run is not worth loading any more.
INSIGHTS_EVENT_MAX_AGE = Duration.hours(1)
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
        self._build_firehoses(api_log_group)
        self._build_cdc(table, cdc_bundle)
        self.database_name = glue_database_name(config)
        # Bronze as plain Glue tables; silver and gold are Iceberg tables the jobs create (ADR 0009).
        self.catalog = LakeCatalog(
            self,
            "Catalog",
            database_name=self.database_name,
            buckets={Layer.BRONZE: self.bronze, Layer.SILVER: self.silver, Layer.GOLD: self.gold},
            tables=BRONZE_TABLES,
        )
        self._build_glue(glue_artifacts)
        self._build_insights_loader(table, insights_bundle)
        self._build_athena(tuple(load_queries()) if named_queries is None else named_queries)
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

    def _delivery_stream(
        self, construct_id: str, folder: str, processors: list[firehose.IDataProcessor]
    ) -> firehose.DeliveryStream:
        stack = Stack.of(self)
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            log_group_name=f"/aws/kinesisfirehose/{self.config.prefix}-{folder}",
            retention=self.config.log_retention,
            removal_policy=self.config.named_removal_policy,
        )
        # Write-only, to this stream's own prefixes. The L2 would grant the delivery role read,
        # list and delete on the whole bucket; it gets an immutable view of the role instead, so
        # its grants are dropped and only the statements below apply.
        role = iam.Role(
            self,
            f"{construct_id}Role",
            # Firehose passes the account as the external id when it assumes a delivery role.
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": stack.account}}
            ),
            description=f"Lets the {folder} Firehose write under bronze/{folder}/ and its error prefix only",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[
                    self.bronze.arn_for_objects(f"{folder}/*"),
                    self.bronze.arn_for_objects(f"{ERRORS_FOLDER}/{folder}/*"),
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                resources=[self.bronze.bucket_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        stream = firehose.DeliveryStream(
            self,
            construct_id,
            delivery_stream_name=f"{self.config.prefix}-{folder}",
            encryption=firehose.StreamEncryption.aws_owned_key(),
            destination=firehose.S3Bucket(
                self.bronze,
                data_output_prefix=firehose_prefix(folder),
                error_output_prefix=firehose_error_prefix(folder),
                compression=firehose.Compression.GZIP,
                buffering_interval=FIREHOSE_BUFFER_INTERVAL,
                buffering_size=FIREHOSE_BUFFER_SIZE,
                logging_config=firehose.EnableLogging(log_group),
                processors=processors or None,
                role=role.without_policy_updates(),
            ),
        )
        stream.node.add_dependency(role)  # its policy exists before the first delivery
        self.delivery_roles[folder] = role
        return stream

    def _build_firehoses(self, api_log_group: logs.ILogGroup) -> None:
        self.delivery_roles: dict[str, iam.Role] = {}
        self.cdc_stream = self._delivery_stream("CdcDelivery", CDC_FOLDER, [])
        # Subscription records arrive gzip-compressed and wrapped in CloudWatch Logs envelopes:
        # decompress, keep only the message text, one line per message.
        self.logs_stream = self._delivery_stream(
            "LogsDelivery",
            LOGS_FOLDER,
            [
                firehose.DecompressionProcessor(),
                firehose.CloudWatchLogProcessor(data_message_extraction=True),
                firehose.AppendDelimiterToRecordProcessor(),
            ],
        )
        self.delivery_streams = {CDC_FOLDER: self.cdc_stream, LOGS_FOLDER: self.logs_stream}
        # The Firehose L2 always adds a CIDR mapping for Redshift/Splunk destinations; we use S3.
        nag.acknowledge(
            self,
            "CloudFormation-Validate::W7001",
            "Unused Firehose CIDR mapping added by the L2 construct; only used by non-S3 destinations.",
        )
        for folder, role in self.delivery_roles.items():
            for prefix in (f"/{folder}/*", f"/{ERRORS_FOLDER}/{folder}/*"):
                nag.acknowledge(
                    role,
                    nag.wildcard(nag.resource_arn(self.bronze, prefix)),
                    "Firehose writes objects under time-based keys of its own bronze prefix (put only).",
                )
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

    # --- CDC ----------------------------------------------------------------------------------

    def _build_cdc(self, table: dynamodb.ITable, bundle: BuiltBundle) -> None:
        config = self.config
        self.cdc_dlq = sqs.Queue(
            self,
            "CdcDeadLetters",
            queue_name=f"{config.prefix}-cdc-dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=config.named_removal_policy,
        )
        nag.acknowledge(
            self.cdc_dlq,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the CDC stream mapping.",
        )
        self.cdc = PythonFunction(
            self,
            "CdcFunction",
            config=config,
            built=bundle,
            function_name=f"{config.prefix}-cdc",
            description="DynamoDB stream records to the cdc Firehose (bronze)",
            memory_mb=config.cdc_memory_mb,
            timeout=CDC_TIMEOUT,
            environment={
                "CDC_DELIVERY_STREAM": self.cdc_stream.delivery_stream_name,
                "CDC_DEAD_LETTER_BUCKET": self.bronze.bucket_name,
                "STAGE": config.name,
                "POWERTOOLS_SERVICE_NAME": service_name(config, "cdc"),
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        )
        self.cdc_function = self.cdc.function
        self.cdc_stream.grant_put_records(self.cdc_function)
        # Records over Firehose's 1,000 KiB limit are kept whole beside bronze, outside the cdc/
        # table folder, ready to be re-driven (the cdc function's own dead-letter path).
        self.cdc_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[self.bronze.arn_for_objects(f"{DEAD_LETTER_PREFIX}*")]
            )
        )
        nag.acknowledge(
            self.cdc_function,
            nag.wildcard(nag.resource_arn(self.bronze, f"/{DEAD_LETTER_PREFIX}*")),
            "PutObject only, under the bronze dead-letter prefix; keys are named by stream event id.",
        )
        self.cdc_function.add_event_source(
            event_sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=100,
                max_batching_window=Duration.seconds(1),
                bisect_batch_on_error=True,
                retry_attempts=CDC_RETRY_ATTEMPTS,
                max_record_age=CDC_MAX_RECORD_AGE,
                report_batch_item_failures=True,
                parallelization_factor=1,  # keep per-item order within a shard
                on_failure=event_sources.SqsDlq(self.cdc_dlq),
            )
        )

    # --- Glue -----------------------------------------------------------------------------------

    def _build_glue(self, artifacts: GlueArtifacts) -> None:
        config = self.config
        stack = Stack.of(self)
        self.glue_key = kms.Key(
            self,
            "GlueKey",
            alias=f"alias/{config.prefix}-glue",
            description="Encrypts Glue job logs and bookmarks",
            enable_key_rotation=True,
            removal_policy=config.removal_policy,
        )
        # Glue 5.x writes driver/executor logs to `<prefix>/error` and stdout/stderr to
        # `<prefix>/output` for the prefix given by `--custom-logGroup-prefix`; the groups are
        # created here, before any run, so they carry the stage's retention and the Glue key.
        self.glue_log_prefixes = {name: f"/aws-glue/jobs/{config.prefix}-{name}" for name in GLUE_JOB_NAMES}
        glue_log_group_names = [
            f"{prefix}/{stream}" for prefix in self.glue_log_prefixes.values() for stream in GLUE_LOG_STREAMS
        ]
        # Only these groups may use the key through CloudWatch Logs (by the log-group ARN that
        # CloudWatch Logs puts in the encryption context); names, not references, avoid a cycle.
        self.glue_key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                resources=["*"],
                conditions={
                    "ArnEquals": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            stack.format_arn(
                                service="logs",
                                resource="log-group",
                                resource_name=name,
                                arn_format=ArnFormat.COLON_RESOURCE_NAME,
                            )
                            for name in glue_log_group_names
                        ]
                    }
                },
            )
        )
        self.glue_log_groups: dict[str, dict[str, logs.LogGroup]] = {
            name: {
                stream: logs.LogGroup(
                    self,
                    f"{name.title()}Job{stream.title()}Logs",
                    log_group_name=f"{prefix}/{stream}",
                    retention=config.log_retention,
                    removal_policy=config.named_removal_policy,
                    encryption_key=self.glue_key,
                )
                for stream in GLUE_LOG_STREAMS
            }
            for name, prefix in self.glue_log_prefixes.items()
        }
        self.security_configuration = glue.CfnSecurityConfiguration(
            self,
            "GlueSecurity",
            name=f"{config.prefix}-glue",
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(s3_encryption_mode="SSE-S3")
                ],
                # The job log groups are encrypted by their own key association (above). Glue's
                # SSE-KMS mode would instead log to groups it names and creates itself at run
                # time, with no retention: exactly what the groups above exist to prevent.
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="DISABLED"
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=self.glue_key.key_arn
                ),
            ),
        )
        scripts = {
            name: s3_assets.Asset(self, f"{name.title()}Script", path=str(artifacts.script(name)))
            for name in GLUE_JOB_NAMES
        }
        library = s3_assets.Asset(self, "GlueLibrary", path=str(artifacts.library_zip))
        # Both data jobs append to (and read back) pipeline_runs, which lives in the gold bucket.
        pipeline_runs = LakeArea(self.gold, f"{PIPELINE_RUNS.folder}/")
        access = {
            "silver": {"reads": [LakeArea(self.bronze)], "writes": [LakeArea(self.silver), pipeline_runs]},
            "gold": {"reads": [LakeArea(self.silver)], "writes": [LakeArea(self.gold)]},
            # Compaction rewrites files, expiry and orphan removal delete them, in both layers: in
            # the gold bucket only under the Iceberg tables' folders (not the KPI export). The erase
            # step (run first by this job, ADR 0013) also replaces bronze objects in place, and the
            # insights export files (and their manifest) without a deleted account's lines.
            "maintenance": {
                "reads": [],
                "writes": [
                    LakeArea(self.bronze),
                    LakeArea(self.silver),
                    *(LakeArea(self.gold, f"{t.folder}/") for t in ICEBERG_TABLES if t.layer is Layer.GOLD),
                    LakeArea(self.gold, INSIGHTS_EXPORT_PREFIX),
                ],
            },
        }
        # The Iceberg tables each job reads, and creates and commits to, in the Glue Data Catalog.
        silver_tables = [t.name for t in (*SILVER_TABLES, PIPELINE_RUNS)]
        catalog_access = {
            "silver": {"reads": silver_tables, "writes": silver_tables},
            "gold": {"reads": [t.name for t in SILVER_TABLES], "writes": [t.name for t in GOLD_TABLES]},
            "maintenance": {"reads": [], "writes": [t.name for t in ICEBERG_TABLES]},
        }
        self.glue_roles = {
            name: glue_job_role(
                self,
                f"{name.title()}JobRole",
                job=name,
                reads=access[name]["reads"],
                writes=access[name]["writes"],
                assets=[scripts[name], library],
            )
            for name in GLUE_JOB_NAMES
        }
        for name, role in self.glue_roles.items():
            grant_catalog(role, database=self.database_name, **catalog_access[name])
            self._grant_job_runtime(role, name)
        workers = {
            "silver": config.silver_workers,
            "gold": config.gold_workers,
            "maintenance": config.maintenance_workers,
        }
        self.glue_jobs = {
            name: self._glue_job(name, scripts[name], library, workers[name]) for name in GLUE_JOB_NAMES
        }
        for name, role in self.glue_roles.items():
            self._acknowledge_glue_role(role, name)
        self.workflow = glue.CfnWorkflow(
            self,
            "LakeWorkflow",
            name=f"{config.prefix}-lake",
            description="Hourly: silver from bronze, then gold from silver when silver succeeds",
            max_concurrent_runs=1,
        )
        silver_schedule = glue.CfnTrigger(
            self,
            "SilverSchedule",
            name=f"{config.prefix}-silver-schedule",
            type="SCHEDULED",
            schedule=config.silver_schedule,
            start_on_creation=True,
            workflow_name=self.workflow.ref,
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.glue_jobs["silver"].ref)],
        )
        gold_after_silver = glue.CfnTrigger(
            self,
            "GoldAfterSilver",
            name=f"{config.prefix}-gold-after-silver",
            type="CONDITIONAL",
            start_on_creation=True,
            workflow_name=self.workflow.ref,
            predicate=glue.CfnTrigger.PredicateProperty(
                logical="ANY",
                conditions=[
                    glue.CfnTrigger.ConditionProperty(
                        job_name=self.glue_jobs["silver"].ref, state="SUCCEEDED", logical_operator="EQUALS"
                    )
                ],
            ),
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.glue_jobs["gold"].ref)],
        )
        # Maintenance runs on its own daily schedule, outside the hourly workflow; a commit that
        # meets a silver run's commit fails on Iceberg's conflict check and runs again next day.
        maintenance_schedule = glue.CfnTrigger(
            self,
            "MaintenanceSchedule",
            name=f"{config.prefix}-maintenance-schedule",
            type="SCHEDULED",
            schedule=config.maintenance_schedule,
            start_on_creation=True,
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.glue_jobs["maintenance"].ref)],
        )
        self.glue_triggers = (silver_schedule, gold_after_silver, maintenance_schedule)

    def _glue_job(
        self, name: str, script: s3_assets.Asset, library: s3_assets.Asset, workers: GlueWorkers
    ) -> glue.CfnJob:
        config = self.config
        job = glue.CfnJob(
            self,
            f"{name.title()}Job",
            name=f"{config.prefix}-{name}",
            description=f"{name} layer of the lake (PySpark, etl/glue_jobs/{name}_job.py)",
            role=self.glue_roles[name].role_arn,
            glue_version=GLUE_VERSION,
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=script.s3_object_url
            ),
            worker_type=workers.worker_type,
            number_of_workers=workers.count,
            timeout=GLUE_TIMEOUT_MINUTES,
            max_retries=0,  # the next hourly run retries; the jobs are idempotent
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=1),
            security_configuration=self.security_configuration.ref,
            default_arguments={
                "--job-language": "python",
                "--extra-py-files": library.s3_object_url,
                "--job-bookmark-option": "job-bookmark-disable",  # the jobs track their own progress
                "--enable-continuous-cloudwatch-log": "true",
                # Glue 5.x's log-group argument (`--continuous-log-logGroup` is Glue 4.0 and
                # earlier): logs go to `<prefix>/error` and `<prefix>/output`, created above.
                "--custom-logGroup-prefix": self.glue_log_prefixes[name],
                "--enable-metrics": "true",
                "--enable-observability-metrics": "true",
                # Glue 5.1's own Iceberg 1.10.0, and the catalog as static Spark settings.
                "--datalake-formats": "iceberg",
                "--conf": glue_conf_argument(glue_catalog_settings(f"s3://{self.silver.bucket_name}/")),
                "--bronze_uri": f"s3://{self.bronze.bucket_name}",
                "--silver_uri": f"s3://{self.silver.bucket_name}",
                "--gold_uri": f"s3://{self.gold.bucket_name}",
                "--database": self.database_name,
                **(_maintenance_arguments(config.lake_maintenance) if name == "maintenance" else {}),
            },
        )
        nag.acknowledge(
            job,
            "AwsSolutions-GL1",
            "Job logs are KMS-encrypted by their log groups' key association (the Glue key), created "
            "with retention; Glue's own SSE-KMS mode would log to run-time groups without retention.",
        )
        return job

    def _grant_job_runtime(self, role: iam.Role, name: str) -> None:
        """What any job run needs besides data: its own log groups, the Glue key, metrics."""
        stack = Stack.of(self)
        # Log streams (named per run) in this job's log groups only; the group ARN attribute ends
        # in `:*`, which covers the streams. CreateLogGroup on the exact group ARNs lets Glue's
        # create-if-missing call succeed as a no-op instead of being denied.
        for log_group in self.glue_log_groups[name].values():
            log_group.grant_write(role)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup"],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=log_group.log_group_name,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for log_group in self.glue_log_groups[name].values()
                ],
            )
        )
        self.glue_key.grant_encrypt_decrypt(role)  # bookmarks (CSE-KMS) and the job log groups
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": ["Glue", METRICS_NAMESPACE]}},
            )
        )

    def _acknowledge_glue_role(self, role: iam.Role, name: str) -> None:
        reasons = {
            "Action::kms:ReEncrypt*": "grant_encrypt_decrypt on the Glue key only.",
            "Action::kms:GenerateDataKey*": "grant_encrypt_decrypt on the Glue key only.",
            "Resource::*": "cloudwatch:PutMetricData has no resource-level permissions; limited by a "
            "namespace condition to Glue and the project namespace.",
        }
        reads = {"silver": [self.bronze], "gold": [self.silver], "maintenance": []}[name]
        writes = {
            "silver": [self.silver],
            "gold": [self.gold],
            "maintenance": [self.bronze, self.silver],
        }[name]
        for bucket in reads:
            reasons[nag.resource_arn(bucket, "/*")] = f"The {name} job reads every object of its input layer."
        for bucket in writes:
            reasons[nag.resource_arn(bucket, "/*")] = (
                f"The {name} job writes the data and metadata files of its layer's Iceberg tables "
                "(object keys are Iceberg's: per-file names under each table folder)."
                if bucket is not self.bronze
                else "The erase step rewrites the bronze objects (Firehose's keys, any arrival hour) "
                "that hold a deleted account's records (ADR 0013)."
            )
        if name == "maintenance":
            for table in (t for t in ICEBERG_TABLES if t.layer is Layer.GOLD):
                reasons[nag.resource_arn(self.gold, f"/{table.folder}/*")] = (
                    "The maintenance job rewrites and deletes the data and metadata files of this "
                    "Iceberg table (object keys are Iceberg's), nothing else in the gold bucket."
                )
            reasons[nag.resource_arn(self.gold, f"/{INSIGHTS_EXPORT_PREFIX}*")] = (
                "The erase step rewrites the insights export files (Spark's part-file names under "
                "each run folder) and their manifest without a deleted account's lines (ADR 0013)."
            )
        if name == "silver":
            reasons[nag.resource_arn(self.gold, f"/{PIPELINE_RUNS.folder}/*")] = (
                "The silver job appends its run record to pipeline_runs (gold bucket), nothing else there."
            )
        for finding, reason in reasons.items():
            nag.acknowledge(role, nag.wildcard(finding), reason)

    # --- insights loader ----------------------------------------------------------------------

    def _build_insights_loader(self, table: dynamodb.ITable, bundle: BuiltBundle) -> None:
        """The loader Lambda, started by EventBridge when a gold run succeeds (ADR 0014)."""
        config = self.config
        gold_job = self.glue_jobs["gold"]
        self.insights_dlq = sqs.Queue(
            self,
            "InsightsLoaderDeadLetters",
            queue_name=f"{config.prefix}-insights-loader-dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=config.named_removal_policy,
        )
        nag.acknowledge(
            self.insights_dlq,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the insights loader's events.",
        )
        self.insights_loader = PythonFunction(
            self,
            "InsightsLoader",
            config=config,
            built=bundle,
            function_name=f"{config.prefix}-insights-loader",
            description="After each gold run: each user's insights from the gold export into the table",
            memory_mb=INSIGHTS_LOADER_MEMORY_MB,
            timeout=INSIGHTS_LOADER_TIMEOUT,
            environment={
                "GOLD_URI": f"s3://{self.gold.bucket_name}",
                "TABLE_NAME": table.table_name,
                "GOLD_JOB_NAME": gold_job.ref,
                "STAGE": config.name,
                "POWERTOOLS_SERVICE_NAME": service_name(config, "insights-loader"),
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        )
        function = self.insights_loader_function = self.insights_loader.function
        # Reads the export only: the manifest and the run folders, nothing else of gold.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[self.gold.arn_for_objects(f"{INSIGHTS_EXPORT_PREFIX}*")]
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.gold.bucket_arn],
                conditions={"StringLike": {"s3:prefix": f"{INSIGHTS_EXPORT_PREFIX}*"}},
            )
        )
        nag.acknowledge(
            function,
            nag.wildcard(nag.resource_arn(self.gold, f"/{INSIGHTS_EXPORT_PREFIX}*")),
            "GetObject only, under the insights export prefix (the manifest and each run's part files).",
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=list(INSIGHTS_LOADER_ITEM_ACTIONS), resources=[table.table_arn])
        )
        key = table.encryption_key
        if key is None:
            raise ValueError("the table is expected to have its customer-managed key")
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(TABLE_KEY_ACTIONS),
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"dynamodb.{Stack.of(self).region}.amazonaws.com"}
                },
            )
        )
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            nag.acknowledge(
                function,
                nag.wildcard(f"Action::{action}"),
                "The table's customer-managed key as DynamoDB uses it (kms:ViaService); that key only.",
            )
        # Function errors: Lambda's asynchronous retries, then the dead-letter queue.
        function.configure_async_invoke(
            retry_attempts=2,
            max_event_age=INSIGHTS_EVENT_MAX_AGE,
            on_failure=destinations.SqsDestination(self.insights_dlq),
        )
        self.gold_succeeded_rule = events.Rule(
            self,
            "GoldSucceededRule",
            rule_name=f"{config.prefix}-gold-succeeded-load-insights",
            description="A gold run succeeded: load its insights export into the table",
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={"jobName": [gold_job.ref], "state": ["SUCCEEDED"]},
            ),
        )
        # Delivery failures (EventBridge could not invoke the function): retried, then dead-lettered.
        self.gold_succeeded_rule.add_target(
            targets.LambdaFunction(
                function,
                dead_letter_queue=self.insights_dlq,
                retry_attempts=2,
                max_event_age=INSIGHTS_EVENT_MAX_AGE,
            )
        )

    # --- Athena -------------------------------------------------------------------------------

    def _build_athena(self, queries: tuple[NamedQuery, ...]) -> None:
        config = self.config
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=f"{config.prefix}-analysts",
            description="Analysts' workgroup: engine v3, enforced settings, encrypted results",
            state="ENABLED",
            recursive_delete_option=not config.retain_data,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=config.athena_bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.query_results.bucket_name}/athena/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )
        self._build_analyst_policies()
        self.named_queries: dict[str, athena.CfnNamedQuery] = {}
        for query in queries:
            named = athena.CfnNamedQuery(
                self,
                f"Query-{query.name}",
                name=query.name,
                description=query.description,
                database=self.database_name,
                query_string=query.sql,
                work_group=self.workgroup.ref,
            )
            named.add_resource_dependency(self.workgroup)
            self.named_queries[query.name] = named

    def _build_analyst_policies(self) -> None:
        """Managed policies for the people who use the workgroup (attach them to their roles):
        querying every lake table, and on top of it Iceberg DML, OPTIMIZE and VACUUM on silver
        and gold (Athena commits those itself: UpdateTable, new and deleted objects)."""
        stack = Stack.of(self)
        database = self.database_name

        def glue_arn(resource: str, name: str | None = None) -> str:
            return stack.format_arn(service="glue", resource=resource, resource_name=name)

        workgroup_arn = stack.format_arn(
            service="athena", resource="workgroup", resource_name=self.workgroup.ref
        )
        lake = (self.bronze, self.silver, self.gold)
        query = [
            iam.PolicyStatement(
                actions=[
                    "athena:StartQueryExecution",
                    "athena:StopQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:GetWorkGroup",
                    "athena:ListNamedQueries",
                    "athena:GetNamedQuery",
                    "athena:BatchGetNamedQuery",
                ],
                resources=[workgroup_arn],
            ),
            iam.PolicyStatement(
                actions=["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions"],
                resources=[
                    glue_arn("catalog"),
                    glue_arn("database", database),
                    glue_arn("table", f"{database}/*"),
                ],
            ),
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[b.arn_for_objects("*") for b in lake]),
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[b.bucket_arn for b in (*lake, self.query_results)],
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[self.query_results.arn_for_objects("athena/*")],
            ),
        ]
        self.analyst_query_policy = iam.ManagedPolicy(
            self,
            "AnalystQueryPolicy",
            managed_policy_name=f"{self.config.prefix}-analyst-query",
            description="Run Athena queries in the analysts' workgroup on every lake table (read only)",
            statements=query,
        )
        iceberg = [t.name for t in ICEBERG_TABLES]
        self.lake_maintainer_policy = iam.ManagedPolicy(
            self,
            "LakeMaintainerPolicy",
            managed_policy_name=f"{self.config.prefix}-lake-maintainer",
            description="Athena DML, OPTIMIZE and VACUUM on the silver and gold Iceberg tables",
            statements=[
                *query,
                iam.PolicyStatement(
                    actions=["glue:UpdateTable"],
                    resources=[
                        glue_arn("catalog"),
                        glue_arn("database", database),
                        *(glue_arn("table", f"{database}/{name}") for name in iceberg),
                    ],
                ),
                iam.PolicyStatement(
                    actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                    resources=[b.arn_for_objects("*") for b in (self.silver, self.gold)],
                ),
            ],
        )
        reasons = {
            nag.resource_arn(self.bronze, "/*"): "Analysts read any bronze object (the raw CDC and logs).",
            nag.resource_arn(self.silver, "/*"): "Silver objects: Iceberg data and metadata files.",
            nag.resource_arn(self.gold, "/*"): "Gold objects: Iceberg data and metadata files.",
            nag.resource_arn(self.query_results, "/athena/*"): "Athena writes each query's results here.",
        }
        for policy in (self.analyst_query_policy, self.lake_maintainer_policy):
            nag.acknowledge(
                policy,
                nag.wildcard(
                    f"Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/{database}/*"
                ),
                "Every table of the stage's lake database (bronze, silver and gold; the jobs add tables).",
            )
            for finding, reason in reasons.items():
                nag.acknowledge(policy, nag.wildcard(finding), reason)
        CfnOutput(self, "AnalystQueryPolicyArn", value=self.analyst_query_policy.managed_policy_arn)
        CfnOutput(self, "LakeMaintainerPolicyArn", value=self.lake_maintainer_policy.managed_policy_arn)


def _maintenance_arguments(policy: MaintenancePolicy) -> dict[str, str]:
    """The stage's retention as the maintenance job's arguments (todo_etl.glue.entry reads them)."""
    return {
        "--snapshot_retention_hours": str(policy.snapshot_retention_hours),
        "--retain_last_snapshots": str(policy.retain_last_snapshots),
        "--orphan_min_age_hours": str(policy.orphan_min_age_hours),
    }
