"""Etl stack: locked-down buckets, CDC mapping, Firehose layout, catalog, Glue jobs, Athena."""

from __future__ import annotations

import json

import pytest

from todo_contracts.lake_layout import (
    BRONZE_TABLES,
    CDC_FOLDER,
    GOLD_TABLES,
    ICEBERG_TABLES,
    LOGS_FOLDER,
    PIPELINE_RUNS,
    SILVER_TABLES,
    firehose_error_prefix,
    firehose_prefix,
)
from todo_etl.glue.catalog_settings import GLUE_CATALOG, ICEBERG_EXTENSIONS, SHARED_CATALOG_PROPERTIES
from todo_etl.glue.entry import OPTIONAL_ARGUMENTS, JobArgumentError, job_arguments, required_arguments
from todo_etl.queries import load_queries
from todo_infra.stage_config import stage_config

pytestmark = pytest.mark.infra


def _bucket_ids(synth):
    etl = synth.todo.etl
    return {
        name: synth.logical_id("Etl", bucket)
        for name, bucket in {
            "access_logs": etl.access_logs,
            "bronze": etl.bronze,
            "silver": etl.silver,
            "gold": etl.gold,
            "query_results": etl.query_results,
        }.items()
    }


def test_every_bucket_blocks_public_access_encrypts_and_logs_access(each_stage):
    buckets = each_stage.resources("Etl", "AWS::S3::Bucket")
    ids = _bucket_ids(each_stage)
    assert set(ids.values()) == set(buckets)
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        if logical_id != ids["access_logs"]:
            assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": ids["access_logs"]}


def test_every_bucket_denies_plain_http(each_stage):
    policies = each_stage.resources("Etl", "AWS::S3::BucketPolicy")
    secured = set()
    for policy in policies.values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if (
                statement["Effect"] == "Deny"
                and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            ):
                secured.add(policy["Properties"]["Bucket"]["Ref"])
    assert secured == set(each_stage.resources("Etl", "AWS::S3::Bucket"))


def test_bronze_is_versioned_and_moves_to_cheaper_storage(each_stage):
    bronze = each_stage.template("Etl")["Resources"][_bucket_ids(each_stage)["bronze"]]["Properties"]
    assert bronze["VersioningConfiguration"] == {"Status": "Enabled"}
    transitions = bronze["LifecycleConfiguration"]["Rules"][0]["Transitions"]
    assert [t["StorageClass"] for t in transitions] == ["STANDARD_IA", "GLACIER_IR"]


def test_bronze_versions_replaced_by_the_erase_step_expire_within_the_gdpr_month(each_stage):
    bronze = each_stage.template("Etl")["Resources"][_bucket_ids(each_stage)["bronze"]]["Properties"]
    (rule,) = bronze["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert "Prefix" not in rule  # every folder: cdc and logs alike
    # The erase step runs daily (maintenance job); S3 applies lifecycle rules within about 2 days.
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] + 1 + 2 <= 30


def test_only_the_maintenance_job_may_rewrite_bronze(each_stage):
    bronze_id = _bucket_ids(each_stage)["bronze"]
    roles = each_stage.resources("Etl", "AWS::IAM::Policy")
    writers = set()
    for policy in roles.values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "s3:PutObject" in _actions(statement) and bronze_id in json.dumps(statement["Resource"]):
                writers |= {r["Ref"] for r in policy["Properties"]["Roles"]}
    role_ids = {
        name: each_stage.logical_id("Etl", role) for name, role in each_stage.todo.etl.glue_roles.items()
    }
    assert role_ids["maintenance"] in writers
    assert not {role_ids["silver"], role_ids["gold"]} & writers


def test_lake_buckets_are_retained_in_prod_and_emptied_on_delete_in_dev(dev, prod):
    assert {b["DeletionPolicy"] for b in prod.resources("Etl", "AWS::S3::Bucket").values()} == {"Retain"}
    assert {b["DeletionPolicy"] for b in dev.resources("Etl", "AWS::S3::Bucket").values()} == {"Delete"}
    assert dev.resources("Etl", "Custom::S3AutoDeleteObjects")
    assert not prod.resources("Etl", "Custom::S3AutoDeleteObjects")


