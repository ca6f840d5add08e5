"""Log groups and KMS keys with the stage's controls, so no part of the app can forget one.

Every log group is named (the service would otherwise create it on first use, with no retention
and outside the stack), keeps the stage's retention and follows the stage's removal policy for
named resources. Every customer-managed key rotates yearly and has an alias under the stage
prefix.
"""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from todo_infra.stage_config import StageConfig


def stage_log_group(
    scope: Construct,
    construct_id: str,
    *,
    config: StageConfig,
    name: str,
    encryption_key: kms.IKey | None = None,
) -> logs.LogGroup:
    """Log group `name` with the stage's retention and removal policy (`encryption_key`: its KMS key)."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        retention=config.log_retention,
        removal_policy=config.named_removal_policy,
        encryption_key=encryption_key,
    )


def stage_key(
    scope: Construct, construct_id: str, *, config: StageConfig, purpose: str, description: str
) -> kms.Key:
    """A rotating customer-managed key, `alias/<prefix>-<purpose>`, removed as the stage says."""
    return kms.Key(
        scope,
        construct_id,
        alias=f"alias/{config.prefix}-{purpose}",
        description=description,
        enable_key_rotation=True,
        removal_policy=config.removal_policy,
    )
