"""Least privilege, read off the synthesized roles: each role may do what its code does, no more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from todo_contracts.lake_layout import (
    INSIGHTS_EXPORT_MANIFEST,
    KPI_EXPORT_KEY,
    PIPELINE_RUNS,
    insights_export_prefix,
)
from todo_infra.policy.evaluator import Principal, Request, evaluate
from todo_infra.policy.template_values import Environment, TemplateValues
from todo_infra.stacks.api_stack import API_ITEM_ACTIONS

pytestmark = pytest.mark.infra

ENV = Environment()
ACCOUNT_BOUND = ("aws:SourceAccount", "sts:ExternalId", "aws:SourceArn")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_statements(synth, part: str, role) -> list[dict[str, Any]]:
    role_id = synth.logical_id(part, role)
    return [
        statement
        for policy in synth.resources(part, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _identity(synth, part: str, role) -> tuple[TemplateValues, dict[str, Any], str]:
    """The role's identity policy, resolved for ENV, and the role's ARN."""
    values = TemplateValues(synth.templates, ENV)
    document = {"Statement": values.resolve(part, _role_statements(synth, part, role))}
    return values, document, values.arn(part, synth.logical_id(part, role))


def _may(document, role_arn: str, action: str, resource: str, **context: Any) -> bool:
    return evaluate(document, Request(Principal.aws(role_arn), action, resource, context)).allowed


def _actions(statements) -> set[str]:
    return {a for s in statements for a in _listed(s["Action"])}


# --- api ------------------------------------------------------------------------------------------


def test_api_role_has_exactly_the_item_actions_the_repository_and_idempotency_layer_use(each_stage):
    api = each_stage.todo.api
    statements = _role_statements(each_stage, "Api", api.function.role)
    dynamodb = {a for a in _actions(statements) if a.startswith("dynamodb:")}
    # GetItem/PutItem/UpdateItem/DeleteItem (Powertools idempotency + repositories), ConditionCheckItem
    # (inside TransactWriteItems, authorized per item action), Query (table and GSIs).
    assert dynamodb == {*API_ITEM_ACTIONS, "dynamodb:Query"}
    assert not {
        a
        for a in _actions(statements)
        if a.split(":")[1].startswith(
            ("Scan", "Batch", "GetRecords", "GetShard", "DescribeStream", "ListStreams")
        )
    }
    values, document, role = _identity(each_stage, "Api", api.function.role)
    table = values.arn("Data", each_stage.logical_id("Data", each_stage.todo.data.table))
    assert _may(document, role, "dynamodb:Query", f"{table}/index/by-status")
    assert not _may(document, role, "dynamodb:PutItem", f"{table}/index/by-status")
    assert not _may(document, role, "dynamodb:Scan", table)
    key = values.arn("Data", each_stage.logical_id("Data", each_stage.todo.data.table_key))
    via_dynamodb = {"kms:ViaService": f"dynamodb.{ENV.region}.amazonaws.com"}
    assert _may(document, role, "kms:Decrypt", key, **via_dynamodb)
    assert not _may(document, role, "kms:Decrypt", key)  # the key only as DynamoDB uses it


def test_api_reads_the_cursor_secret_and_only_reads_it(each_stage):
    api = each_stage.todo.api
    statements = _role_statements(each_stage, "Api", api.function.role)
    secret_id = each_stage.logical_id("Api", api.cursor_secret)
    secret_statements = [
        s for s in statements if any(a.startswith("secretsmanager:") for a in _listed(s["Action"]))
    ]
    assert secret_statements == [
        {"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": {"Ref": secret_id}}
    ]


# --- Firehose -------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["cdc", "logs"])
def test_each_firehose_role_may_only_put_objects_under_its_own_prefixes(each_stage, folder):
    etl = each_stage.todo.etl
    role = etl.delivery_roles[folder]
    stream = next(
        s["Properties"]
        for s in each_stage.resources("Etl", "AWS::KinesisFirehose::DeliveryStream").values()
        if s["Properties"]["DeliveryStreamName"].endswith(f"-{folder}")
    )
    role_id = each_stage.logical_id("Etl", role)
    assert stream["ExtendedS3DestinationConfiguration"]["RoleARN"] == {"Fn::GetAtt": [role_id, "Arn"]}
    values, document, arn = _identity(each_stage, "Etl", role)
    bronze = values.arn("Etl", each_stage.logical_id("Etl", etl.bronze))
    assert _may(document, arn, "s3:PutObject", f"{bronze}/{folder}/year=2026/month=01/day=01/hour=00/x.gz")
    assert _may(document, arn, "s3:PutObject", f"{bronze}/errors/{folder}/processing-failed/x")
    other = "logs" if folder == "cdc" else "cdc"
    assert not _may(document, arn, "s3:PutObject", f"{bronze}/{other}/x.gz")
    for action in ("s3:GetObject", "s3:DeleteObject", "s3:PutObjectAcl", "s3:ListBucket"):
        assert not _may(document, arn, action, f"{bronze}/{folder}/x.gz"), action
        assert not _may(document, arn, action, bronze), action
    trust = each_stage.template("Etl")["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Condition"] == {
        "StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}
    }


# --- Glue -----------------------------------------------------------------------------------------


def test_one_role_per_glue_job(each_stage):
    etl = each_stage.todo.etl
    jobs = {
        j["Properties"]["Name"].rsplit("-", 1)[-1]: j["Properties"]["Role"]
        for j in each_stage.resources("Etl", "AWS::Glue::Job").values()
    }
    roles = {
        name: {"Fn::GetAtt": [each_stage.logical_id("Etl", r), "Arn"]} for name, r in etl.glue_roles.items()
    }
    assert jobs == roles
    assert roles["silver"] != roles["gold"]


def _layer_arns(synth, values):
    etl = synth.todo.etl
    return {
        name: values.arn("Etl", synth.logical_id("Etl", b))
        for name, b in (("bronze", etl.bronze), ("silver", etl.silver), ("gold", etl.gold))
    }


def test_silver_reads_bronze_writes_silver_and_pipeline_runs_and_nothing_else(each_stage):
    values, document, role = _identity(each_stage, "Etl", each_stage.todo.etl.glue_roles["silver"])
    arn = _layer_arns(each_stage, values)
    runs = f"{arn['gold']}/{PIPELINE_RUNS.folder}/part-0.parquet"
    assert _may(document, role, "s3:GetObject", f"{arn['bronze']}/cdc/year=2026/x.gz")
    assert not _may(document, role, "s3:PutObject", f"{arn['bronze']}/cdc/year=2026/x.gz")
    assert not _may(document, role, "s3:DeleteObject", f"{arn['bronze']}/cdc/year=2026/x.gz")
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert _may(document, role, action, f"{arn['silver']}/tasks/part-0.parquet")
        assert _may(document, role, action, runs)
    assert not _may(document, role, "s3:PutObject", f"{arn['gold']}/user_engagement/part-0.parquet")
    assert not _may(document, role, "s3:GetObject", f"{arn['gold']}/{KPI_EXPORT_KEY}")


def test_maintenance_rewrites_lake_files_but_not_the_kpi_export(each_stage):
    values, document, role = _identity(each_stage, "Etl", each_stage.todo.etl.glue_roles["maintenance"])
    arn = _layer_arns(each_stage, values)
    tables = [f"{arn['silver']}/tasks", f"{arn['gold']}/user_engagement", f"{arn['gold']}/pipeline_runs"]
    for table in tables:  # compaction writes new files, expiry and orphan removal delete old ones
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            assert _may(document, role, action, f"{table}/data/part-0.parquet")
    # The erase step (ADR 0013) replaces bronze objects in place, and the insights export files
    # and their manifest.
    assert _may(document, role, "s3:PutObject", f"{arn['bronze']}/cdc/x.gz")
    export_file = f"{arn['gold']}/{insights_export_prefix('gold-1')}part-00000.json.gz"
    for action in ("s3:GetObject", "s3:PutObject"):
        assert _may(document, role, action, export_file)
        assert _may(document, role, action, f"{arn['gold']}/{INSIGHTS_EXPORT_MANIFEST}")
    assert not _may(document, role, "s3:GetObject", f"{arn['gold']}/{KPI_EXPORT_KEY}")
    assert not _may(document, role, "s3:PutObject", f"{arn['gold']}/exports/other.json")


def test_gold_reads_silver_writes_gold_and_never_touches_bronze(each_stage):
    values, document, role = _identity(each_stage, "Etl", each_stage.todo.etl.glue_roles["gold"])
    arn = _layer_arns(each_stage, values)
    assert _may(document, role, "s3:GetObject", f"{arn['silver']}/tasks/part-0.parquet")
    assert not _may(document, role, "s3:PutObject", f"{arn['silver']}/tasks/part-0.parquet")
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert _may(document, role, action, f"{arn['gold']}/user_engagement/part-0.parquet")
        assert _may(document, role, action, f"{arn['gold']}/{PIPELINE_RUNS.folder}/part-0.parquet")
    assert not _may(document, role, "s3:GetObject", f"{arn['bronze']}/cdc/x.gz")
    assert not _may(document, role, "s3:ListBucket", arn["bronze"])


def test_gold_writes_lists_and_prunes_the_insights_export(each_stage):
    values, document, role = _identity(each_stage, "Etl", each_stage.todo.etl.glue_roles["gold"])
    gold = _layer_arns(each_stage, values)["gold"]
    export_file = f"{gold}/{insights_export_prefix('gold-20261203T140000000000Z')}part-00000.json.gz"
    # Spark's writer reads back what it wrote; old run folders are deleted by the job.
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert _may(document, role, action, export_file), action
        assert _may(document, role, action, f"{gold}/{INSIGHTS_EXPORT_MANIFEST}"), action
    assert _may(document, role, "s3:ListBucket", gold, **{"s3:prefix": insights_export_prefix("x")})


@pytest.mark.parametrize("job", ["silver", "gold", "maintenance"])
def test_glue_roles_carry_no_object_lock_tagging_or_acl_actions(each_stage, job):
    actions = _actions(_role_statements(each_stage, "Etl", each_stage.todo.etl.glue_roles[job]))
    s3_actions = {a for a in actions if a.startswith("s3:")}
    assert s3_actions == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListBucket",
        "s3:GetBucketLocation",
    }
    assert not [a for a in actions if "*" in a and a.startswith("s3:")]


@pytest.mark.parametrize("job", ["silver", "gold", "maintenance"])
def test_glue_roles_read_their_own_script_and_the_library_by_exact_key(each_stage, job):
    etl = each_stage.todo.etl
    statements = _role_statements(each_stage, "Etl", etl.glue_roles[job])
    rendered = [json.dumps(r) for s in statements for r in _listed(s["Resource"])]
    asset_objects = [r for r in rendered if "cdk-" in r and "assets" in r]
    assert len(asset_objects) == 2  # the job's script and the shared-module zip
    assert all(".py" in r or ".zip" in r for r in asset_objects)
    assert not [r for r in rendered if "cdk-" in r and r.rstrip('"').endswith("/*")]
    job_props = next(
        j["Properties"]
        for j in each_stage.resources("Etl", "AWS::Glue::Job").values()
        if j["Properties"]["Name"].endswith(job)
    )
    script_key = job_props["Command"]["ScriptLocation"]["Fn::Sub"].rsplit("/", 1)[1]
    assert any(script_key in r for r in asset_objects)


# --- trust and key policies -----------------------------------------------------------------------


def test_every_service_trust_policy_is_bound_to_this_account(each_stage):
    for part in ("Data", "Api", "Etl", "Monitoring"):
        for logical_id, role in each_stage.resources(part, "AWS::IAM::Role").items():
            for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
                if "Service" not in statement.get("Principal", {}):
                    continue
                keys = {k for block in statement.get("Condition", {}).values() for k in block}
                assert keys & set(ACCOUNT_BOUND), (
                    f"{part}/{logical_id} trusts {statement['Principal']} unconditionally"
                )


def test_every_key_policy_statement_for_a_service_is_scoped(each_stage):
    for part in ("Data", "Api", "Etl", "Monitoring"):
        for logical_id, key in each_stage.resources(part, "AWS::KMS::Key").items():
            for statement in key["Properties"]["KeyPolicy"]["Statement"]:
                if "Service" in statement.get("Principal", {}):
                    assert statement.get("Condition"), (
                        f"{part}/{logical_id}: {statement['Principal']} unscoped"
                    )


# --- metrics function -----------------------------------------------------------------------------


def test_metrics_function_may_list_only_under_the_kpi_snapshot_key(each_stage):
    monitoring = each_stage.todo.monitoring
    values, document, role = _identity(each_stage, "Monitoring", monitoring.metrics_function.role)
    gold = values.arn("Etl", each_stage.logical_id("Etl", each_stage.todo.etl.gold))
    assert _may(document, role, "s3:GetObject", f"{gold}/{KPI_EXPORT_KEY}")
    assert _may(document, role, "s3:ListBucket", gold, **{"s3:prefix": KPI_EXPORT_KEY})
    assert not _may(document, role, "s3:ListBucket", gold, **{"s3:prefix": "user_engagement/"})
    assert not _may(document, role, "s3:ListBucket", gold)
    assert not _may(document, role, "s3:GetObject", f"{gold}/user_engagement/part-0.parquet")


# --- insights loader (ADR 0014) -------------------------------------------------------------------


def test_insights_loader_writes_only_conditional_items_and_reads_only_the_export(each_stage):
    etl = each_stage.todo.etl
    function = etl.insights_loader_function
    statements = _role_statements(each_stage, "Etl", function.role)
    # TransactWriteItems is authorized per item action: a ConditionCheck and a Put per user.
    assert {a for a in _actions(statements) if a.startswith("dynamodb:")} == {
        "dynamodb:ConditionCheckItem",
        "dynamodb:PutItem",
    }
    assert {a for a in _actions(statements) if a.startswith("s3:")} == {"s3:GetObject", "s3:ListBucket"}
    values, document, role = _identity(each_stage, "Etl", function.role)
    table = values.arn("Data", each_stage.logical_id("Data", each_stage.todo.data.table))
    assert _may(document, role, "dynamodb:PutItem", table)
    assert _may(document, role, "dynamodb:ConditionCheckItem", table)
    for action in ("dynamodb:DeleteItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Scan"):
        assert not _may(document, role, action, table), action
    assert not _may(document, role, "dynamodb:PutItem", f"{table}/index/by-status")
    gold = values.arn("Etl", each_stage.logical_id("Etl", etl.gold))
    assert _may(document, role, "s3:GetObject", f"{gold}/exports/user_insights/latest.json")
    assert _may(document, role, "s3:GetObject", f"{gold}/exports/user_insights/run=r1/part-00000.json.gz")
    assert _may(document, role, "s3:ListBucket", gold, **{"s3:prefix": "exports/user_insights/run=r1/"})
    assert not _may(document, role, "s3:ListBucket", gold)
    assert not _may(document, role, "s3:ListBucket", gold, **{"s3:prefix": "user_engagement/"})
    assert not _may(document, role, "s3:GetObject", f"{gold}/{KPI_EXPORT_KEY}")
    assert not _may(document, role, "s3:GetObject", f"{gold}/user_insights/data/part-0.parquet")
    assert not _may(document, role, "s3:PutObject", f"{gold}/exports/user_insights/latest.json")
    key = values.arn("Data", each_stage.logical_id("Data", each_stage.todo.data.table_key))
    assert _may(
        document, role, "kms:Decrypt", key, **{"kms:ViaService": f"dynamodb.{ENV.region}.amazonaws.com"}
    )
    assert not _may(document, role, "kms:Decrypt", key)
