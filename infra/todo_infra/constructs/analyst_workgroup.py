"""The analysts' Athena workgroup, the named queries of `etl/queries/`, and the analysts' policies.

The workgroup enforces engine v3, a per-query scan cutoff and SSE-S3 results in the query-results
bucket; every `.sql` file of `etl/queries/` becomes a named query in it (`todo-insights sql
--query NAME` runs the same file locally, ADR 0007). Two managed policies, to attach to the
analysts' roles: querying every lake table, and on top of it Iceberg DML, OPTIMIZE and VACUUM.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from todo_contracts.lake_layout import ICEBERG_TABLES
from todo_etl.queries import NamedQuery
from todo_infra import nag
from todo_infra.constructs.stack_part import StackPart
from todo_infra.stage_config import StageConfig


class AnalystWorkgroup(StackPart):
    """Workgroup `<prefix>-analysts` with the named queries, and the two analyst policies."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        database_name: str,
        lake: tuple[s3.IBucket, s3.IBucket, s3.IBucket],
        query_results: s3.IBucket,
        queries: Sequence[NamedQuery],
    ) -> None:
        """`lake` is (bronze, silver, gold)."""
        super().__init__(scope, construct_id)
        self.workgroup = athena.CfnWorkGroup(
            self.home,
            "WorkGroup",
            name=f"{config.prefix}-analysts",
            description="Analysts' workgroup: engine v3, enforced settings, encrypted results",
            state="ENABLED",
            recursive_delete_option=not config.retain_data,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=config.athena_bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{query_results.bucket_name}/athena/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )
        self.named_queries: dict[str, athena.CfnNamedQuery] = {}
        for query in queries:
            named = athena.CfnNamedQuery(
                self.home,
                f"Query-{query.name}",
                name=query.name,
                description=query.description,
                database=database_name,
                query_string=query.sql,
                work_group=self.workgroup.ref,
            )
            named.add_resource_dependency(self.workgroup)
            self.named_queries[query.name] = named
        self._build_policies(config, database_name, lake, query_results)

    def _build_policies(
        self,
        config: StageConfig,
        database: str,
        lake: tuple[s3.IBucket, s3.IBucket, s3.IBucket],
        query_results: s3.IBucket,
    ) -> None:
        """Managed policies for the people who use the workgroup (attach them to their roles):
        querying every lake table, and on top of it Iceberg DML, OPTIMIZE and VACUUM on silver
        and gold (Athena commits those itself: UpdateTable, new and deleted objects)."""
        stack = Stack.of(self.home)
        bronze, silver, gold = lake

        def glue_arn(resource: str, name: str | None = None) -> str:
            return stack.format_arn(service="glue", resource=resource, resource_name=name)

        workgroup_arn = stack.format_arn(
            service="athena", resource="workgroup", resource_name=self.workgroup.ref
        )
        query = [
            iam.PolicyStatement(
                actions=[
                    "athena:StartQueryExecution",
                    "athena:StopQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:GetWorkGroup",
                    "athena:ListNamedQueries",
                    "athena:GetNamedQuery",
                    "athena:BatchGetNamedQuery",
                ],
                resources=[workgroup_arn],
            ),
            iam.PolicyStatement(
                actions=["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions"],
                resources=[
                    glue_arn("catalog"),
                    glue_arn("database", database),
                    glue_arn("table", f"{database}/*"),
                ],
            ),
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[b.arn_for_objects("*") for b in lake]),
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[b.bucket_arn for b in (*lake, query_results)],
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[query_results.arn_for_objects("athena/*")],
            ),
        ]
        self.analyst_query_policy = iam.ManagedPolicy(
            self.home,
            "AnalystQueryPolicy",
            managed_policy_name=f"{config.prefix}-analyst-query",
            description="Run Athena queries in the analysts' workgroup on every lake table (read only)",
            statements=query,
        )
        iceberg = [t.name for t in ICEBERG_TABLES]
        self.lake_maintainer_policy = iam.ManagedPolicy(
            self.home,
            "LakeMaintainerPolicy",
            managed_policy_name=f"{config.prefix}-lake-maintainer",
            description="Athena DML, OPTIMIZE and VACUUM on the silver and gold Iceberg tables",
            statements=[
                *query,
                iam.PolicyStatement(
                    actions=["glue:UpdateTable"],
                    resources=[
                        glue_arn("catalog"),
                        glue_arn("database", database),
                        *(glue_arn("table", f"{database}/{name}") for name in iceberg),
                    ],
                ),
                iam.PolicyStatement(
                    actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                    resources=[b.arn_for_objects("*") for b in (silver, gold)],
                ),
            ],
        )
        reasons = {
            nag.resource_arn(bronze, "/*"): "Analysts read any bronze object (the raw CDC and logs).",
            nag.resource_arn(silver, "/*"): "Silver objects: Iceberg data and metadata files.",
            nag.resource_arn(gold, "/*"): "Gold objects: Iceberg data and metadata files.",
            nag.resource_arn(query_results, "/athena/*"): "Athena writes each query's results here.",
        }
        for policy in (self.analyst_query_policy, self.lake_maintainer_policy):
            nag.acknowledge(
                policy,
                nag.wildcard(
                    f"Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/{database}/*"
                ),
                "Every table of the stage's lake database (bronze, silver and gold; the jobs add tables).",
            )
            for finding, reason in reasons.items():
                nag.acknowledge(policy, nag.wildcard(finding), reason)
        CfnOutput(self.home, "AnalystQueryPolicyArn", value=self.analyst_query_policy.managed_policy_arn)
        CfnOutput(self.home, "LakeMaintainerPolicyArn", value=self.lake_maintainer_policy.managed_policy_arn)
