"""Monitoring stack: encrypted topic, every SPEC 8 alarm (runbook-linked, notifying), dashboard."""

from __future__ import annotations

import json
import re

import pytest

from todo_infra.packaging import REPO_ROOT

pytestmark = pytest.mark.infra

RUNBOOK = REPO_ROOT / "docs" / "runbooks" / "alarms.md"
REQUIRED_ALARMS = {
    "api-4xx-rate",
    "api-lambda-duration-p99",
    "api-lambda-throttles",
    "api-errors",
    "cdc-lambda-errors",
    "cdc-iterator-age",
    "cdc-dlq-depth",
    "firehose-cdc-delivery-failures",
    "firehose-cdc-freshness",
    "firehose-logs-delivery-failures",
    "firehose-logs-freshness",
    "dynamodb-throttles",
    "dynamodb-system-errors",
    "kpi-staleness",
    "pipeline-silver-anomalies",
    "pipeline-gold-anomalies",
    "pipeline-maintenance-anomalies",
    "erasure-overdue",
    "insights-loader-errors",
    "insights-lag",
    "insights-loader-dlq-depth",
}


def _runbook_sections() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^## (\S+)\s*$", RUNBOOK.read_text(), flags=re.MULTILINE)}


def _all_alarms(synth):
    found = {}
    for part in ("Api", "Monitoring"):
        for kind in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
            for logical_id, alarm in synth.resources(part, kind).items():
                found[(part, logical_id)] = alarm["Properties"]
    return found


def test_topic_is_kms_encrypted_tls_only_and_mails_the_stage_address(each_stage):
    topic_id, topic = next(iter(each_stage.resources("Monitoring", "AWS::SNS::Topic").items()))
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    assert each_stage.template("Monitoring")["Resources"][key_id]["Type"] == "AWS::KMS::Key"
    policy = each_stage.one("Monitoring", "AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
        for s in policy["Statement"]
    )
    subscription = each_stage.one("Monitoring", "AWS::SNS::Subscription")["Properties"]
    assert subscription == {
        "Endpoint": each_stage.todo.config.alarm_email,
        "Protocol": "email",
        "TopicArn": {"Ref": topic_id},
    }


def test_every_spec_alarm_exists(each_stage):
    assert set(each_stage.todo.monitoring.alarms) == REQUIRED_ALARMS
    rollback = {a.node.id for a in each_stage.todo.api.rollback_alarms}
    assert rollback == {"Api5xxRateAlarm", "ApiLambdaErrorsAlarm"}


def test_every_alarm_names_an_existing_runbook_section(each_stage):
    sections = _runbook_sections()
    for (part, logical_id), alarm in _all_alarms(each_stage).items():
        match = re.search(r"Runbook: docs/runbooks/alarms\.md#(\S+)$", alarm["AlarmDescription"])
        assert match, f"{part}/{logical_id} has no runbook link"
        assert match.group(1) in sections, f"{part}/{logical_id} links to a missing section {match.group(1)}"


def test_every_monitoring_alarm_notifies_the_topic(each_stage):
    topic_id = next(iter(each_stage.resources("Monitoring", "AWS::SNS::Topic")))
    for (part, logical_id), alarm in _all_alarms(each_stage).items():
        if part == "Monitoring":
            assert alarm["AlarmActions"] == [{"Ref": topic_id}], logical_id


def test_api_stack_alarms_reach_the_topic_through_the_composite(each_stage):
    composite = each_stage.one("Monitoring", "AWS::CloudWatch::CompositeAlarm")["Properties"]
    rule = json.dumps(composite["AlarmRule"])
    assert rule.count("ALARM(") == 2
    assert rule.count("Fn::ImportValue") == 2
    assert len(each_stage.resources("Api", "AWS::CloudWatch::Alarm")) == 2


def test_iterator_age_and_dlq_alarms_watch_the_cdc_path(each_stage):
    alarms = each_stage.todo.monitoring.alarms
    iterator = each_stage.template("Monitoring")["Resources"][
        each_stage.logical_id("Monitoring", alarms["cdc-iterator-age"])
    ]
    assert iterator["Properties"]["MetricName"] == "IteratorAge"
    assert iterator["Properties"]["Statistic"] == "Maximum"
    dlq = each_stage.template("Monitoring")["Resources"][
        each_stage.logical_id("Monitoring", alarms["cdc-dlq-depth"])
    ]
    assert dlq["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert (dlq["Properties"]["Threshold"], dlq["Properties"]["ComparisonOperator"]) == (
        0,
        "GreaterThanThreshold",
    )


