"""A Firehose delivery stream into one bronze folder, with a write-only role and its own log group.

Both bronze inputs arrive this way: the cdc function's change records (`bronze/cdc/`) and the
api's access-log lines (`bronze/logs/`). Objects land under arrival-hour partitions of the folder
(`todo_contracts.lake_layout.firehose_prefix`), failed records under the folder's error prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Size, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_s3 as s3
from constructs import Construct

from todo_contracts.lake_layout import ERRORS_FOLDER, firehose_error_prefix, firehose_prefix
from todo_infra import nag
from todo_infra.constructs.stack_part import StackPart
from todo_infra.constructs.stage_defaults import stage_log_group
from todo_infra.stage_config import StageConfig

FIREHOSE_BUFFER_INTERVAL = Duration.seconds(60)
FIREHOSE_BUFFER_SIZE = Size.mebibytes(16)


class BronzeDeliveryStream(StackPart):
    """Firehose `<prefix>-<folder>` writing gzip objects under `bronze/<folder>/` only."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        bronze: s3.IBucket,
        folder: str,
        stream_id: str,
        processors: Sequence[firehose.IDataProcessor] = (),
    ) -> None:
        """`stream_id` is the delivery stream's construct id (its log group and role take it as
        their prefix)."""
        super().__init__(scope, construct_id)
        self.folder = folder
        home = self.home
        self.log_group = stage_log_group(
            home, f"{stream_id}Logs", config=config, name=f"/aws/kinesisfirehose/{config.prefix}-{folder}"
        )
        # Write-only, to this stream's own prefixes. The L2 would grant the delivery role read,
        # list and delete on the whole bucket; it gets an immutable view of the role instead, so
        # its grants are dropped and only the statements below apply.
        self.role = iam.Role(
            home,
            f"{stream_id}Role",
            # Firehose passes the account as the external id when it assumes a delivery role.
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com",
                conditions={"StringEquals": {"sts:ExternalId": Stack.of(home).account}},
            ),
            description=f"Lets the {folder} Firehose write under bronze/{folder}/ and its error prefix only",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[
                    bronze.arn_for_objects(f"{folder}/*"),
                    bronze.arn_for_objects(f"{ERRORS_FOLDER}/{folder}/*"),
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                resources=[bronze.bucket_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.stream = firehose.DeliveryStream(
            home,
            stream_id,
            delivery_stream_name=f"{config.prefix}-{folder}",
            encryption=firehose.StreamEncryption.aws_owned_key(),
            destination=firehose.S3Bucket(
                bronze,
                data_output_prefix=firehose_prefix(folder),
                error_output_prefix=firehose_error_prefix(folder),
                compression=firehose.Compression.GZIP,
                buffering_interval=FIREHOSE_BUFFER_INTERVAL,
                buffering_size=FIREHOSE_BUFFER_SIZE,
                logging_config=firehose.EnableLogging(self.log_group),
                processors=list(processors) or None,
                role=self.role.without_policy_updates(),
            ),
        )
        self.stream.node.add_dependency(self.role)  # its policy exists before the first delivery
        for prefix in (f"/{folder}/*", f"/{ERRORS_FOLDER}/{folder}/*"):
            nag.acknowledge(
                self.role,
                nag.wildcard(nag.resource_arn(bronze, prefix)),
                "Firehose writes objects under time-based keys of its own bronze prefix (put only).",
            )
