"""The one typed configuration of a deployment stage (dev, staging, prod) that every stack reads."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

from todo_contracts.limits import DEV_RATE_LIMITS
from todo_etl.glue.maintenance_policy import DEFAULT_POLICY, MaintenancePolicy

DEFAULT_STAGE = "dev"
_RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
# A web app on a developer's machine (common dev-server ports); deployed stages name their own.
DEV_CORS_ORIGINS = ("http://localhost:3000", "http://localhost:5173", "http://localhost:8080")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# RFC 2606 documentation domains: an address there reaches nobody, so it is no alarm address.
_PLACEHOLDER_DOMAIN = re.compile(r"(^|\.)example(\.(com|net|org))?$", re.IGNORECASE)


class Stage(StrEnum):
    """The stages the app can be built for."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class StageConfigError(ValueError):
    """An unknown stage or an invalid override."""


@dataclass(frozen=True)
class GlueWorkers:
    """Worker type and count of one Glue job."""

    worker_type: str
    count: int


@dataclass(frozen=True)
class StageConfig:
    """Everything that differs between stages; stacks never branch on the stage name themselves."""

    stage: Stage
    retain_data: bool  # prod keeps buckets, table and keys when a stack is deleted; dev destroys
    deletion_protection: bool  # only with retain_data: a protected resource cannot be destroyed
    api_throttle_rate: float  # steady-state requests per second for the whole stage
    api_throttle_burst: int
    waf_rate_limit: int  # requests per caller per WAF window (limits.WAF_WINDOW_SECONDS; min 10)
    alarm_email: str | None  # dev has a placeholder; staging and prod must be given a real address
    log_retention_days: int  # one of CloudWatch's allowed values (7, 30, 90, ...)
    canary: bool  # CodeDeploy canary on the api alias; all-at-once when False
    silver_workers: GlueWorkers
    gold_workers: GlueWorkers
    api_memory_mb: int
    cdc_memory_mb: int
    metrics_memory_mb: int
    athena_bytes_scanned_cutoff: int
    cognito_threat_protection: bool  # Cognito Plus plan: paid, so prod only
    silver_schedule: str = "cron(15 * * * ? *)"  # hourly, a quarter past (Firehose buffers first)
    metrics_schedule_minutes: int = 15
    # How much Iceberg history the lake keeps (time travel, rollback); dev's is the local default.
    lake_maintenance: MaintenancePolicy = DEFAULT_POLICY
    maintenance_schedule: str = "cron(45 3 * * ? *)"  # daily, between hourly silver runs
    maintenance_workers: GlueWorkers = GlueWorkers("G.1X", 2)
    # Browser origins that may call the API (CORS, ADR 0012); none: no CORS, no preflight answers.
    cors_allowed_origins: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.stage.value

    @property
    def prefix(self) -> str:
        """Prefix of every physical name in this stage, e.g. `todo-insights-dev`."""
        return f"todo-insights-{self.stage.value}"

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION[self.log_retention_days]

    def __post_init__(self) -> None:
        for origin in self.cors_allowed_origins:
            if not _ORIGIN.match(origin):
                raise StageConfigError(
                    f"{self.stage.value}: CORS origin {origin!r} is not scheme://host[:port]"
                )
        if self.deletion_protection and not self.retain_data:
            # CloudFormation cannot delete a protected table or pool: `cdk destroy` would fail halfway.
            raise StageConfigError(f"{self.stage.value}: deletion protection needs retain_data")

    @property
    def removal_policy(self) -> RemovalPolicy:
        """For resources CloudFormation names itself (buckets, keys): a retry creates new ones."""
        return RemovalPolicy.RETAIN if self.retain_data else RemovalPolicy.DESTROY

    @property
    def named_removal_policy(self) -> RemovalPolicy:
        """For resources with a fixed physical name (table, secret, queue, log groups).

        Plain RETAIN would keep them after a failed first deploy, and every retry would then fail
        with "already exists"; RETAIN_ON_UPDATE_OR_DELETE deletes what a failed create made.
        """
        return RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE if self.retain_data else RemovalPolicy.DESTROY

    @property
    def needs_alarm_email(self) -> bool:
        """Stages that alarm real people must be given an address; dev may keep its placeholder."""
        return self.stage is not Stage.DEV

    def stack_id(self, part: str) -> str:
        """Construct id (and CloudFormation stack name) of one of the four stacks."""
        return f"TodoInsights-{self.stage.value}-{part}"

    def with_alarm_email(self, email: str) -> StageConfig:
        if not _EMAIL.match(email):
            raise StageConfigError(f"alarm email {email!r} is not an email address")
        if self.needs_alarm_email and _PLACEHOLDER_DOMAIN.search(email.rsplit("@", 1)[1]):
            raise StageConfigError(
                f"alarm email {email!r} is a documentation address: {self.name} alarms would reach nobody"
            )
        return replace(self, alarm_email=email)

    def require_alarm_email(self) -> str:
        """The address alarms go to; refuses a stage that alarms real people without one."""
        if self.alarm_email is None:
            raise StageConfigError(
                f"{self.name} needs an alarm address: pass -c alarm_email=you@yourcompany.com or set "
                "ALARM_EMAIL (the deploy workflow passes the repository variable ALARM_EMAIL)"
            )
        return self.alarm_email


