"""The insights loader (ADR 0014): after each successful gold run, users' insights into the table.

EventBridge starts the loader on the gold job's "Glue Job State Change" to SUCCEEDED; the loader
reads the gold export (the manifest, then that run's part files) and writes one item per user in
conditional transactions. A failed load is retried (EventBridge's delivery, then Lambda's
asynchronous retries) and then dead-lettered; users keep their previous insights meanwhile.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from constructs import Construct

from todo_contracts.lake_layout import INSIGHTS_EXPORT_PREFIX
from todo_infra import nag
from todo_infra.constructs.queued_function import QueuedFunction
from todo_infra.constructs.stack_part import StackPart
from todo_infra.constructs.table_key import grant_table_key_via_dynamodb
from todo_infra.packaging import BuiltBundle
from todo_infra.stage_config import StageConfig

# A load of a few thousand users takes seconds; the bound is for a slow table. Its item actions
# are exactly those of its TransactWriteItems calls (IAM authorizes a transaction per item
# action): a ConditionCheck on the profile and a Put of the insights item.
INSIGHTS_LOADER_TIMEOUT = Duration.minutes(5)
INSIGHTS_LOADER_MEMORY_MB = 512
INSIGHTS_LOADER_ITEM_ACTIONS = ("dynamodb:ConditionCheckItem", "dynamodb:PutItem")
# A failed load is retried twice (EventBridge to Lambda, then Lambda's async retries), then
# dead-lettered; an event older than the next gold run is not worth loading any more.
INSIGHTS_EVENT_MAX_AGE = Duration.hours(1)
INSIGHTS_RETRY_ATTEMPTS = 2


class InsightsLoader(StackPart):
    """The loader function with its DLQ and the gold-succeeded rule that starts it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        table: dynamodb.ITable,
        gold: s3.IBucket,
        gold_job: glue.CfnJob,
        bundle: BuiltBundle,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = QueuedFunction(
            self.home,
            "InsightsLoaderQueuedFunction",
            config=config,
            built=bundle,
            family="insights-loader",
            function_id="InsightsLoader",
            queue_id="InsightsLoaderDeadLetters",
            description="After each gold run: each user's insights from the gold export into the table",
            memory_mb=INSIGHTS_LOADER_MEMORY_MB,
            timeout=INSIGHTS_LOADER_TIMEOUT,
            environment={
                "GOLD_URI": f"s3://{gold.bucket_name}",
                "TABLE_NAME": table.table_name,
                "GOLD_JOB_NAME": gold_job.ref,
            },
            dead_letters_of="the insights loader's events",
        )
        self.dlq = self.handler.queue
        function = self.function = self.handler.function
        # Reads the export only: the manifest and the run folders, nothing else of gold.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[gold.arn_for_objects(f"{INSIGHTS_EXPORT_PREFIX}*")]
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[gold.bucket_arn],
                conditions={"StringLike": {"s3:prefix": f"{INSIGHTS_EXPORT_PREFIX}*"}},
            )
        )
        nag.acknowledge(
            function,
            nag.wildcard(nag.resource_arn(gold, f"/{INSIGHTS_EXPORT_PREFIX}*")),
            "GetObject only, under the insights export prefix (the manifest and each run's part files).",
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=list(INSIGHTS_LOADER_ITEM_ACTIONS), resources=[table.table_arn])
        )
        grant_table_key_via_dynamodb(function, table)
        # Function errors: Lambda's asynchronous retries, then the dead-letter queue.
        function.configure_async_invoke(
            retry_attempts=INSIGHTS_RETRY_ATTEMPTS,
            max_event_age=INSIGHTS_EVENT_MAX_AGE,
            on_failure=destinations.SqsDestination(self.dlq),
        )
        self.gold_succeeded_rule = events.Rule(
            self.home,
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
                dead_letter_queue=self.dlq,
                retry_attempts=INSIGHTS_RETRY_ATTEMPTS,
                max_event_age=INSIGHTS_EVENT_MAX_AGE,
            )
        )
