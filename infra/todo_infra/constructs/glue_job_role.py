"""One IAM role per Glue job, built from what the job reads and writes (least privilege per job).

A job's access is a list of `LakeArea`s (a bucket, or a key prefix of it) it reads and a list it
writes, plus the exact S3 objects of its code assets, plus (`grant_catalog`) the Glue Data Catalog
tables it reads and the Iceberg tables it creates and commits to, each by its exact ARN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

READ_ACTIONS = ("s3:GetObject",)
# Iceberg's GlueCatalog: look a table up, create it (the jobs own the DDL), commit a snapshot
# (UpdateTable with the version it read: optimistic concurrency).
CATALOG_READ_ACTIONS = ("glue:GetDatabase", "glue:GetTable")
CATALOG_WRITE_ACTIONS = ("glue:CreateTable", "glue:UpdateTable")
# What Spark's S3 committer does to write a table: put, replace (delete), and clean up uploads.
WRITE_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
LIST_ACTIONS = ("s3:ListBucket", "s3:GetBucketLocation")


@dataclass(frozen=True)
class LakeArea:
    """A bucket, or the objects under one key prefix of it."""

    bucket: s3.IBucket
    prefix: str = ""  # "" is the whole bucket; otherwise e.g. "pipeline_runs/"

    @property
    def objects_arn(self) -> str:
        return self.bucket.arn_for_objects(f"{self.prefix}*")


def glue_job_role(
    scope: Construct,
    construct_id: str,
    *,
    job: str,
    reads: Sequence[LakeArea],
    writes: Sequence[LakeArea],
    assets: Sequence[s3_assets.Asset],
) -> iam.Role:
    """A role Glue may assume for `job` only, with object access to exactly `reads` and `writes`."""
    account = Stack.of(scope).account
    role = iam.Role(
        scope,
        construct_id,
        # Glue does not document sending aws:SourceAccount when it assumes a job role: IfExists
        # binds the role to this account whenever the key is present without risking every run.
        assumed_by=iam.ServicePrincipal(
            "glue.amazonaws.com", conditions={"StringEqualsIfExists": {"aws:SourceAccount": account}}
        ),
        description=f"Runs the {job} Glue job: reads "
        + ", ".join(_describe(a) for a in reads)
        + "; writes "
        + ", ".join(_describe(a) for a in writes),
    )
    if reads:
        role.add_to_policy(
            iam.PolicyStatement(actions=list(READ_ACTIONS), resources=[a.objects_arn for a in reads])
        )
    if writes:
        role.add_to_policy(
            iam.PolicyStatement(actions=list(WRITE_ACTIONS), resources=[a.objects_arn for a in writes])
        )
    # Listing the buckets it touches: Spark lists table folders and asks for keys that may not
    # exist, and without ListBucket S3 answers those with 403 (the run fails) instead of 404.
    buckets = {area.bucket.node.path: area.bucket for area in (*reads, *writes)}
    role.add_to_policy(
        iam.PolicyStatement(actions=list(LIST_ACTIONS), resources=[b.bucket_arn for b in buckets.values()])
    )
    # Its own script and the shared-module zip, by exact key: not the whole CDK asset bucket.
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:GetObject"],
            resources=[
                Stack.of(scope).format_arn(
                    service="s3",
                    region="",
                    account="",
                    resource=asset.s3_bucket_name,
                    resource_name=asset.s3_object_key,
                )
                for asset in assets
            ],
        )
    )
    return role


def _describe(area: LakeArea) -> str:
    name = area.bucket.node.id.lower()
    return f"{name}/{area.prefix}" if area.prefix else name


def grant_catalog(role: iam.Role, *, database: str, reads: Sequence[str], writes: Sequence[str]) -> None:
    """Catalog access by exact ARN: look up the database and the tables in `reads` and `writes`,
    create and commit to the tables in `writes` (no wildcard, no other database)."""
    stack = Stack.of(role)

    def arn(resource: str, name: str | None = None) -> str:
        return stack.format_arn(service="glue", resource=resource, resource_name=name)

    for actions, tables in ((CATALOG_READ_ACTIONS, {*reads, *writes}), (CATALOG_WRITE_ACTIONS, set(writes))):
        if tables:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=list(actions),
                    resources=[
                        arn("catalog"),
                        arn("database", database),
                        *(arn("table", f"{database}/{t}") for t in sorted(tables)),
                    ],
                )
            )