def test_stream_mapping_reports_partial_failures_bisects_caps_retries_and_dead_letters(each_stage):
    mapping = each_stage.one("Etl", "AWS::Lambda::EventSourceMapping")["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 <= mapping["MaximumRetryAttempts"] <= 10
    assert 60 <= mapping["MaximumRecordAgeInSeconds"] < 24 * 3600
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert "StreamArn" in json.dumps(mapping["EventSourceArn"])
    dlq_id = each_stage.logical_id("Etl", each_stage.todo.etl.cdc_dlq)
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    dlq = each_stage.template("Etl")["Resources"][dlq_id]["Properties"]
    assert dlq["SqsManagedSseEnabled"] is True


def test_cdc_function_runs_the_cdc_handler_and_knows_its_delivery_stream(each_stage):
    cdc = next(
        f["Properties"]
        for f in each_stage.resources("Etl", "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "todo_etl.cdc.handler.handler"
    )
    assert cdc["Architectures"] == ["arm64"]
    stream_id = each_stage.logical_id("Etl", each_stage.todo.etl.cdc_stream)
    env = cdc["Environment"]["Variables"]
    assert env["CDC_DELIVERY_STREAM"] == {"Ref": stream_id}
    assert env["CDC_DEAD_LETTER_BUCKET"] == {"Ref": _bucket_ids(each_stage)["bronze"]}


def _streams(synth):
    streams = synth.resources("Etl", "AWS::KinesisFirehose::DeliveryStream")
    return {
        s["Properties"]["DeliveryStreamName"].rsplit("-", 1)[-1]: s["Properties"] for s in streams.values()
    }


def test_firehose_streams_write_gzip_to_the_shared_bronze_layout(each_stage):
    streams = _streams(each_stage)
    assert set(streams) == {CDC_FOLDER, LOGS_FOLDER}
    bronze_id = _bucket_ids(each_stage)["bronze"]
    for folder, stream in streams.items():
        s3 = stream["ExtendedS3DestinationConfiguration"]
        assert s3["BucketARN"] == {"Fn::GetAtt": [bronze_id, "Arn"]}
        assert s3["Prefix"] == firehose_prefix(folder)
        assert s3["ErrorOutputPrefix"] == firehose_error_prefix(folder)
        assert s3["CompressionFormat"] == "GZIP"
        assert s3["BufferingHints"]["IntervalInSeconds"] <= 300
        assert s3["CloudWatchLoggingOptions"]["Enabled"] is True
        assert stream["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] == "AWS_OWNED_CMK"


def test_logs_stream_decompresses_and_extracts_cloudwatch_messages(each_stage):
    processing = _streams(each_stage)[LOGS_FOLDER]["ExtendedS3DestinationConfiguration"][
        "ProcessingConfiguration"
    ]
    assert processing["Enabled"] is True
    assert [p["Type"] for p in processing["Processors"]] == [
        "Decompression",
        "CloudWatchLogProcessing",
        "AppendDelimiterToRecord",
    ]
    assert (
        "ProcessingConfiguration"
        not in _streams(each_stage)[CDC_FOLDER]["ExtendedS3DestinationConfiguration"]
    )


def test_api_access_logs_are_subscribed_into_the_logs_stream(each_stage):
    subscription = each_stage.one("Etl", "AWS::Logs::SubscriptionFilter")["Properties"]
    assert subscription["FilterPattern"] == '{ $.log_type = "access" }'
    assert "Fn::ImportValue" in json.dumps(subscription["LogGroupName"])
    role_id = subscription["RoleArn"]["Fn::GetAtt"][0]
    role = each_stage.template("Etl")["Resources"][role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "logs.amazonaws.com"}


def test_catalog_declares_the_bronze_tables_and_leaves_iceberg_tables_to_the_jobs(each_stage):
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"]
        for t in each_stage.resources("Etl", "AWS::Glue::Table").values()
    }
    # An Iceberg table declared in CloudFormation loses its metadata pointer on the next update.
    assert set(tables) == {t.name for t in BRONZE_TABLES}
    assert not set(tables) & {t.name for t in ICEBERG_TABLES}
    for lake_table in BRONZE_TABLES:
        table = tables[lake_table.name]
        descriptor = table["StorageDescriptor"]
        assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == [
            (c.name, c.type) for c in lake_table.columns
        ]
        assert descriptor["Location"]["Fn::Join"][1][-1] == f"/{lake_table.folder}/"
        assert descriptor["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
        assert [p["Name"] for p in table["PartitionKeys"]] == ["year", "month", "day", "hour"]
        assert table["Parameters"]["projection.enabled"] == "true"
        assert table["Parameters"]["projection.month.digits"] == "2"


def _conf(arguments):
    """The `--conf` job argument as a dict of Spark settings."""
    return dict(pair.split("=", 1) for pair in arguments["--conf"].split(" --conf "))


def test_glue_jobs_use_glue_5_1_iceberg_through_the_glue_catalog(each_stage):
    silver_bucket = _bucket_ids(each_stage)["silver"]
    for job in each_stage.resources("Etl", "AWS::Glue::Job").values():
        args = job["Properties"]["DefaultArguments"]
        assert args["--datalake-formats"] == "iceberg"
        conf = _conf({"--conf": _render(args["--conf"])})
        prefix = f"spark.sql.catalog.{GLUE_CATALOG}"
        assert conf["spark.sql.extensions"] == ICEBERG_EXTENSIONS
        assert conf[prefix] == "org.apache.iceberg.spark.SparkCatalog"
        assert conf[f"{prefix}.catalog-impl"] == "org.apache.iceberg.aws.glue.GlueCatalog"
        assert conf[f"{prefix}.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
        assert conf[f"{prefix}.warehouse"] == f"s3://<{silver_bucket}>/"
        # The same behaviour settings as the local catalog (no stale table cache).
        assert {k: conf[f"{prefix}.{k}"] for k in SHARED_CATALOG_PROPERTIES} == SHARED_CATALOG_PROPERTIES


def _catalog_statements(synth, job):
    return [s for s in _glue_role_statements(synth, job) if any(a.startswith("glue:") for a in _actions(s))]


def _table_names(statement, database):
    names = set()
    for resource in statement["Resource"]:
        text = _render(resource)
        if f":table/{database}/" in text:
            names.add(text.rsplit("/", 1)[-1])
    return names


def test_each_job_may_create_and_commit_only_its_own_iceberg_tables(each_stage):
    database = each_stage.todo.etl.database_name
    silver_tables = {t.name for t in SILVER_TABLES} | {PIPELINE_RUNS.name}
    expected_writes = {
        "silver": silver_tables,
        "gold": {t.name for t in GOLD_TABLES},
        "maintenance": {t.name for t in ICEBERG_TABLES},
    }
    for job, writes in expected_writes.items():
        statements = _catalog_statements(each_stage, job)
        commit = [s for s in statements if "glue:UpdateTable" in _actions(s)]
        assert len(commit) == 1, job
        # (CDK merges it with the lookup statement when both name the same tables.)
        assert (
            {"glue:CreateTable", "glue:UpdateTable"}
            <= set(_actions(commit[0]))
            <= {
                "glue:CreateTable",
                "glue:UpdateTable",
                "glue:GetDatabase",
                "glue:GetTable",
            }
        )
        assert _table_names(commit[0], database) == writes, job
        for statement in statements:
            text = json.dumps(statement["Resource"])
            assert "table/*" not in text, job
            assert f"table/{database}/*" not in text, job
            assert not {"glue:DeleteTable", "glue:DeleteDatabase", "glue:CreateDatabase"} & set(
                _actions(statement)
            ), job
    # Gold reads silver's tables but never commits to them.
    reads = [s for s in _catalog_statements(each_stage, "gold") if "glue:GetTable" in _actions(s)]
    assert {t.name for t in SILVER_TABLES} <= _table_names(reads[0], database)


def test_maintenance_runs_daily_with_the_stage_retention(each_stage):
    config = each_stage.todo.config
    triggers = [t["Properties"] for t in each_stage.resources("Etl", "AWS::Glue::Trigger").values()]
    jobs = {
        j["Properties"]["Name"].rsplit("-", 1)[-1]: (lid, j["Properties"])
        for lid, j in each_stage.resources("Etl", "AWS::Glue::Job").items()
    }
    logical_id, job = jobs["maintenance"]
    daily = [t for t in triggers if t["Actions"] == [{"JobName": {"Ref": logical_id}}]]
    assert len(daily) == 1
    assert daily[0]["Type"] == "SCHEDULED"
    assert daily[0]["Schedule"] == config.maintenance_schedule
    assert "WorkflowName" not in daily[0]  # not part of the hourly silver → gold workflow
    argv = _job_argv("maintenance-job", job["DefaultArguments"])
    resolved = job_arguments(argv, _glue_resolver, "maintenance")
    assert resolved.maintenance == config.lake_maintenance
    assert resolved.rollback is None


def test_analysts_get_a_query_policy_and_a_maintainer_policy_for_iceberg_dml(each_stage):
    prefix = each_stage.todo.config.prefix
    documents = {
        p["Properties"]["ManagedPolicyName"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in each_stage.resources("Etl", "AWS::IAM::ManagedPolicy").values()
    }
    assert set(documents) == {f"{prefix}-analyst-query", f"{prefix}-lake-maintainer"}

    def actions(name, *, outside_results=False):
        return {
            a
            for s in documents[name]
            if not (outside_results and "athena/" in json.dumps(s["Resource"]))
            for a in _actions(s)
        }

    assert "athena:StartQueryExecution" in actions(f"{prefix}-analyst-query")
    # Querying writes nothing but its own results.
    assert not {"glue:UpdateTable", "s3:PutObject", "s3:DeleteObject"} & actions(
        f"{prefix}-analyst-query", outside_results=True
    )
    # DML, OPTIMIZE and VACUUM commit through the catalog and write and delete data files.
    assert {"glue:UpdateTable", "s3:PutObject", "s3:DeleteObject"} <= actions(f"{prefix}-lake-maintainer")


@pytest.mark.parametrize("stage_name", ["dev", "prod"])
def test_glue_jobs_run_glue_5_1_with_encryption_and_stage_sized_workers(stage_name, request):
    synth = request.getfixturevalue(stage_name)
    config = stage_config(stage_name)
    jobs = {
        j["Properties"]["Name"].rsplit("-", 1)[-1]: j["Properties"]
        for j in synth.resources("Etl", "AWS::Glue::Job").values()
    }
    assert set(jobs) == {"silver", "gold", "maintenance"}
    security_id = next(iter(synth.resources("Etl", "AWS::Glue::SecurityConfiguration")))
    sized = (
        ("silver", config.silver_workers),
        ("gold", config.gold_workers),
        ("maintenance", config.maintenance_workers),
    )
    for name, workers in sized:
        job = jobs[name]
        assert job["GlueVersion"] == "5.1"
        assert (job["Command"]["Name"], job["Command"]["PythonVersion"]) == ("glueetl", "3")
        assert (job["WorkerType"], job["NumberOfWorkers"]) == (workers.worker_type, workers.count)
        assert job["SecurityConfiguration"] == {"Ref": security_id}
        args = job["DefaultArguments"]
        assert args["--job-bookmark-option"] == "job-bookmark-disable"
        assert args["--enable-continuous-cloudwatch-log"] == "true"
        assert args["--extra-py-files"]["Fn::Sub"].startswith("s3://cdk-")
        assert args["--extra-py-files"]["Fn::Sub"].endswith(".zip")
        assert job["Command"]["ScriptLocation"]["Fn::Sub"].endswith(".py")
        assert {"--silver_uri", "--gold_uri", "--database"} <= args.keys()
    security = synth.one("Etl", "AWS::Glue::SecurityConfiguration")["Properties"]["EncryptionConfiguration"]
    # Logs are encrypted by the job log groups' own key (see the log-group tests below).
    assert security["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "DISABLED"
    assert security["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
    assert security["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-S3"


def _glue_resolver(argv, names):
    """Stands in for awsglue's getResolvedOptions: `--name value` pairs, a missing name is fatal."""
    pairs = dict(zip(argv[1::2], argv[2::2], strict=False))
    missing = [name for name in names if f"--{name}" not in pairs]
    if missing:
        raise SystemExit(f"missing {missing}")
    return {name: pairs[f"--{name}"] for name in names}


def _render(value):
    """A template value as text, with `<LogicalId>` where CloudFormation fills in a bucket name."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(_render(part) for part in parts)
    if "Ref" in value:
        return f"<{value['Ref']}>"
    return json.dumps(value)


def _job_argv(job_name, default_arguments):
    """argv as Glue builds it: script name, the job's default arguments, then `--JOB_NAME`."""
    argv = ["script.py"]
    for key, value in default_arguments.items():
        argv += [key, _render(value)]
    return [*argv, "--JOB_NAME", job_name]


def test_glue_jobs_pass_every_argument_the_entry_scripts_require(each_stage):
    etl = each_stage.todo.etl
    for name, job in etl.glue_jobs.items():
        args = each_stage.resources("Etl", "AWS::Glue::Job")[each_stage.logical_id("Etl", job)]["Properties"][
            "DefaultArguments"
        ]
        # Glue adds JOB_NAME itself; the job definition must supply the rest, and no lake URI more.
        required = {f"--{a}" for a in required_arguments(name) if a != "JOB_NAME"}
        assert required <= args.keys(), name
        assert {a for a in args if a.endswith("_uri")} == {a for a in required if a.endswith("_uri")}, name
        # Scheduled runs are incremental with the jobs' own lookback: a default full rebuild
        # would rewrite the lake every hour. Only maintenance takes (its retention) arguments.
        passed = {f"--{a}" for a in OPTIONAL_ARGUMENTS} & args.keys()
        if name == "maintenance":
            assert passed == {
                "--snapshot_retention_hours",
                "--retain_last_snapshots",
                "--orphan_min_age_hours",
            }
        else:
            assert not passed, name
        resolved = job_arguments(_job_argv(f"{name}-job", args), _glue_resolver, name)
        assert resolved.job_name == f"{name}-job"
        assert resolved.full_rebuild is False
        buckets = _bucket_ids(each_stage)
        # Each layer URI is its bucket's root: the jobs add the table folders from lake_layout.
        assert (resolved.bronze_uri, resolved.silver_uri, resolved.gold_uri) == tuple(
            f"s3://<{buckets[layer]}>" if (name != "gold" or layer != "bronze") else None
            for layer in ("bronze", "silver", "gold")
        ), name


def test_a_job_definition_without_the_lake_uris_would_be_refused_by_the_entry_script():
    common = [
        "script.py",
        "--JOB_NAME",
        "x",
        "--database",
        "d",
        "--silver_uri",
        "s3://s",
        "--gold_uri",
        "s3://g",
    ]
    with pytest.raises(SystemExit, match="bronze_uri"):
        job_arguments(common, _glue_resolver, "silver")
    # The same definition is whole for gold, which never reads bronze.
    assert job_arguments(common, _glue_resolver, "gold").bronze_uri is None
    bad_flag = [*common, "--bronze_uri", "s3://b", "--full_rebuild", "maybe"]
    with pytest.raises(JobArgumentError, match="full_rebuild"):
        job_arguments(bad_flag, _glue_resolver, "silver")


def test_silver_runs_on_a_schedule_and_gold_starts_when_silver_succeeds(each_stage):
    triggers = {
        t["Properties"]["Type"]: t["Properties"]
        for t in each_stage.resources("Etl", "AWS::Glue::Trigger").values()
    }
    jobs = {
        j["Properties"]["Name"].rsplit("-", 1)[-1]: lid
        for lid, j in each_stage.resources("Etl", "AWS::Glue::Job").items()
    }
    scheduled = next(
        t["Properties"]
        for t in each_stage.resources("Etl", "AWS::Glue::Trigger").values()
        if t["Properties"]["Type"] == "SCHEDULED" and "WorkflowName" in t["Properties"]
    )
    conditional = triggers["CONDITIONAL"]
    assert scheduled["Schedule"].startswith("cron(")
    assert scheduled["Actions"] == [{"JobName": {"Ref": jobs["silver"]}}]
    assert conditional["Predicate"]["Conditions"] == [
        {"JobName": {"Ref": jobs["silver"]}, "LogicalOperator": "EQUALS", "State": "SUCCEEDED"}
    ]
    assert conditional["Actions"] == [{"JobName": {"Ref": jobs["gold"]}}]
    assert (scheduled["StartOnCreation"], conditional["StartOnCreation"]) == (True, True)
    workflow_id = next(iter(each_stage.resources("Etl", "AWS::Glue::Workflow")))
    assert scheduled["WorkflowName"] == conditional["WorkflowName"] == {"Ref": workflow_id}


@pytest.mark.parametrize("stage_name", ["dev", "prod"])
def test_athena_workgroup_enforces_engine_v3_a_scan_cutoff_and_encrypted_results(stage_name, request):
    synth = request.getfixturevalue(stage_name)
    config = synth.one("Etl", "AWS::Athena::WorkGroup")["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"
    assert config["BytesScannedCutoffPerQuery"] == stage_config(stage_name).athena_bytes_scanned_cutoff
    results = config["ResultConfiguration"]
    assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"
    assert _bucket_ids(synth)["query_results"] in json.dumps(results["OutputLocation"])


def test_one_named_query_per_sql_file(each_stage):
    queries = {
        q["Properties"]["Name"]: q["Properties"]
        for q in each_stage.resources("Etl", "AWS::Athena::NamedQuery").values()
    }
    expected = {q.name: q for q in load_queries()}
    assert expected, "the query folder must not be empty"
    assert set(queries) == set(expected)
    workgroup_id = next(iter(each_stage.resources("Etl", "AWS::Athena::WorkGroup")))
    for name, query in queries.items():
        assert query["QueryString"] == expected[name].sql
        assert query["Database"] == f"todo_insights_{each_stage.todo.config.name}"
        assert query["WorkGroup"] == {"Ref": workgroup_id}


def _glue_log_group_names(synth):
    """The log groups Glue 5.x writes a job's logs to: `<--custom-logGroup-prefix>/error|output`."""
    names = {}
    for job in synth.resources("Etl", "AWS::Glue::Job").values():
        prefix = job["Properties"]["DefaultArguments"]["--custom-logGroup-prefix"]
        names[job["Properties"]["Name"]] = {f"{prefix}/error", f"{prefix}/output"}
    return names


def test_every_log_group_has_a_retention(each_stage):
    created = set()
    for part in ("Data", "Api", "Etl", "Monitoring"):
        for log_group in each_stage.resources(part, "AWS::Logs::LogGroup").values():
            assert log_group["Properties"]["RetentionInDays"] == each_stage.todo.config.log_retention_days
            created.add(json.dumps(log_group["Properties"].get("LogGroupName")).strip('"'))
    # Groups that services write to at run time must be among them, or they would get none.
    glue_groups = set().union(*_glue_log_group_names(each_stage).values())
    assert len(glue_groups) == 6  # two per job: silver, gold, maintenance
    assert glue_groups <= created


def test_glue_jobs_log_to_their_own_encrypted_log_groups(each_stage):
    config = each_stage.todo.config
    groups = {
        g["Properties"]["LogGroupName"]: g
        for g in each_stage.resources("Etl", "AWS::Logs::LogGroup").values()
    }
    key_id = each_stage.logical_id("Etl", each_stage.todo.etl.glue_key)
    per_job = _glue_log_group_names(each_stage)
    assert set(per_job) == {f"{config.prefix}-{job}" for job in ("silver", "gold", "maintenance")}
    for job_name, names in per_job.items():
        assert names == {f"/aws-glue/jobs/{job_name}/error", f"/aws-glue/jobs/{job_name}/output"}
        for name in names:
            group = groups[name]
            assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
            # A fixed name: retained on delete, but removed when a failed first create rolls back.
            assert group["DeletionPolicy"] == ("RetainExceptOnCreate" if config.retain_data else "Delete")


def _glue_role_statements(synth, job=None):
    roles = synth.todo.etl.glue_roles
    role_ids = {synth.logical_id("Etl", role) for name, role in roles.items() if job in (None, name)}
    return [
        statement
        for policy in synth.resources("Etl", "AWS::IAM::Policy").values()
        if any({"Ref": role_id} in policy["Properties"]["Roles"] for role_id in role_ids)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement):
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def test_glue_role_may_write_logs_only_to_the_job_log_groups(each_stage):
    group_ids = {
        logical_id
        for logical_id, group in each_stage.resources("Etl", "AWS::Logs::LogGroup").items()
        if group["Properties"]["LogGroupName"].startswith("/aws-glue/jobs/")
    }
    assert len(group_ids) == 6
    logs_statements = [
        s for s in _glue_role_statements(each_stage) if any(a.startswith("logs:") for a in _actions(s))
    ]
    written_to = set()
    for statement in logs_statements:
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for resource in resources:
            text = json.dumps(resource)
            assert "/aws-glue/*" not in text, statement
            assert text != '"*"', statement
            if "logs:PutLogEvents" in _actions(statement):
                # The log-group ARN attribute (`...:log-group:<name>:*`): streams of that group only.
                assert resource["Fn::GetAtt"][1] == "Arn"
                written_to.add(resource["Fn::GetAtt"][0])
        assert "logs:AssociateKmsKey" not in _actions(statement)
    assert written_to == group_ids
    create = [s for s in logs_statements if "logs:CreateLogGroup" in _actions(s)]
    assert len(create) == 3  # one per job role, each naming its own two groups
    assert all(len(c["Resource"]) == 2 for c in create)
    assert all("*" not in json.dumps(r) for c in create for r in c["Resource"])


def test_only_the_job_log_groups_may_use_the_glue_key_through_cloudwatch_logs(each_stage):
    key = each_stage.template("Etl")["Resources"][each_stage.logical_id("Etl", each_stage.todo.etl.glue_key)]
    logs_statements = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if "logs." in json.dumps(s["Principal"].get("Service", ""))
    ]
    assert len(logs_statements) == 1
    allowed = logs_statements[0]["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]
    rendered = {_render(arn).rsplit(":log-group:", 1)[1] for arn in allowed}
    assert rendered == set().union(*_glue_log_group_names(each_stage).values())


def test_cdc_metrics_and_logs_are_named_per_stage(each_stage):
    cdc = next(
        f["Properties"]
        for f in each_stage.resources("Etl", "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "todo_etl.cdc.handler.handler"
    )
    assert (
        cdc["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == f"{each_stage.todo.config.prefix}-cdc"
    )


def test_fixed_name_resources_survive_a_failed_first_deploy_in_prod(prod):
    """RetainExceptOnCreate: retained on delete and replacement, removed when the create itself
    rolls back, so the retry does not fail with "already exists"."""
    named = {
        "Data": ["AWS::DynamoDB::Table"],
        "Api": ["AWS::SecretsManager::Secret", "AWS::Logs::LogGroup"],
        "Etl": ["AWS::SQS::Queue", "AWS::Logs::LogGroup"],
        "Monitoring": ["AWS::Logs::LogGroup"],
    }
    checked = 0
    for part, kinds in named.items():
        for kind in kinds:
            for logical_id, resource in prod.resources(part, kind).items():
                assert resource["DeletionPolicy"] == "RetainExceptOnCreate", f"{part}/{logical_id}"
                assert resource["UpdateReplacePolicy"] == "Retain", f"{part}/{logical_id}"
                checked += 1
    assert checked >= 12


# --- insights loader (ADR 0014) -------------------------------------------------------------------


def _insights_loader(synth):
    return next(
        f["Properties"]
        for f in synth.resources("Etl", "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "todo_etl.insights.handler.handler"
    )


def test_the_insights_loader_runs_when_a_gold_run_succeeds_with_retries_and_a_dead_letter_queue(each_stage):
    etl = each_stage.todo.etl
    function_id = each_stage.logical_id("Etl", etl.insights_loader_function)
    gold_job_id = each_stage.logical_id("Etl", etl.glue_jobs["gold"])
    dlq_id = each_stage.logical_id("Etl", etl.insights_dlq)
    rule = each_stage.template("Etl")["Resources"][each_stage.logical_id("Etl", etl.gold_succeeded_rule)]
    props = rule["Properties"]
    assert props["EventPattern"] == {
        "source": ["aws.glue"],
        "detail-type": ["Glue Job State Change"],
        "detail": {"jobName": [{"Ref": gold_job_id}], "state": ["SUCCEEDED"]},
    }
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    invoke_config = each_stage.one("Etl", "AWS::Lambda::EventInvokeConfig")["Properties"]
    assert invoke_config["MaximumRetryAttempts"] == 2
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    loader = _insights_loader(each_stage)
    variables = loader["Environment"]["Variables"]
    assert variables["GOLD_JOB_NAME"] == {"Ref": gold_job_id}
    assert variables["POWERTOOLS_SERVICE_NAME"] == f"{each_stage.todo.config.prefix}-insights-loader"
    assert "Fn::ImportValue" in json.dumps(variables["TABLE_NAME"])
    assert (loader["Runtime"], loader["Architectures"]) == ("python3.12", ["arm64"])
    log_groups = [
        g["Properties"]
        for g in each_stage.resources("Etl", "AWS::Logs::LogGroup").values()
        if g["Properties"].get("LogGroupName")
        == f"/aws/lambda/{each_stage.todo.config.prefix}-insights-loader"
    ]
    assert len(log_groups) == 1
    assert log_groups[0]["RetentionInDays"] == each_stage.todo.config.log_retention_days


def test_old_insights_export_folders_expire_on_the_gold_bucket(each_stage):
    gold = each_stage.template("Etl")["Resources"][each_stage.logical_id("Etl", each_stage.todo.etl.gold)]
    rules = gold["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {
        "Id": "expire-old-insights-exports",
        "Prefix": "exports/user_insights/run=",
        "ExpirationInDays": 7,
        "Status": "Enabled",
    } in rules