def test_kpi_staleness_treats_missing_data_as_breaching(each_stage):
    alarm = each_stage.todo.monitoring.alarms["kpi-staleness"]
    props = each_stage.template("Monitoring")["Resources"][each_stage.logical_id("Monitoring", alarm)][
        "Properties"
    ]
    assert props["MetricName"] == "KpiSnapshotAgeSeconds"
    assert props["TreatMissingData"] == "breaching"


@pytest.mark.parametrize("job", ["silver", "gold"])
def test_pipeline_run_anomalies_alarm_per_job(each_stage, job):
    alarm = each_stage.todo.monitoring.alarms[f"pipeline-{job}-anomalies"]
    props = each_stage.template("Monitoring")["Resources"][each_stage.logical_id("Monitoring", alarm)][
        "Properties"
    ]
    assert (props["Namespace"], props["MetricName"]) == ("TodoInsights", "PipelineRunAnomalies")
    assert props["Dimensions"] == [{"Name": "Job", "Value": job}]
    assert (props["Statistic"], props["Period"]) == ("Sum", 3600)
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (1, 1)
    assert props["TreatMissingData"] == "notBreaching"
    topic_id = next(iter(each_stage.resources("Monitoring", "AWS::SNS::Topic")))
    assert props["AlarmActions"] == [{"Ref": topic_id}]
    assert props["AlarmName"] == f"{each_stage.todo.config.prefix}-pipeline-{job}-anomalies"
    assert props["AlarmDescription"].endswith("Runbook: docs/runbooks/alarms.md#pipeline-run-anomalies")
    assert "pipeline-run-anomalies" in _runbook_sections()


def test_erasure_overdue_pages_when_the_erase_step_has_not_finished_for_two_days(each_stage):
    """The erase step publishes its run metrics only when it finished; the alarm counts them per
    day, and a day without any (no run, or runs that failed) breaches."""
    from todo_etl.glue.erasure import ERASURE_JOB
    from todo_etl.glue.run_log import RunSummary
    from todo_etl.glue.run_metrics import NAMESPACE, run_metric_data

    alarm = each_stage.todo.monitoring.alarms["erasure-overdue"]
    props = each_stage.template("Monitoring")["Resources"][each_stage.logical_id("Monitoring", alarm)][
        "Properties"
    ]
    assert props["Dimensions"] == [{"Name": "Job", "Value": ERASURE_JOB}]
    assert (props["Statistic"], props["Period"]) == ("SampleCount", 86400)
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (2, 2)
    assert props["TreatMissingData"] == "breaching"
    assert props["AlarmDescription"].endswith("Runbook: docs/runbooks/alarms.md#erasure-overdue")
    assert "erasure-overdue" in _runbook_sections()
    summary = RunSummary(
        job=ERASURE_JOB,
        run_id="e1",
        status="succeeded",
        started_at="2024-03-01T00:00:00Z",
        ended_at="2024-03-01T00:01:00Z",
    )
    published = {(NAMESPACE, d["MetricName"], d["Dimensions"][0]["Value"]) for d in run_metric_data(summary)}
    assert (props["Namespace"], props["MetricName"], ERASURE_JOB) in published


def test_pipeline_anomalies_alarm_watches_what_the_glue_jobs_publish(each_stage):
    """The alarm's metric is the one the jobs' run metrics carry, dimensioned by the job key."""
    from todo_etl.glue.run_log import RunSummary
    from todo_etl.glue.run_metrics import NAMESPACE, publish_run_metrics

    class Recorder:
        def __init__(self):
            self.calls = []

        def put_metric_data(self, *, Namespace, MetricData):  # noqa: N803
            self.calls.append({"Namespace": Namespace, "MetricData": MetricData})

    alarms = [
        each_stage.template("Monitoring")["Resources"][each_stage.logical_id("Monitoring", alarm)][
            "Properties"
        ]
        for section, alarm in each_stage.todo.monitoring.alarms.items()
        if section.startswith("pipeline-")
    ]
    watched = {(a["Namespace"], a["MetricName"], a["Dimensions"][0]["Value"]) for a in alarms}
    assert len(watched) == len(each_stage.todo.etl.glue_jobs) == 3
    for job in each_stage.todo.etl.glue_jobs:
        recorder = Recorder()
        summary = RunSummary(
            job=job,
            run_id="r1",
            status="succeeded",
            started_at="2024-03-01T00:00:00Z",
            ended_at="2024-03-01T00:05:00Z",
            anomalies=[{"kind": "row_drop", "table": "gold_x", "previous": 10, "current": 1}],
        )
        publish_run_metrics(summary, recorder)
        (call,) = recorder.calls
        published = {
            (call["Namespace"], d["MetricName"], d["Dimensions"][0]["Value"])
            for d in call["MetricData"]
            if d["Dimensions"] == [{"Name": "Job", "Value": job}]
        }
        assert (NAMESPACE, "PipelineRunAnomalies", job) in published
        assert (NAMESPACE, "PipelineRunAnomalies", job) in watched


