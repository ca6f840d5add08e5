"""Data stack: the DynamoDB single table built from the shared definition, and its KMS key."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from todo_contracts.table import TABLE, KeyAttribute
from todo_infra.constructs.stage_defaults import stage_key
from todo_infra.stage_config import StageConfig

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
}


def _attribute(key: KeyAttribute) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


class DataStack(Stack):
    """The table (on-demand, stream, PITR, customer-managed KMS, TTL) and nothing else."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        # A customer-managed key (not the AWS-owned default) so key use shows up in CloudTrail and
        # the key policy, not only IAM, decides who can read the table and its stream.
        self.table_key = stage_key(
            self,
            "TableKey",
            config=config,
            purpose="table",
            description=f"Encrypts the {config.prefix} table, its stream and backups",
        )
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=f"{config.prefix}-table",
            partition_key=_attribute(TABLE.partition_key),
            sort_key=_attribute(TABLE.sort_key),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            stream=dynamodb.StreamViewType(TABLE.stream_view_type),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.table_key,
            time_to_live_attribute=TABLE.ttl_attribute,
            deletion_protection=config.deletion_protection,
            removal_policy=config.named_removal_policy,  # fixed name: see StageConfig
        )
        for index in TABLE.global_indexes:
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attribute(index.partition_key),
                sort_key=_attribute(index.sort_key),
                projection_type=_PROJECTIONS[index.projection],
            )
