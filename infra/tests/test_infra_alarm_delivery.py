"""Every alarm can reach someone: the topic and key policies, evaluated for each publisher.

The alarm topic's policy (TLS deny + EventBridge allow) replaces SNS's default one; without an
Allow for CloudWatch no alarm would ever notify. These tests evaluate the synthesized policies
with the request keys each service really sends, so "an alarm cannot publish" fails the build.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from todo_infra.policy.alarm_delivery import check_assembly, load_assembly, main
from todo_infra.policy.evaluator import (
    Effect,
    Principal,
    Request,
    UnsupportedPolicyError,
    evaluate,
)
from todo_infra.policy.template_values import Environment

pytestmark = pytest.mark.infra

ENV = Environment()


def _templates(synth) -> dict[str, dict[str, Any]]:
    return copy.deepcopy(dict(synth.templates))


def _problems(templates) -> list[str]:
    return [p for outcome in check_assembly(templates, ENV) for p in outcome.problems]


def _resource(templates, kind) -> dict[str, Any]:
    found = [r for r in templates["Monitoring"]["Resources"].values() if r["Type"] == kind]
    assert len(found) == 1
    return found[0]


def _topic_statements(templates) -> list[dict[str, Any]]:
    return _resource(templates, "AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]["Statement"]


def _key_statements(templates) -> list[dict[str, Any]]:
    keys = [
        r
        for r in templates["Monitoring"]["Resources"].values()
        if r["Type"] == "AWS::KMS::Key" and "alarm topic" in r["Properties"].get("Description", "")
    ]
    return keys[0]["Properties"]["KeyPolicy"]["Statement"]


def _for(statements, service) -> list[dict[str, Any]]:
    return [s for s in statements if service in json.dumps(s.get("Principal", {}))]


# --- the synthesized stacks ----------------------------------------------------------------------


def test_every_alarm_and_the_glue_rule_can_publish_to_the_alarm_topic(each_stage):
    outcomes = check_assembly(each_stage.templates, ENV)
    assert [o.topic for o in outcomes] == [
        each_stage.logical_id("Monitoring", each_stage.todo.monitoring.topic)
    ]
    results = outcomes[0].results
    alarms: set[str] = set()  # from the template, not from the code that built it
    for resource in each_stage.template("Monitoring")["Resources"].values():
        if resource["Type"] in {"AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"}:
            alarms.add(f"alarm {resource['Properties']['AlarmName']}")
    assert len(alarms) == len(each_stage.todo.monitoring.alarms)
    expected = alarms | {f"rule {each_stage.todo.config.prefix}-glue-job-failed"}
    assert set(results) == expected
    assert results == dict.fromkeys(expected, "ok")


def test_the_check_runs_on_a_cloud_assembly_folder(dev, capsys):
    assert main([str(dev.outdir)]) == 0
    assert "0 problem(s)" in capsys.readouterr().out
    assert set(load_assembly(dev.outdir)) == {s.stack_name for s in dev.todo.stacks}


def test_without_a_cloudwatch_allow_on_the_topic_every_alarm_is_reported(dev):
    # Given the topic policy as it was before the fix (TLS deny + EventBridge allow only)
    templates = _templates(dev)
    statements = _topic_statements(templates)
    statements[:] = [s for s in statements if "cloudwatch" not in json.dumps(s.get("Principal", {}))]
    # Then every alarm is reported, and the EventBridge rule still passes
    problems = _problems(templates)
    assert len(problems) == len(dev.todo.monitoring.alarms)
    assert all("alarm " in p and "topic policy: sns:Publish implicitly denied" in p for p in problems)


def test_without_cloudwatch_in_the_key_policy_every_alarm_is_reported(dev):
    templates = _templates(dev)
    statements = _key_statements(templates)
    statements[:] = [s for s in statements if "cloudwatch" not in json.dumps(s.get("Principal", {}))]
    problems = _problems(templates)
    assert len(problems) == len(dev.todo.monitoring.alarms)
    assert all("key policy: kms:GenerateDataKey implicitly denied" in p for p in problems)


def test_source_conditions_on_the_eventbridge_statements_would_drop_every_glue_failure(dev):
    # EventBridge sends no aws:SourceArn on this path: a "hardened" statement silently drops events.
    templates = _templates(dev)
    for statement in _for(_key_statements(templates), "events.amazonaws.com"):
        statement.setdefault("Condition", {})["ArnLike"] = {"aws:SourceArn": "arn:aws:events:*:*:rule/*"}
    problems = _problems(templates)
    assert len(problems) == 1
    assert "glue-job-failed" in problems[0]
    assert "key policy: kms:GenerateDataKey implicitly denied" in problems[0]


def test_a_new_alarm_of_the_stage_is_checked_with_no_change_to_the_check(dev):
    """A later alarm (the loader's, say) is found in the template; a name outside the stage's
    prefix falls outside the CloudWatch statement's SourceArn scope and is reported."""
    templates = _templates(dev)
    resources = templates["Monitoring"]["Resources"]
    topic_id = dev.logical_id("Monitoring", dev.todo.monitoring.topic)
    template_alarm = next(r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm")
    for logical_id, name in (
        ("LoaderAlarm", "todo-insights-dev-loader-errors"),
        ("StrayAlarm", "loader-errors"),
    ):
        alarm = copy.deepcopy(template_alarm)
        alarm["Properties"]["AlarmName"] = name
        alarm["Properties"]["AlarmActions"] = [{"Ref": topic_id}]
        resources[logical_id] = alarm
    results = check_assembly(templates, ENV)[0].results
    assert results["alarm todo-insights-dev-loader-errors"] == "ok"
    assert results["alarm loader-errors"] == "topic policy: sns:Publish implicitly denied"


def test_a_role_that_publishes_needs_the_topic_key_too(dev):
    templates = _templates(dev)
    resources = templates["Monitoring"]["Resources"]
    topic_id = dev.logical_id("Monitoring", dev.todo.monitoring.topic)
    resources["PublisherRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {"RoleName": "publisher", "AssumeRolePolicyDocument": {"Statement": []}},
    }
    publish = {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": topic_id}}
    resources["PublisherPolicy"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {"PolicyDocument": {"Statement": [publish]}, "Roles": [{"Ref": "PublisherRole"}]},
    }
    assert check_assembly(templates, ENV)[0].results["role PublisherPolicy"] == (
        "role policy: kms:GenerateDataKey not allowed on the topic key"
    )
    key_id = dev.logical_id("Monitoring", dev.todo.monitoring.topic_key)
    publish_key = {
        "Effect": "Allow",
        "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
        "Resource": {"Fn::GetAtt": [key_id, "Arn"]},
    }
    resources["PublisherPolicy"]["Properties"]["PolicyDocument"]["Statement"].append(publish_key)
    assert check_assembly(templates, ENV)[0].results["role PublisherPolicy"] == "ok"


def test_cloudwatch_may_publish_only_for_alarms_of_this_stage_in_this_account(dev):
    templates = _templates(dev)
    from todo_infra.policy.template_values import TemplateValues

    values = TemplateValues(templates, ENV)
    policy = values.resolve(
        "Monitoring", _resource(templates, "AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]
    )
    topic_arn = f"arn:aws:sns:{ENV.region}:{ENV.account}:todo-insights-dev-alarms"

    def publish(account: str, alarm: str) -> Effect:
        context = {
            "aws:SourceAccount": account,
            "aws:SourceArn": f"arn:aws:cloudwatch:{ENV.region}:{account}:alarm:{alarm}",
            "aws:SecureTransport": True,
        }
        return evaluate(
            policy, Request(Principal.service("cloudwatch.amazonaws.com"), "sns:Publish", topic_arn, context)
        ).effect

    assert publish(ENV.account, "todo-insights-dev-cdc-iterator-age") is Effect.ALLOWED
    assert publish("999999999999", "todo-insights-dev-cdc-iterator-age") is Effect.IMPLICIT_DENY
    assert publish(ENV.account, "todo-insights-prod-cdc-iterator-age") is Effect.IMPLICIT_DENY
    plain_http = {"aws:SecureTransport": False}
    anyone = Request(
        Principal.aws(f"arn:aws:iam::{ENV.account}:role/x"), "sns:Publish", topic_arn, plain_http
    )
    assert evaluate(policy, anyone).effect is Effect.EXPLICIT_DENY


# --- the evaluator itself -------------------------------------------------------------------------


def _allow(**extra: Any) -> dict[str, Any]:
    return {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "x.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": "arn:aws:sns:r:1:t",
                **extra,
            }
        ]
    }


def _ask(context: dict[str, Any] | None = None, action: str = "sns:Publish") -> Request:
    return Request(Principal.service("x.amazonaws.com"), action, "arn:aws:sns:r:1:t", context or {})


def test_an_explicit_deny_wins_over_an_allow():
    policy = _allow()
    policy["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": "sns:*", "Resource": "*"})
    assert evaluate(policy, _ask()).effect is Effect.EXPLICIT_DENY


def test_actions_match_case_insensitively_with_wildcards_and_principals_exactly():
    assert evaluate(_allow(Action="SNS:Pub*"), _ask()).allowed
    assert not evaluate(_allow(), _ask(action="sns:Subscribe")).allowed
    other = Request(Principal.service("y.amazonaws.com"), "sns:Publish", "arn:aws:sns:r:1:t")
    assert not evaluate(_allow(), other).allowed


def test_a_condition_on_an_absent_key_fails_unless_if_exists_or_negated():
    equals = _allow(Condition={"StringEquals": {"aws:SourceAccount": "1"}})
    assert not evaluate(equals, _ask()).allowed
    assert evaluate(equals, _ask({"aws:sourceaccount": "1"})).allowed  # keys are case-insensitive
    assert not evaluate(equals, _ask({"aws:SourceAccount": "2"})).allowed
    if_exists = _allow(Condition={"StringEqualsIfExists": {"aws:SourceAccount": "1"}})
    assert evaluate(if_exists, _ask()).allowed
    assert not evaluate(if_exists, _ask({"aws:SourceAccount": "2"})).allowed
    negated = _allow(Condition={"StringNotEquals": {"aws:SourceAccount": "2"}})
    assert evaluate(negated, _ask()).allowed
    assert not evaluate(negated, _ask({"aws:SourceAccount": "2"})).allowed


def test_arn_like_bool_and_null_conditions():
    arn = _allow(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:r:1:alarm:app-*"}})
    assert evaluate(arn, _ask({"aws:SourceArn": "arn:aws:cloudwatch:r:1:alarm:app-x"})).allowed
    assert not evaluate(arn, _ask({"aws:SourceArn": "arn:aws:cloudwatch:r:1:alarm:other"})).allowed
    tls = _allow(Condition={"Bool": {"aws:SecureTransport": "true"}})
    assert evaluate(tls, _ask({"aws:SecureTransport": True})).allowed
    assert not evaluate(tls, _ask({"aws:SecureTransport": False})).allowed
    absent = _allow(Condition={"Null": {"aws:SourceArn": "true"}})
    assert evaluate(absent, _ask()).allowed
    assert not evaluate(absent, _ask({"aws:SourceArn": "x"})).allowed


def test_an_account_in_a_resource_policy_stands_for_its_principals():
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::1:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
    }
    mine = Request(Principal.aws("arn:aws:iam::1:role/r"), "kms:Decrypt", "k")
    theirs = Request(Principal.aws("arn:aws:iam::2:role/r"), "kms:Decrypt", "k")
    assert evaluate(policy, mine).allowed
    assert not evaluate(policy, theirs).allowed


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "NotPrincipal": {"AWS": "x"}, "Action": "*", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"ForAnyValue:StringEquals": {"k": "v"}},
        },
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"k": "1"}}},
    ],
)
def test_grammar_it_does_not_implement_is_refused_rather_than_guessed(statement):
    with pytest.raises(UnsupportedPolicyError):
        evaluate({"Statement": [statement]}, _ask({"k": "v"}))
