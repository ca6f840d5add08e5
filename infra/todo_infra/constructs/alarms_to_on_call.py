"""Alarms that reach on-call: one encrypted SNS topic mailing the stage's alarm address, the topic
and key policies that let CloudWatch and EventBridge publish to it, and every alarm built here.

Each alarm (and each EventBridge notification) is named `<prefix>-<section>` and links its section
of `docs/runbooks/alarms.md`, so whoever is paged knows where to start; each notifies on ALARM and
on OK. `todo_infra.policy.alarm_delivery` proves from the templates that every one can publish.
"""

from __future__ import annotations

from collections.abc import Sequence

import jsii
from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk.interfaces import aws_events as events_refs
from constructs import Construct

from todo_infra.constructs.stack_part import StackPart
from todo_infra.constructs.stage_defaults import stage_key
from todo_infra.observability import RUNBOOK_PATH, runbook_description
from todo_infra.stage_config import StageConfig


@jsii.implements(events.IRuleTarget)
class _AlarmTopicTarget:
    """An EventBridge target that publishes to the alarm topic and grants nothing by itself: the
    topic and key policies for EventBridge are written with the topic (`AlarmsToOnCall`)."""

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput) -> None:
        self._topic = topic
        self._message = message

    def bind(self, rule: events_refs.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._topic.topic_arn, input=self._message)


def alarm_construct_id(section: str) -> str:
    """`cdc-dlq-depth` -> `CdcDlqDepthAlarm` (the alarms' construct ids, hence their logical ids)."""
    return "".join(part.title() for part in section.split("-")) + "Alarm"


class AlarmsToOnCall(StackPart):
    """The alarm topic with its key and policies, and `alarm` / `any_of` / `notify_on_event`."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.alarms: dict[str, cloudwatch.AlarmBase] = {}  # by runbook section
        self._build_topic()

    def _build_topic(self) -> None:
        config = self.config
        stack = Stack.of(self.home)
        # A customer-managed key: CloudWatch alarms and EventBridge cannot publish to a topic
        # encrypted with the AWS-managed SNS key, because its policy cannot be extended.
        self.topic_key = stage_key(
            self.home,
            "AlarmTopicKey",
            config=config,
            purpose="alarms",
            description="Encrypts the alarm topic",
        )
        self.topic = sns.Topic(
            self.home,
            "AlarmTopic",
            topic_name=f"{config.prefix}-alarms",  # the key policy names it (below)
            display_name=f"Todo Insights {config.name} alarms",
            master_key=self.topic_key,
            enforce_ssl=True,
        )
        # The topic policy CDK writes (TLS deny, EventBridge allow) replaces SNS's default policy,
        # so CloudWatch needs its own Allow, or no alarm would ever notify. Scoped to this stage's
        # alarms in this account (confused-deputy guard: CloudWatch sends both keys).
        alarms_of_this_stage = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{config.prefix}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        cloudwatch_source = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": alarms_of_this_stage},
        }
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisStage",
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=[self.topic.topic_arn],
                conditions=cloudwatch_source,
            )
        )
        # SNS encrypts each message under the topic key on the publisher's behalf, with the topic
        # ARN as encryption context: only this topic's messages may use the key. The ARN is built
        # from the name: a reference to the topic would make the key depend on it, a cycle.
        topic_arn = stack.format_arn(service="sns", resource=f"{config.prefix}-alarms")
        this_topic = {"kms:EncryptionContext:aws:sns:topicArn": topic_arn}
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsEncryptForTheTopic",
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],
                conditions={
                    **cloudwatch_source,
                    "StringEquals": {**cloudwatch_source["StringEquals"], **this_topic},
                },
            )
        )
        # EventBridge sends no aws:SourceArn/aws:SourceAccount on this path: AWS documents that
        # Condition blocks in the topic policy, and source keys in the key policy, drop every event.
        # So its topic statement is unconditioned (scoped by the topic ARN) and its key statement is
        # scoped by the topic's encryption context only. (Written here, not by targets.SnsTopic,
        # which would add an unconditioned key statement of its own.)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeRules",
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                resources=[self.topic.topic_arn],
            )
        )
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeRulesEncryptForTheTopic",
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                resources=["*"],
                conditions={"StringEquals": this_topic},
            )
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(config.require_alarm_email()))
        self._notify = cloudwatch_actions.SnsAction(self.topic)

    def _unclaimed(self, section: str) -> None:
        if section in self.alarms:
            raise ValueError(f"two alarms for runbook section {section!r}")

    def _notifies(self, section: str, alarm: cloudwatch.AlarmBase) -> None:
        alarm.add_alarm_action(self._notify)
        alarm.add_ok_action(self._notify)
        self.alarms[section] = alarm

    def alarm(
        self,
        section: str,
        summary: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods: int = 3,
        datapoints: int = 2,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
        runbook: str | None = None,
    ) -> cloudwatch.Alarm:
        """One alarm named `<prefix>-<section>`, linking runbook section `runbook` (default: `section`)."""
        self._unclaimed(section)
        alarm = cloudwatch.Alarm(
            self.home,
            alarm_construct_id(section),
            alarm_name=f"{self.config.prefix}-{section}",
            alarm_description=runbook_description(runbook or section, summary),
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints,
            treat_missing_data=missing,
        )
        self._notifies(section, alarm)
        return alarm

    def on_first(self, section: str, summary: str, metric: cloudwatch.IMetric) -> cloudwatch.Alarm:
        """An alarm in ALARM from the first period in which `metric` is above zero: for signals
        where a single occurrence is already the incident (a failed batch, a dead letter)."""
        return self.alarm(section, summary, metric, threshold=0, evaluation_periods=1, datapoints=1)

    def any_of(
        self, construct_id: str, section: str, summary: str, alarms: Sequence[cloudwatch.IAlarm]
    ) -> cloudwatch.CompositeAlarm:
        """A composite alarm `<prefix>-<section>`: in ALARM while any of `alarms` is (alarms of
        another stack reach the topic this way without a cross-stack cycle)."""
        self._unclaimed(section)
        composite = cloudwatch.CompositeAlarm(
            self.home,
            construct_id,
            composite_alarm_name=f"{self.config.prefix}-{section}",
            alarm_description=runbook_description(section, summary),
            alarm_rule=cloudwatch.AlarmRule.any_of(
                *(cloudwatch.AlarmRule.from_alarm(a, cloudwatch.AlarmState.ALARM) for a in alarms)
            ),
        )
        self._notifies(section, composite)
        return composite

    def notify_on_event(
        self,
        construct_id: str,
        section: str,
        summary: str,
        event_pattern: events.EventPattern,
        message: str,
    ) -> events.Rule:
        """An EventBridge rule `<prefix>-<section>` that mails `message` (EventField paths allowed)
        and the runbook link of `section` to the topic for every matching event."""
        rule = events.Rule(
            self.home,
            construct_id,
            rule_name=f"{self.config.prefix}-{section}",
            description=runbook_description(section, summary),
            event_pattern=event_pattern,
        )
        text = events.RuleTargetInput.from_text(f"{message} Runbook: {RUNBOOK_PATH}#{section}")
        rule.add_target(_AlarmTopicTarget(self.topic, text))
        return rule
