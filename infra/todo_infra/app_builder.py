"""Builds the four stacks for one stage and wires them together with typed arguments."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import App, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from todo_etl.queries import NamedQuery
from todo_infra.packaging import BuildOutput
from todo_infra.stacks.api_stack import ApiStack
from todo_infra.stacks.data_stack import DataStack
from todo_infra.stacks.etl_stack import EtlStack
from todo_infra.stacks.monitoring_stack import ApiResources, EtlResources, MonitoringStack
from todo_infra.stage_config import StageConfig

# Feature flags a new CDK project would get from `cdk init`, set in code so that the CLI and the
# in-process test synth build exactly the same templates.
FEATURE_FLAGS: dict[str, object] = {
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
    "@aws-cdk/aws-lambda:recognizeVersionProps": True,
    "@aws-cdk/core:enablePartitionLiterals": True,
    "@aws-cdk/aws-kms:aliasNameRef": True,
    "@aws-cdk/core:validateSnapshotRemovalPolicy": True,
    "@aws-cdk/aws-kms:reduceCrossAccountRegionPolicyScope": True,
    # Exports between the stacks stay strong (CloudFormation refuses to delete an export still in
    # use), set explicitly so CDK stops warning that it is only the default.
    "@aws-cdk/core:defaultCrossStackReferences": "strong",
}


def new_app(outdir: str | None = None) -> App:
    """An App with the project's feature flags (CLI context such as `-c stage=` still applies)."""
    return App(context=dict(FEATURE_FLAGS), outdir=outdir)


@dataclass(frozen=True)
class TodoApp:
    """The app and its four stacks, for `app.py` and the tests."""

    app: App
    config: StageConfig
    data: DataStack
    api: ApiStack
    etl: EtlStack
    monitoring: MonitoringStack

    @property
    def stacks(self) -> tuple[DataStack, ApiStack, EtlStack, MonitoringStack]:
        return (self.data, self.api, self.etl, self.monitoring)


def build_app(
    config: StageConfig,
    build: BuildOutput,
    *,
    app: App | None = None,
    with_nag: bool = True,
    named_queries: tuple[NamedQuery, ...] | None = None,
) -> TodoApp:
    """Create Data → Api → Etl → Monitoring for `config` (env-agnostic: no account needed to synth).

    With `with_nag`, synthesis fails on any unacknowledged cdk-nag AwsSolutions finding.
    """
    app = app or new_app()
    data = DataStack(
        app,
        config.stack_id("Data"),
        stack_name=config.stack_id("Data"),
        config=config,
        description=f"Todo Insights ({config.name}): DynamoDB table",
    )
    api = ApiStack(
        app,
        config.stack_id("Api"),
        stack_name=config.stack_id("Api"),
        config=config,
        table=data.table,
        api_bundle=build.function("api"),
        description=f"Todo Insights ({config.name}): Cognito, REST API, WAF, api function",
    )
    etl = EtlStack(
        app,
        config.stack_id("Etl"),
        stack_name=config.stack_id("Etl"),
        config=config,
        table=data.table,
        api_log_group=api.log_group,
        cdc_bundle=build.function("cdc"),
        insights_bundle=build.function("insights"),
        glue_artifacts=build.glue,
        named_queries=named_queries,
        description=f"Todo Insights ({config.name}): lake buckets, CDC, Firehose, Glue, Athena",
    )
    monitoring = MonitoringStack(
        app,
        config.stack_id("Monitoring"),
        stack_name=config.stack_id("Monitoring"),
        config=config,
        table=data.table,
        api=ApiResources(rest_api=api.rest_api, function=api.function, rollback_alarms=api.rollback_alarms),
        etl=EtlResources(
            cdc_function=etl.cdc_function,
            cdc_dlq=etl.cdc_dlq,
            delivery_streams=etl.delivery_streams,
            glue_jobs=etl.glue_jobs,
            gold_bucket=etl.gold,
            insights_loader=etl.insights_loader_function,
            insights_dlq=etl.insights_dlq,
        ),
        metrics_bundle=build.function("metrics"),
        description=f"Todo Insights ({config.name}): alarms, dashboard, metrics function",
    )
    for stack in (data, api, etl, monitoring):
        Tags.of(stack).add("project", "todo-insights")
        Tags.of(stack).add("stage", config.name)
    if with_nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return TodoApp(app=app, config=config, data=data, api=api, etl=etl, monitoring=monitoring)
