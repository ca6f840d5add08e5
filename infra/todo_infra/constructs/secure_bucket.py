"""An S3 bucket with every control the project requires: no public access, TLS only, encrypted."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_s3 as s3
from constructs import Construct

from todo_infra.stage_config import StageConfig


def secure_bucket(
    scope: Construct,
    construct_id: str,
    *,
    config: StageConfig,
    access_logs: s3.IBucket | None,
    versioned: bool = False,
    lifecycle_rules: Sequence[s3.LifecycleRule] = (),
) -> s3.Bucket:
    """A bucket that blocks public access, enforces TLS, encrypts with SSE-S3 and logs access.

    SSE-S3 (not KMS) keeps Athena, Glue and Firehose free of key-policy plumbing and is what S3
    server access logging requires on the log bucket; ADR 0008 records the choice.
    """
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=versioned,
        lifecycle_rules=list(lifecycle_rules) or None,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{construct_id.lower()}/" if access_logs is not None else None,
        removal_policy=config.removal_policy,
        auto_delete_objects=not config.retain_data,
    )