def test_glue_failures_are_routed_to_the_topic_with_a_runbook_link(each_stage):
    rules = each_stage.resources("Monitoring", "AWS::Events::Rule")
    glue_rule = next(r["Properties"] for r in rules.values() if "EventPattern" in r["Properties"])
    pattern = glue_rule["EventPattern"]
    assert pattern["source"] == ["aws.glue"]
    assert pattern["detail-type"] == ["Glue Job State Change"]
    assert set(pattern["detail"]["state"]) == {"FAILED", "TIMEOUT", "ERROR"}
    assert len(pattern["detail"]["jobName"]) == 3  # silver, gold, maintenance
    assert "#glue-job-failed" in glue_rule["Description"]
    topic_id = next(iter(each_stage.resources("Monitoring", "AWS::SNS::Topic")))
    target = glue_rule["Targets"][0]
    assert target["Arn"] == {"Ref": topic_id}
    assert "glue-job-failed" in json.dumps(target["InputTransformer"])
    assert "glue-job-failed" in _runbook_sections()


def test_dashboard_has_every_section(each_stage):
    body = json.dumps(
        each_stage.one("Monitoring", "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"]
    )
    sections = each_stage.todo.monitoring.overview.sections
    assert len(sections) == 7  # which ones, in which order: the OverviewDashboard construct test
    for section in sections:
        assert f"## {section}" in body
    assert "InsightsLagSeconds" in body
    assert body.count("PipelineRunAnomalies") == 3
    for metric in (
        "TotalUsers",
        "ActiveUsers",
        "TotalTasks",
        "CompletedTasks",
        "CompletionRate",
        "AvgTasksPerUser",
    ):
        assert metric in body


def test_metrics_function_runs_on_a_schedule_and_reads_only_the_kpi_export(each_stage):
    function = next(
        f["Properties"]
        for f in each_stage.resources("Monitoring", "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "todo_etl.metrics.handler.handler"
    )
    assert "Fn::ImportValue" in json.dumps(function["Environment"]["Variables"]["GOLD_BUCKET"])
    schedule = next(
        r["Properties"]
        for r in each_stage.resources("Monitoring", "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    )
    assert schedule["ScheduleExpression"].startswith("rate(")
    statements = [
        s
        for p in each_stage.resources("Monitoring", "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "s3:GetObject" in json.dumps(s["Action"])
    ]
    assert [s["Action"] for s in statements] == ["s3:GetObject"]
    resource = json.dumps(statements[0]["Resource"])
    assert resource.endswith('"/exports/business_kpis_latest.json"]]}')
    assert "*" not in resource


def test_insights_lag_alarm_watches_the_loaders_metric_and_breaches_on_missing_data(each_stage):
    alarms = each_stage.todo.monitoring.alarms
    resources = each_stage.template("Monitoring")["Resources"]
    lag = resources[each_stage.logical_id("Monitoring", alarms["insights-lag"])]["Properties"]
    assert (lag["Namespace"], lag["MetricName"]) == ("TodoInsights", "InsightsLagSeconds")
    assert lag["Dimensions"] == [
        {"Name": "service", "Value": f"{each_stage.todo.config.prefix}-insights-loader"}
    ]
    assert lag["Threshold"] == 2 * 3600  # twice the hourly gold schedule
    assert lag["Period"] == 3600
    assert lag["TreatMissingData"] == "breaching"
    errors = resources[each_stage.logical_id("Monitoring", alarms["insights-loader-errors"])]["Properties"]
    assert errors["MetricName"] == "Errors"
    assert "InsightsLoaderFunction" in json.dumps(errors["Dimensions"])  # the loader, from Etl
    assert (errors["Threshold"], errors["EvaluationPeriods"]) == (0, 1)
    for section in ("insights-lag", "insights-loader-errors", "insights-loader-dlq-depth"):
        assert section in _runbook_sections()
