"""The lake's Glue jobs: silver, gold and maintenance, their roles, arguments, logs and schedules.

Silver (bronze → silver) runs hourly in a Glue workflow and gold (silver → gold) follows when
silver succeeds; maintenance (erasure first, ADR 0013, then compaction and expiry) runs daily on
its own. Each job has its own role (`glue_job_role`: exactly what it reads and writes), its own
KMS-encrypted log groups created with the stage's retention, and the arguments that
`todo_etl.glue.entry` reads.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from todo_contracts.lake_layout import (
    GLUE_JOB_LAYERS,
    GOLD_TABLES,
    ICEBERG_TABLES,
    INSIGHTS_EXPORT_PREFIX,
    PIPELINE_RUNS,
    SILVER_TABLES,
    Layer,
    layer_argument,
)
from todo_etl.glue.catalog_settings import glue_catalog_settings, glue_conf_argument
from todo_etl.glue.maintenance_policy import MaintenancePolicy
from todo_infra import nag
from todo_infra.constructs.glue_job_role import LakeArea, glue_job_role, grant_catalog
from todo_infra.constructs.stack_part import StackPart
from todo_infra.constructs.stage_defaults import stage_key, stage_log_group
from todo_infra.observability import METRICS_NAMESPACE
from todo_infra.packaging import GlueArtifacts
from todo_infra.stage_config import GlueWorkers, StageConfig

GLUE_VERSION = "5.1"
GLUE_TIMEOUT_MINUTES = 60
GLUE_JOB_NAMES = tuple(GLUE_JOB_LAYERS)  # silver, gold, maintenance
# The two log groups Glue 5.x writes per job prefix: driver/executor/system logs, and stdout/stderr.
GLUE_LOG_STREAMS = ("error", "output")


class GlueLakeJobs(StackPart):
    """The three jobs with their key, log groups, security configuration, roles and triggers."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        bronze: s3.IBucket,
        silver: s3.IBucket,
        gold: s3.IBucket,
        database_name: str,
        artifacts: GlueArtifacts,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.bronze, self.silver, self.gold = bronze, silver, gold
        self.buckets = {Layer.BRONZE: bronze, Layer.SILVER: silver, Layer.GOLD: gold}
        self.database_name = database_name
        self._build_key_and_logs()
        scripts = {
            name: s3_assets.Asset(self.home, f"{name.title()}Script", path=str(artifacts.script(name)))
            for name in GLUE_JOB_NAMES
        }
        library = s3_assets.Asset(self.home, "GlueLibrary", path=str(artifacts.library_zip))
        self._build_roles(scripts, library)
        workers = {
            "silver": config.silver_workers,
            "gold": config.gold_workers,
            "maintenance": config.maintenance_workers,
        }
        self.jobs = {name: self._job(name, scripts[name], library, workers[name]) for name in GLUE_JOB_NAMES}
        for name, role in self.roles.items():
            self._acknowledge_role(role, name)
        self._build_triggers()

    # --- key, logs, security configuration ------------------------------------------------------

    def _build_key_and_logs(self) -> None:
        config = self.config
        stack = Stack.of(self.home)
        self.key = stage_key(
            self.home,
            "GlueKey",
            config=config,
            purpose="glue",
            description="Encrypts Glue job logs and bookmarks",
        )
        # Glue 5.x writes driver/executor logs to `<prefix>/error` and stdout/stderr to
        # `<prefix>/output` for the prefix given by `--custom-logGroup-prefix`; the groups are
        # created here, before any run, so they carry the stage's retention and the Glue key.
        self.log_prefixes = {name: f"/aws-glue/jobs/{config.prefix}-{name}" for name in GLUE_JOB_NAMES}
        log_group_names = [
            f"{prefix}/{stream}" for prefix in self.log_prefixes.values() for stream in GLUE_LOG_STREAMS
        ]
        # Only these groups may use the key through CloudWatch Logs (by the log-group ARN that
        # CloudWatch Logs puts in the encryption context); names, not references, avoid a cycle.
        self.key.add_to_resource_policy(
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
                            for name in log_group_names
                        ]
                    }
                },
            )
        )
        self.log_groups: dict[str, dict[str, logs.LogGroup]] = {
            name: {
                stream: stage_log_group(
                    self.home,
                    f"{name.title()}Job{stream.title()}Logs",
                    config=config,
                    name=f"{prefix}/{stream}",
                    encryption_key=self.key,
                )
                for stream in GLUE_LOG_STREAMS
            }
            for name, prefix in self.log_prefixes.items()
        }
        self.security_configuration = glue.CfnSecurityConfiguration(
            self.home,
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
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=self.key.key_arn
                ),
            ),
        )

    # --- roles ----------------------------------------------------------------------------------

    def _build_roles(self, scripts: dict[str, s3_assets.Asset], library: s3_assets.Asset) -> None:
        bronze, silver, gold = self.bronze, self.silver, self.gold
        # Both data jobs append to (and read back) pipeline_runs, which lives in the gold bucket.
        pipeline_runs = LakeArea(gold, f"{PIPELINE_RUNS.folder}/")
        access = {
            "silver": {"reads": [LakeArea(bronze)], "writes": [LakeArea(silver), pipeline_runs]},
            "gold": {"reads": [LakeArea(silver)], "writes": [LakeArea(gold)]},
            # Compaction rewrites files, expiry and orphan removal delete them, in both layers: in
            # the gold bucket only under the Iceberg tables' folders (not the KPI export). The erase
            # step (run first by this job, ADR 0013) also replaces bronze objects in place, and the
            # insights export files (and their manifest) without a deleted account's lines.
            "maintenance": {
                "reads": [],
                "writes": [
                    LakeArea(bronze),
                    LakeArea(silver),
                    *(LakeArea(gold, f"{t.folder}/") for t in ICEBERG_TABLES if t.layer is Layer.GOLD),
                    LakeArea(gold, INSIGHTS_EXPORT_PREFIX),
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
        self.roles = {
            name: glue_job_role(
                self.home,
                f"{name.title()}JobRole",
                job=name,
                reads=access[name]["reads"],
                writes=access[name]["writes"],
                assets=[scripts[name], library],
            )
            for name in GLUE_JOB_NAMES
        }
        for name, role in self.roles.items():
            grant_catalog(role, database=self.database_name, **catalog_access[name])
            self._grant_job_runtime(role, name)

    def _grant_job_runtime(self, role: iam.Role, name: str) -> None:
        """What any job run needs besides data: its own log groups, the Glue key, metrics."""
        stack = Stack.of(self.home)
        # Log streams (named per run) in this job's log groups only; the group ARN attribute ends
        # in `:*`, which covers the streams. CreateLogGroup on the exact group ARNs lets Glue's
        # create-if-missing call succeed as a no-op instead of being denied.
        for log_group in self.log_groups[name].values():
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
                    for log_group in self.log_groups[name].values()
                ],
            )
        )
        self.key.grant_encrypt_decrypt(role)  # bookmarks (CSE-KMS) and the job log groups
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": ["Glue", METRICS_NAMESPACE]}},
            )
        )

    def _acknowledge_role(self, role: iam.Role, name: str) -> None:
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

    # --- jobs and triggers ----------------------------------------------------------------------

    def _job(
        self, name: str, script: s3_assets.Asset, library: s3_assets.Asset, workers: GlueWorkers
    ) -> glue.CfnJob:
        config = self.config
        job = glue.CfnJob(
            self.home,
            f"{name.title()}Job",
            name=f"{config.prefix}-{name}",
            description=f"{name} layer of the lake (PySpark, etl/glue_jobs/{name}_job.py)",
            role=self.roles[name].role_arn,
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
                "--custom-logGroup-prefix": self.log_prefixes[name],
                "--enable-metrics": "true",
                "--enable-observability-metrics": "true",
                # Glue 5.1's own Iceberg 1.10.0, and the catalog as static Spark settings.
                "--datalake-formats": "iceberg",
                "--conf": glue_conf_argument(glue_catalog_settings(f"s3://{self.silver.bucket_name}/")),
                # What todo_etl.glue.entry requires of this job: the base URI of each layer it
                # reaches (GLUE_JOB_LAYERS: gold is never handed bronze) and the database.
                **{
                    f"--{layer_argument(layer)}": f"s3://{self.buckets[layer].bucket_name}"
                    for layer in GLUE_JOB_LAYERS[name]
                },
                "--database": self.database_name,
                **(maintenance_arguments(config.lake_maintenance) if name == "maintenance" else {}),
            },
        )
        nag.acknowledge(
            job,
            "AwsSolutions-GL1",
            "Job logs are KMS-encrypted by their log groups' key association (the Glue key), created "
            "with retention; Glue's own SSE-KMS mode would log to run-time groups without retention.",
        )
        return job

    def _build_triggers(self) -> None:
        config = self.config
        home = self.home
        self.workflow = glue.CfnWorkflow(
            home,
            "LakeWorkflow",
            name=f"{config.prefix}-lake",
            description="Hourly: silver from bronze, then gold from silver when silver succeeds",
            max_concurrent_runs=1,
        )
        silver_schedule = self._schedule("silver", config.silver_schedule, self.workflow)
        gold_after_silver = glue.CfnTrigger(
            home,
            "GoldAfterSilver",
            name=f"{config.prefix}-gold-after-silver",
            type="CONDITIONAL",
            start_on_creation=True,
            workflow_name=self.workflow.ref,
            predicate=glue.CfnTrigger.PredicateProperty(
                logical="ANY",
                conditions=[
                    glue.CfnTrigger.ConditionProperty(
                        job_name=self.jobs["silver"].ref, state="SUCCEEDED", logical_operator="EQUALS"
                    )
                ],
            ),
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.jobs["gold"].ref)],
        )
        # Maintenance runs on its own daily schedule, outside the hourly workflow; a commit that
        # meets a silver run's commit fails on Iceberg's conflict check and runs again next day.
        maintenance_schedule = self._schedule("maintenance", config.maintenance_schedule, workflow=None)
        self.triggers = (silver_schedule, gold_after_silver, maintenance_schedule)

    def _schedule(self, job: str, schedule: str, workflow: glue.CfnWorkflow | None) -> glue.CfnTrigger:
        """Trigger `<prefix>-<job>-schedule`: starts `job` on `schedule` (a run of `workflow`, if any)."""
        return glue.CfnTrigger(
            self.home,
            f"{job.title()}Schedule",
            name=f"{self.config.prefix}-{job}-schedule",
            type="SCHEDULED",
            schedule=schedule,
            start_on_creation=True,
            workflow_name=workflow.ref if workflow is not None else None,
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.jobs[job].ref)],
        )


def maintenance_arguments(policy: MaintenancePolicy) -> dict[str, str]:
    """The stage's retention as the maintenance job's arguments (todo_etl.glue.entry reads them)."""
    return {
        "--snapshot_retention_hours": str(policy.snapshot_retention_hours),
        "--retain_last_snapshots": str(policy.retain_last_snapshots),
        "--orphan_min_age_hours": str(policy.orphan_min_age_hours),
    }
