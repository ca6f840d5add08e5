"""Change data capture: the table's stream → the cdc function → the cdc Firehose → `bronze/cdc/`.

With what catches what does not get through: the stream mapping retries a failing batch, bisects
it and gives up on records after `CDC_MAX_RECORD_AGE` or `STREAM_RETRY_ATTEMPTS` tries, sending
them to the dead-letter queue; a record too large for Firehose is kept whole under the bronze
dead-letter prefix by the function itself (ADR 0006).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from constructs import Construct

from todo_contracts.lake_layout import CDC_FOLDER
from todo_contracts.limits import STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS
from todo_etl.cdc.dead_letter import DEAD_LETTER_PREFIX
from todo_infra import nag
from todo_infra.constructs.bronze_delivery import BronzeDeliveryStream
from todo_infra.constructs.queued_function import QueuedFunction
from todo_infra.constructs.stack_part import StackPart
from todo_infra.packaging import BuiltBundle
from todo_infra.stage_config import StageConfig

CDC_TIMEOUT = Duration.minutes(1)
# Stream mapping limits: records older than this go to the DLQ instead of blocking the shard.
CDC_MAX_RECORD_AGE = Duration.hours(6)
CDC_MAX_BATCHING_WINDOW = Duration.seconds(1)


class CdcPipeline(StackPart):
    """The cdc Firehose, the cdc function with its DLQ, and the table's stream mapping to it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        table: dynamodb.ITable,
        bronze: s3.IBucket,
        bundle: BuiltBundle,
    ) -> None:
        super().__init__(scope, construct_id)
        self.delivery = BronzeDeliveryStream(
            self.home,
            "CdcDeliveryToBronze",
            config=config,
            bronze=bronze,
            folder=CDC_FOLDER,
            stream_id="CdcDelivery",
        )
        self.stream = self.delivery.stream
        self.handler = QueuedFunction(
            self.home,
            "CdcQueuedFunction",
            config=config,
            built=bundle,
            family="cdc",
            function_id="CdcFunction",
            queue_id="CdcDeadLetters",
            description="DynamoDB stream records to the cdc Firehose (bronze)",
            memory_mb=config.cdc_memory_mb,
            timeout=CDC_TIMEOUT,
            environment={
                "CDC_DELIVERY_STREAM": self.stream.delivery_stream_name,
                "CDC_DEAD_LETTER_BUCKET": bronze.bucket_name,
            },
            dead_letters_of="the CDC stream mapping",
        )
        self.dlq = self.handler.queue
        self.function = self.handler.function
        self.stream.grant_put_records(self.function)
        # Records over Firehose's 1,000 KiB limit are kept whole beside bronze, outside the cdc/
        # table folder, ready to be re-driven (the cdc function's own dead-letter path).
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[bronze.arn_for_objects(f"{DEAD_LETTER_PREFIX}*")]
            )
        )
        nag.acknowledge(
            self.function,
            nag.wildcard(nag.resource_arn(bronze, f"/{DEAD_LETTER_PREFIX}*")),
            "PutObject only, under the bronze dead-letter prefix; keys are named by stream event id.",
        )
        self.function.add_event_source(
            event_sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=STREAM_BATCH_SIZE,
                max_batching_window=CDC_MAX_BATCHING_WINDOW,
                bisect_batch_on_error=True,
                retry_attempts=STREAM_RETRY_ATTEMPTS,
                max_record_age=CDC_MAX_RECORD_AGE,
                report_batch_item_failures=True,
                parallelization_factor=1,  # keep per-item order within a shard
                on_failure=event_sources.SqsDlq(self.dlq),
            )
        )
