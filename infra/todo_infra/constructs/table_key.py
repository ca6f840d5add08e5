"""The table's customer-managed key, granted to a function only as DynamoDB uses it for it."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from todo_infra import nag

TABLE_KEY_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
)


def grant_table_key_via_dynamodb(function: lambda_.IFunction, table: dynamodb.ITable) -> None:
    """`TABLE_KEY_ACTIONS` on the table's key, only through DynamoDB (kms:ViaService)."""
    key = table.encryption_key
    if key is None:
        raise ValueError("the table is expected to have its customer-managed key")
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=list(TABLE_KEY_ACTIONS),
            resources=[key.key_arn],
            conditions={
                "StringEquals": {"kms:ViaService": f"dynamodb.{Stack.of(function).region}.amazonaws.com"}
            },
        )
    )
    for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
        nag.acknowledge(
            function,
            nag.wildcard(f"Action::{action}"),
            "The table's customer-managed key as DynamoDB uses it (kms:ViaService); that key only.",
        )
