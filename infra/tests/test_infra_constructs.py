"""Each construct the stacks are composed of, synthesized on its own in a bare stack.

And the guard of the split into constructs: the stateful and named resources of every stack keep
the logical ids they had (a changed id makes CloudFormation replace the resource).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from constructs import Construct

from todo_contracts.lake_layout import CDC_FOLDER, GLUE_JOB_LAYERS
from todo_contracts.limits import STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS, WAF_WINDOW_SECONDS
from todo_infra.constructs.alarms_to_on_call import AlarmsToOnCall
from todo_infra.constructs.bronze_delivery import BronzeDeliveryStream
from todo_infra.constructs.cdc_pipeline import CdcPipeline
from todo_infra.constructs.glue_lake_jobs import GLUE_JOB_NAMES, GlueLakeJobs
from todo_infra.constructs.insights_loader import InsightsLoader
from todo_infra.constructs.overview_dashboard import OverviewDashboard
from todo_infra.constructs.python_function import PythonFunction
from todo_infra.constructs.queued_function import QueuedFunction
from todo_infra.constructs.rate_limited_web_acl import RATE_LIMITED_BODY, RateLimitedWebAcl
from todo_infra.constructs.stack_part import StackPart
from todo_infra.observability import RUNBOOK_PATH
from todo_infra.stage_config import stage_config

pytestmark = pytest.mark.infra

CONFIG = stage_config("dev")


def _stack() -> Stack:
    return Stack(App(), "Bare")


def _table(stack: Stack) -> dynamodb.Table:
    return dynamodb.Table(
        stack,
        "Table",
        partition_key=dynamodb.Attribute(name="PK", type=dynamodb.AttributeType.STRING),
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=kms.Key(stack, "TableKey"),
        stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    )


def _only(template: Template, resource_type: str) -> dict[str, Any]:
    found = template.find_resources(resource_type)
    assert len(found) == 1, sorted(found)
    return next(iter(found.values()))


def _logical_id(template: Template, resource_type: str) -> str:
    found = template.find_resources(resource_type)
    assert len(found) == 1, sorted(found)
    return next(iter(found))


def test_a_stack_part_creates_its_resources_beside_itself_so_their_logical_ids_stay() -> None:
    class Part(StackPart):
        def __init__(self, scope: Construct, construct_id: str) -> None:
            super().__init__(scope, construct_id)
            self.queue = sqs.Queue(self.home, "Queue")

    stack = _stack()
    part = Part(stack, "Part")
    assert part.home is stack
    assert part.queue.node.scope is stack
    assert _logical_id(Template.from_stack(stack), "AWS::SQS::Queue").startswith("Queue")


def test_a_function_may_not_set_the_environment_every_function_gets(build_output) -> None:
    with pytest.raises(ValueError, match="POWERTOOLS_LOG_LEVEL, STAGE are set for every function"):
        PythonFunction(
            _stack(),
            "F",
            config=CONFIG,
            built=build_output.function("cdc"),
            family="cdc",
            description="test",
            memory_mb=256,
            timeout=Duration.seconds(10),
            environment={"STAGE": "other", "POWERTOOLS_LOG_LEVEL": "DEBUG", "EXTRA": "1"},
        )


def test_a_queued_function_has_its_dead_letter_queue_and_the_project_environment(build_output) -> None:
    stack = _stack()
    queued = QueuedFunction(
        stack,
        "Queued",
        config=CONFIG,
        built=build_output.function("cdc"),
        family="cdc",
        function_id="CdcFunction",
        queue_id="CdcDeadLetters",
        description="test",
        memory_mb=256,
        timeout=Duration.seconds(10),
        environment={"EXTRA": "1"},
        dead_letters_of="a test",
    )
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": f"{CONFIG.prefix}-cdc-dlq",
            "SqsManagedSseEnabled": True,
            "MessageRetentionPeriod": 14 * 24 * 3600,
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": f"{CONFIG.prefix}-cdc",
            "Environment": {
                "Variables": {
                    "EXTRA": "1",
                    "STAGE": CONFIG.name,
                    "POWERTOOLS_SERVICE_NAME": f"{CONFIG.prefix}-cdc",
                    "POWERTOOLS_METRICS_NAMESPACE": "TodoInsights",
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                }
            },
        },
    )
    # The TLS-only queue policy comes with enforce_ssl.
    template.resource_count_is("AWS::SQS::QueuePolicy", 1)
    assert _logical_id(template, "AWS::SQS::Queue").startswith("CdcDeadLetters")
    assert queued.function is queued.python_function.function


def test_a_bronze_delivery_stream_writes_its_own_folder_only() -> None:
    stack = _stack()
    bronze = s3.Bucket(stack, "Bronze")
    BronzeDeliveryStream(stack, "ToBronze", config=CONFIG, bronze=bronze, folder="logs", stream_id="Logs")
    template = Template.from_stack(stack)
    stream = _only(template, "AWS::KinesisFirehose::DeliveryStream")["Properties"]
    destination = stream["ExtendedS3DestinationConfiguration"]
    assert stream["DeliveryStreamName"] == f"{CONFIG.prefix}-logs"
    assert destination["Prefix"].startswith("logs/")
    assert destination["CompressionFormat"] == "GZIP"
    policy = json.dumps(_only(template, "AWS::IAM::Policy")["Properties"]["PolicyDocument"])
    assert '"/logs/*"' in policy
    assert '"/errors/logs/*"' in policy
    assert "s3:GetObject" not in policy
    assert "s3:DeleteObject" not in policy
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": f"/aws/kinesisfirehose/{CONFIG.prefix}-logs"}
    )


def test_the_cdc_pipeline_maps_the_stream_to_the_function_with_its_dead_letters(build_output) -> None:
    stack = _stack()
    table = _table(stack)
    bronze = s3.Bucket(stack, "Bronze")
    pipeline = CdcPipeline(
        stack, "Cdc", config=CONFIG, table=table, bronze=bronze, bundle=build_output.function("cdc")
    )
    template = Template.from_stack(stack)
    dlq_id = stack.resolve(pipeline.dlq.node.default_child.logical_id)  # type: ignore[union-attr]
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": STREAM_BATCH_SIZE,
            "MaximumRetryAttempts": STREAM_RETRY_ATTEMPTS,
            "BisectBatchOnFunctionError": True,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ParallelizationFactor": 1,
            "StartingPosition": "TRIM_HORIZON",
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq_id, "Arn"]}}},
        },
    )
    template.resource_count_is("AWS::KinesisFirehose::DeliveryStream", 1)
    function = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": f"{CONFIG.prefix}-cdc"}}
    )
    (props,) = (f["Properties"] for f in function.values())
    assert set(props["Environment"]["Variables"]) >= {"CDC_DELIVERY_STREAM", "CDC_DEAD_LETTER_BUCKET"}
    assert pipeline.delivery.folder == CDC_FOLDER


def test_the_glue_lake_jobs_are_three_jobs_with_own_roles_logs_and_triggers(build_output) -> None:
    stack = _stack()
    buckets = {name: s3.Bucket(stack, name.title()) for name in ("bronze", "silver", "gold")}
    jobs = GlueLakeJobs(
        stack, "Jobs", config=CONFIG, database_name="db", artifacts=build_output.glue, **buckets
    )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Glue::Job", 3)
    template.resource_count_is("AWS::Glue::Trigger", 3)
    template.resource_count_is("AWS::Glue::Workflow", 1)
    template.resource_count_is("AWS::Logs::LogGroup", 2 * len(GLUE_JOB_NAMES))
    assert set(jobs.jobs) == set(jobs.roles) == set(GLUE_JOB_NAMES)
    for name in GLUE_JOB_NAMES:
        props = template.find_resources("AWS::Glue::Job", {"Properties": {"Name": f"{CONFIG.prefix}-{name}"}})
        (job,) = props.values()
        args = job["Properties"]["DefaultArguments"]
        uris = {"--silver_uri", "--gold_uri"} | ({"--bronze_uri"} if name != "gold" else set())
        assert uris | {"--database"} <= args.keys()
        assert ("--bronze_uri" in args) is (name != "gold")  # gold never reads bronze
        assert args["--database"] == "db"
        assert args["--custom-logGroup-prefix"] == f"/aws-glue/jobs/{CONFIG.prefix}-{name}"
        role_id = stack.resolve(jobs.roles[name].node.default_child.logical_id)  # type: ignore[union-attr]
        assert job["Properties"]["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}
    template.has_resource_properties(
        "AWS::Glue::Trigger", {"Type": "CONDITIONAL", "Name": f"{CONFIG.prefix}-gold-after-silver"}
    )
    # Each role reaches exactly the buckets of the layers its job is handed (GLUE_JOB_LAYERS): the
    # job definition and the role are two statements of one fact.
    bucket_ids = {
        layer: stack.resolve(bucket.node.default_child.logical_id) for layer, bucket in buckets.items()
    }  # type: ignore[union-attr]
    policies = template.find_resources("AWS::IAM::Policy")
    for name in GLUE_JOB_NAMES:
        role_id = stack.resolve(jobs.roles[name].node.default_child.logical_id)  # type: ignore[union-attr]
        documents = json.dumps(
            [
                p["Properties"]["PolicyDocument"]
                for p in policies.values()
                if {"Ref": role_id} in p["Properties"]["Roles"]
            ]
        )
        reached = {layer for layer, bucket_id in bucket_ids.items() if f'"{bucket_id}"' in documents}
        assert reached == {layer.value for layer in GLUE_JOB_LAYERS[name]}, name


def test_the_insights_loader_runs_on_gold_success_and_dead_letters_what_it_cannot_load(build_output) -> None:
    stack = _stack()
    table = _table(stack)
    gold = s3.Bucket(stack, "Gold")
    gold_job = glue.CfnJob(
        stack, "GoldJob", role="arn:aws:iam::111111111111:role/x", command=glue.CfnJob.JobCommandProperty()
    )
    loader = InsightsLoader(
        stack,
        "Loader",
        config=CONFIG,
        table=table,
        gold=gold,
        gold_job=gold_job,
        bundle=build_output.function("insights"),
    )
    template = Template.from_stack(stack)
    dlq_id = stack.resolve(loader.dlq.node.default_child.logical_id)  # type: ignore[union-attr]
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {"detail": {"jobName": [{"Ref": "GoldJob"}], "state": ["SUCCEEDED"]}},
            "Targets": [Match.object_like({"DeadLetterConfig": {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}})],
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq_id, "Arn"]}}},
        },
    )
    template.has_resource_properties("AWS::SQS::Queue", {"QueueName": f"{CONFIG.prefix}-insights-loader-dlq"})


def test_the_rate_limited_web_acl_limits_each_caller_and_answers_429_in_the_envelope() -> None:
    stack = _stack()
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("GET")
    RateLimitedWebAcl(stack, "Waf", name="acl", limit=123, stage=api.deployment_stage)
    template = Template.from_stack(stack)
    acl = _only(template, "AWS::WAFv2::WebACL")["Properties"]
    rate_rules = [r for r in acl["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert [r["Name"] for r in rate_rules] == ["rate-per-caller", "rate-per-ip-anonymous"]
    for rule in rate_rules:
        statement = rule["Statement"]["RateBasedStatement"]
        assert (statement["Limit"], statement["EvaluationWindowSec"]) == (123, WAF_WINDOW_SECONDS)
        assert rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    assert acl["CustomResponseBodies"]["rate-limited"]["Content"] == RATE_LIMITED_BODY
    assert {r["Name"] for r in acl["Rules"]} >= {"aws-common", "aws-known-bad-inputs"}
    association = _only(template, "AWS::WAFv2::WebACLAssociation")["Properties"]
    assert association["WebACLArn"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}


def test_alarms_to_on_call_link_a_runbook_and_notify_the_encrypted_topic() -> None:
    stack = _stack()
    on_call = AlarmsToOnCall(stack, "OnCall", config=CONFIG)
    metric = cloudwatch.Metric(namespace="N", metric_name="M")
    alarm = on_call.alarm("some-thing", "Something happened.", metric, threshold=1)
    on_call.any_of("Both", "both-things", "Either.", [alarm])
    on_call.notify_on_event(
        "Rule", "an-event", "An event.", events.EventPattern(source=["aws.glue"]), "Something:"
    )
    with pytest.raises(ValueError, match="some-thing"):
        on_call.alarm("some-thing", "Again.", metric, threshold=1)
    template = Template.from_stack(stack)
    topic_id = _logical_id(template, "AWS::SNS::Topic")
    notify = [{"Ref": topic_id}]
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": f"{CONFIG.prefix}-some-thing",
            "AlarmDescription": f"Something happened. Runbook: {RUNBOOK_PATH}#some-thing",
            "AlarmActions": notify,
            "OKActions": notify,
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::CompositeAlarm",
        {"AlarmName": f"{CONFIG.prefix}-both-things", "AlarmActions": notify, "OKActions": notify},
    )
    rule = _only(template, "AWS::Events::Rule")["Properties"]
    assert rule["Name"] == f"{CONFIG.prefix}-an-event"
    assert rule["Targets"][0]["Arn"] == {"Ref": topic_id}
    assert rule["Targets"][0]["Input"] == json.dumps(f"Something: Runbook: {RUNBOOK_PATH}#an-event")
    assert set(on_call.alarms) == {"some-thing", "both-things"}
    assert _only(template, "AWS::SNS::Topic")["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0] == (
        _logical_id(template, "AWS::KMS::Key")
    )
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": CONFIG.alarm_email}
    )


def test_the_overview_dashboard_has_the_alarm_states_and_a_section_per_part(build_output) -> None:
    stack = _stack()
    table = _table(stack)
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("GET")
    pipeline = CdcPipeline(
        stack,
        "Cdc",
        config=CONFIG,
        table=table,
        bronze=s3.Bucket(stack, "B"),
        bundle=build_output.function("cdc"),
    )
    alarm = cloudwatch.Alarm(
        stack,
        "A",
        metric=cloudwatch.Metric(namespace="N", metric_name="M"),
        threshold=1,
        evaluation_periods=1,
    )
    overview = OverviewDashboard(
        stack,
        "Overview",
        config=CONFIG,
        alarms=[alarm],
        rest_api=api,
        functions={"cdc": pipeline.function},
        cdc_function=pipeline.function,
        cdc_dlq=pipeline.dlq,
        delivery_streams={CDC_FOLDER: pipeline.stream},
        glue_jobs={},
        table=table,
        insights_dlq=sqs.Queue(stack, "Q"),
    )
    template = Template.from_stack(stack)
    dashboard = _only(template, "AWS::CloudWatch::Dashboard")["Properties"]
    assert dashboard["DashboardName"] == f"{CONFIG.prefix}-overview"
    body = json.dumps(stack.resolve(dashboard["DashboardBody"]))
    # The SPEC's dashboard sections, in order; the stack test checks each stage renders them.
    assert overview.sections == (
        "API health",
        "Lambda performance",
        "CDC and delivery",
        "Glue jobs",
        "DynamoDB",
        "Business metrics",
        "Insights served back",
    )
    for section in overview.sections:
        assert f"## {section}" in body, section
    assert '\\"type\\":\\"alarm\\"' in body


# The stateful and named resources of each stack (dev), by the logical ids they had before the
# stacks were split into constructs: queues with dead letters, keys, buckets, log groups, the
# topic, the table, the secret, the pool, the catalog, the jobs, the web ACL, the dashboard.
KEPT_LOGICAL_IDS = {
    "Data": {"TableCD117FA1", "TableKeyF581D96F"},
    "Api": {
        "AccessLogs8B620ECA",
        "ApiFunctionLogsA98C1C37",
        "CursorKeyRotationLogs55BA1586",
        "CursorSecretABAE1358",
        "ExecutionLogs6FEE23C8",
        "UserPool6BA7E5F2",
        "WebAcl",
    },
    "Etl": {
        "AccessLogs8B620ECA",
        "Bronze2BD6FD35",
        "CatalogDatabaseE63956BB",
        "CdcDeadLettersF0463CB9",
        "CdcDeliveryLogs665DC142",
        "CdcFunctionLogs758D7BB1",
        "GlueKeyB0327A75",
        "Gold83B9B25C",
        "GoldJob",
        "GoldJobErrorLogs689A1350",
        "GoldJobOutputLogs9B6F4F24",
        "InsightsLoaderDeadLetters9C1F50BF",
        "InsightsLoaderLogs6CBA3A31",
        "LogsDeliveryLogs70211411",
        "MaintenanceJob",
        "MaintenanceJobErrorLogsDD22CED1",
        "MaintenanceJobOutputLogsB6901018",
        "QueryResults655BC675",
        "Silver060FFE09",
        "SilverJob",
        "SilverJobErrorLogsE643CD78",
        "SilverJobOutputLogs9ACC0CE2",
    },
    "Monitoring": {
        "AlarmTopicD01E77F9",
        "AlarmTopicKey57B0D3A7",
        "Dashboard9E4231ED",
        "MetricsFunctionLogs1BCDCB1C",
    },
}
KEPT_TYPES = (
    "AWS::SQS::Queue",
    "AWS::KMS::Key",
    "AWS::S3::Bucket",
    "AWS::Logs::LogGroup",
    "AWS::SNS::Topic",
    "AWS::DynamoDB::Table",
    "AWS::SecretsManager::Secret",
    "AWS::Cognito::UserPool",
    "AWS::Glue::Database",
    "AWS::Glue::Job",
    "AWS::WAFv2::WebACL",
    "AWS::CloudWatch::Dashboard",
)


@pytest.mark.parametrize("part", sorted(KEPT_LOGICAL_IDS))
def test_stateful_and_named_resources_keep_their_logical_ids(dev, part) -> None:
    found = {lid for t in KEPT_TYPES for lid in dev.resources(part, t)}
    assert found == KEPT_LOGICAL_IDS[part]


def test_every_alarm_keeps_the_logical_id_its_section_gives_it(dev) -> None:
    """Alarms are named resources too: `cdc-dlq-depth` is `CdcDlqDepthAlarm<hash>` as before."""
    from todo_infra.constructs.alarms_to_on_call import alarm_construct_id

    alarms = dev.resources("Monitoring", "AWS::CloudWatch::Alarm")
    for section, alarm in dev.todo.monitoring.alarms.items():
        if isinstance(alarm, cloudwatch.Alarm):
            logical_id = dev.logical_id("Monitoring", alarm)
            assert logical_id in alarms
            assert logical_id.startswith(alarm_construct_id(section)), section


def test_the_analyst_workgroup_enforces_its_settings_and_holds_the_named_queries() -> None:
    from todo_etl.queries import NamedQuery
    from todo_infra.constructs.analyst_workgroup import AnalystWorkgroup

    stack = _stack()
    lake = (s3.Bucket(stack, "Bronze"), s3.Bucket(stack, "Silver"), s3.Bucket(stack, "Gold"))
    query = NamedQuery(name="q1", title="Q1", description="The first.", sql="SELECT 1", path=Path("q1.sql"))
    analysts = AnalystWorkgroup(
        stack,
        "Analysts",
        config=CONFIG,
        database_name="db",
        lake=lake,
        query_results=s3.Bucket(stack, "Results"),
        queries=[query],
    )
    template = Template.from_stack(stack)
    workgroup = _only(template, "AWS::Athena::WorkGroup")["Properties"]
    settings = workgroup["WorkGroupConfiguration"]
    assert workgroup["Name"] == f"{CONFIG.prefix}-analysts"
    assert settings["EnforceWorkGroupConfiguration"] is True
    assert settings["BytesScannedCutoffPerQuery"] == CONFIG.athena_bytes_scanned_cutoff
    assert settings["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"
    named = _only(template, "AWS::Athena::NamedQuery")["Properties"]
    assert (named["Name"], named["Database"], named["QueryString"]) == ("q1", "db", "SELECT 1")
    assert named["WorkGroup"] == {"Ref": stack.resolve(analysts.workgroup.logical_id)}
    names = {
        p["Properties"]["ManagedPolicyName"]
        for p in template.find_resources("AWS::IAM::ManagedPolicy").values()
    }
    assert names == {f"{CONFIG.prefix}-analyst-query", f"{CONFIG.prefix}-lake-maintainer"}
