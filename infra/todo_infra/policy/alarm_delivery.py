"""Proves, from synthesized templates alone, that everything meant to notify a topic can publish to it.

A publisher is each CloudWatch alarm (metric or composite) naming the topic in an action, each
EventBridge rule targeting it, and each IAM role in the same template whose policy lets it publish.
Each must be allowed `sns:Publish` by the topic policy and `kms:GenerateDataKey` + `kms:Decrypt` by
the key policy of the topic's KMS key, given the request keys its service really sends. Adding an
alarm (a later loader alarm, say) needs no change here: it is found in the template.

Run it on a cloud assembly: `python -m todo_infra.policy.alarm_delivery infra/cdk.out`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from todo_infra.policy.evaluator import ContextValue, Decision, Principal, Request, evaluate
from todo_infra.policy.template_values import Environment, TemplateValues

TOPIC_TYPE = "AWS::SNS::Topic"
ALARM_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
ALARM_ACTIONS = ("AlarmActions", "OKActions", "InsufficientDataActions")
KMS_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


@dataclass(frozen=True)
class ServiceProfile:
    """Which condition keys a service puts in its requests, on the topic and on the key.

    CloudWatch sends `aws:SourceAccount` and `aws:SourceArn` (the alarm) on both. EventBridge sends
    neither: AWS documents that Condition blocks in a topic policy, and source keys in the key
    policy, do not work for EventBridge, so a statement conditioned on them silently drops every
    event. SNS itself adds the topic ARN as the KMS encryption context.
    """

    principal: str
    source_keys_on_topic: bool
    source_keys_on_key: bool


CLOUDWATCH = ServiceProfile("cloudwatch.amazonaws.com", source_keys_on_topic=True, source_keys_on_key=True)
EVENTBRIDGE = ServiceProfile("events.amazonaws.com", source_keys_on_topic=False, source_keys_on_key=False)


@dataclass(frozen=True)
class Publisher:
    """Something that notifies a topic, and what its requests carry."""

    description: str
    principal: Principal
    source_arn: str | None = None
    profile: ServiceProfile | None = None  # None for IAM principals
    identity_policies: tuple[Mapping[str, Any], ...] = ()


@dataclass
class TopicDelivery:
    """The outcome for one topic: each publisher and the first thing that would stop it."""

    template: str
    topic: str
    topic_arn: str
    results: dict[str, str] = field(default_factory=dict)  # publisher -> "ok" or the problem

    @property
    def problems(self) -> list[str]:
        return [
            f"{self.template}/{self.topic}: {who}: {what}"
            for who, what in self.results.items()
            if what != "ok"
        ]


def _refers_to(value: Any, logical_id: str) -> bool:
    return bool(value == {"Ref": logical_id})


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _action_covers(pattern: Any, action: str) -> bool:
    if not isinstance(pattern, str):
        return False
    probe = {"Statement": [{"Effect": "Allow", "Action": pattern, "Resource": "*"}]}
    return evaluate(probe, Request(Principal.aws("*"), action, "*")).allowed


def find_publishers(values: TemplateValues, template: str, topic: str) -> list[Publisher]:
    """Every alarm, rule and same-template IAM role that publishes to `topic`."""
    env = values.env
    resources = values.resources(template)
    found: list[Publisher] = []
    for logical_id, resource in sorted(resources.items()):
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind in ALARM_TYPES and any(
            _refers_to(action, topic) for name in ALARM_ACTIONS for action in props.get(name, [])
        ):
            name = values.resolve(template, props["AlarmName"])
            arn = f"arn:{env.partition}:cloudwatch:{env.region}:{env.account}:alarm:{name}"
            found.append(Publisher(f"alarm {name}", Principal.service(CLOUDWATCH.principal), arn, CLOUDWATCH))
        elif kind == "AWS::Events::Rule" and any(
            _refers_to(target.get("Arn"), topic) for target in props.get("Targets", [])
        ):
            name = values.resolve(template, props.get("Name", logical_id))
            arn = f"arn:{env.partition}:events:{env.region}:{env.account}:rule/{name}"
            found.append(
                Publisher(f"rule {name}", Principal.service(EVENTBRIDGE.principal), arn, EVENTBRIDGE)
            )
    topic_arn = values.arn(template, topic)
    for logical_id, resource in sorted(resources.items()):
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        # Only statements that could grant publishing (or the key use it needs) are resolved: the
        # others may name things (imports, attributes) this check has no reason to understand.
        statements = [
            values.resolve(template, statement)
            for statement in resource["Properties"]["PolicyDocument"].get("Statement", [])
            if statement.get("Effect") == "Allow"
            and any(
                _action_covers(a, action)
                for a in _listed(statement.get("Action", []))
                for action in ("sns:Publish", *KMS_ACTIONS)
            )
        ]
        if not statements:
            continue
        document = {"Statement": statements}
        for role in resource["Properties"].get("Roles", []):
            role_arn = f"arn:{env.partition}:iam::{env.account}:role/{values.resolve(template, role)}"
            if evaluate(document, Request(Principal.aws(role_arn), "sns:Publish", topic_arn)).allowed:
                found.append(
                    Publisher(f"role {logical_id}", Principal.aws(role_arn), identity_policies=(document,))
                )
    return found


def _context(
    publisher: Publisher, env: Environment, *, on_key: bool, topic_arn: str
) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {}
    profile = publisher.profile
    sends_source = profile is not None and (
        profile.source_keys_on_key if on_key else profile.source_keys_on_topic
    )
    if sends_source and publisher.source_arn:
        context["aws:SourceAccount"] = env.account
        context["aws:SourceArn"] = publisher.source_arn
    if on_key:
        context["kms:EncryptionContext:aws:sns:topicArn"] = topic_arn
    else:
        context["aws:SecureTransport"] = True  # services and the SDKs publish over TLS
    return context


def _identity_allows(publisher: Publisher, request: Request) -> bool:
    return any(evaluate(policy, request).allowed for policy in publisher.identity_policies)


def _check(
    publisher: Publisher,
    env: Environment,
    topic_arn: str,
    topic_policy: Mapping[str, Any],
    key_arn: str | None,
    key_policy: Mapping[str, Any] | None,
) -> str:
    is_service = publisher.profile is not None
    publish = Request(
        publisher.principal,
        "sns:Publish",
        topic_arn,
        _context(publisher, env, on_key=False, topic_arn=topic_arn),
    )
    decision: Decision = evaluate(topic_policy, publish)
    # A service needs the topic policy's Allow; a role of the same account needs its own policy's
    # Allow and no Deny from the topic policy.
    if is_service and not decision.allowed:
        return f"topic policy: sns:Publish {decision.effect}"
    if not is_service and decision.effect.name == "EXPLICIT_DENY":
        return "topic policy: sns:Publish explicitly denied"
    if key_arn is None:
        return "ok"
    if key_policy is None:
        return "the topic key has no key policy"
    for action in KMS_ACTIONS:
        ask = Request(
            publisher.principal, action, key_arn, _context(publisher, env, on_key=True, topic_arn=topic_arn)
        )
        key_decision = evaluate(key_policy, ask)
        if not key_decision.allowed:
            return f"key policy: {action} {key_decision.effect}"
        if not is_service and not _identity_allows(publisher, ask):
            return f"role policy: {action} not allowed on the topic key"
    return "ok"


def check_topic_delivery(values: TemplateValues, template: str) -> list[TopicDelivery]:
    """One `TopicDelivery` per topic of `template`; a topic with no publisher is reported too."""
    resources = values.resources(template)
    outcomes: list[TopicDelivery] = []
    for topic, resource in sorted(resources.items()):
        if resource["Type"] != TOPIC_TYPE:
            continue
        topic_arn = values.arn(template, topic)
        delivery = TopicDelivery(template, topic, topic_arn)
        outcomes.append(delivery)
        policies = [
            values.resolve(template, r["Properties"]["PolicyDocument"])
            for r in resources.values()
            if r["Type"] == "AWS::SNS::TopicPolicy"
            and any(_refers_to(t, topic) for t in r["Properties"].get("Topics", []))
        ]
        if len(policies) != 1:
            delivery.results["topic"] = f"expected one topic policy, found {len(policies)}"
            continue
        key_arn = key_policy = None
        key_reference = resource.get("Properties", {}).get("KmsMasterKeyId")
        if key_reference is not None:
            key_arn = str(values.resolve(template, key_reference))
            key_id = key_reference.get("Fn::GetAtt", [None])[0] if isinstance(key_reference, dict) else None
            if key_id is None or key_id not in resources:
                delivery.results["topic"] = (
                    "the topic key is not in this template: its policy cannot be checked"
                )
                continue
            key_policy = values.resolve(template, resources[key_id]["Properties"]["KeyPolicy"])
        publishers = find_publishers(values, template, topic)
        if not publishers:
            delivery.results["topic"] = "nothing publishes to this topic"
        for publisher in publishers:
            delivery.results[publisher.description] = _check(
                publisher, values.env, topic_arn, policies[0], key_arn, key_policy
            )
    return outcomes


def check_assembly(
    templates: Mapping[str, Mapping[str, Any]], env: Environment | None = None
) -> list[TopicDelivery]:
    """Every topic of every template in a set deployed together."""
    values = TemplateValues(templates, env)
    return [delivery for name in sorted(templates) for delivery in check_topic_delivery(values, name)]


def load_assembly(outdir: Path) -> dict[str, Mapping[str, Any]]:
    """The templates of a cloud assembly folder (`cdk.out`), keyed by file stem."""
    return {
        path.name.removesuffix(".template.json"): json.loads(path.read_text())
        for path in sorted(outdir.glob("*.template.json"))
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.stderr.write("usage: python -m todo_infra.policy.alarm_delivery CLOUD_ASSEMBLY_DIR\n")
        return 2
    templates = load_assembly(Path(args[0]))
    if not templates:
        sys.stderr.write(f"no templates in {args[0]}\n")
        return 2
    outcomes = check_assembly(templates)
    problems = [problem for outcome in outcomes for problem in outcome.problems]
    checked = sum(len(outcome.results) for outcome in outcomes)
    for problem in problems:
        sys.stdout.write(f"CANNOT PUBLISH {problem}\n")
    sys.stdout.write(
        f"alarm delivery: {len(outcomes)} topic(s), {checked} publisher(s), {len(problems)} problem(s)\n"
    )
    return 1 if problems or not outcomes else 0


if __name__ == "__main__":
    sys.exit(main())