_STAGES: dict[Stage, StageConfig] = {
    Stage.DEV: StageConfig(
        stage=Stage.DEV,
        retain_data=False,
        deletion_protection=False,
        # The local gateway applies the same limits (todo_contracts.limits).
        api_throttle_rate=DEV_RATE_LIMITS.throttle_rate,
        api_throttle_burst=DEV_RATE_LIMITS.throttle_burst,
        waf_rate_limit=DEV_RATE_LIMITS.waf_per_window,
        alarm_email="todo-insights-dev-alerts@example.com",
        log_retention_days=7,
        canary=False,
        silver_workers=GlueWorkers("G.1X", 2),
        gold_workers=GlueWorkers("G.1X", 2),
        api_memory_mb=512,
        cdc_memory_mb=256,
        metrics_memory_mb=256,
        athena_bytes_scanned_cutoff=1 * 1024**3,
        cognito_threat_protection=False,
        cors_allowed_origins=DEV_CORS_ORIGINS,
    ),
    Stage.STAGING: StageConfig(
        stage=Stage.STAGING,
        retain_data=False,  # staging is torn down and rebuilt: nothing in it may block `cdk destroy`
        deletion_protection=False,
        api_throttle_rate=50,
        api_throttle_burst=100,
        waf_rate_limit=600,
        alarm_email=None,
        log_retention_days=30,
        canary=True,
        silver_workers=GlueWorkers("G.1X", 2),
        gold_workers=GlueWorkers("G.1X", 2),
        api_memory_mb=1024,
        cdc_memory_mb=256,
        metrics_memory_mb=256,
        athena_bytes_scanned_cutoff=5 * 1024**3,
        cognito_threat_protection=False,
        lake_maintenance=MaintenancePolicy(snapshot_retention_hours=3 * 24, retain_last_snapshots=5),
    ),
    Stage.PROD: StageConfig(
        stage=Stage.PROD,
        retain_data=True,
        deletion_protection=True,
        api_throttle_rate=200,
        api_throttle_burst=400,
        waf_rate_limit=1000,
        alarm_email=None,
        log_retention_days=90,
        canary=True,
        silver_workers=GlueWorkers("G.1X", 4),
        gold_workers=GlueWorkers("G.1X", 2),
        api_memory_mb=1024,
        cdc_memory_mb=512,
        metrics_memory_mb=256,
        athena_bytes_scanned_cutoff=10 * 1024**3,
        cognito_threat_protection=True,
        # Two weeks of time travel and rollback; leftovers of failed runs are cleared after 3 days.
        lake_maintenance=MaintenancePolicy(
            snapshot_retention_hours=14 * 24, retain_last_snapshots=10, orphan_min_age_hours=72
        ),
    ),
}


def stage_config(stage: str) -> StageConfig:
    """The configuration of `stage` (dev, staging or prod)."""
    try:
        return _STAGES[Stage(stage)]
    except ValueError:
        known = ", ".join(s.value for s in Stage)
        raise StageConfigError(f"unknown stage {stage!r}; expected one of: {known}") from None


def resolve_stage_config(
    context: Mapping[str, object], environ: Mapping[str, str] | None = None
) -> StageConfig:
    """Stage from CDK context (`-c stage=`), else env STAGE, else dev; alarm email likewise.

    Refuses staging and prod without a real alarm address: synthesis stops here, before anything
    could be deployed with alarms that reach nobody.
    """
    env = os.environ if environ is None else environ
    stage = str(context.get("stage") or env.get("STAGE") or DEFAULT_STAGE)
    config = stage_config(stage)
    email = context.get("alarm_email") or env.get("ALARM_EMAIL")
    if email:
        config = config.with_alarm_email(str(email).strip())
    config.require_alarm_email()
    return config
