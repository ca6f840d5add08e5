"""Resolves CloudFormation intrinsics in synthesized templates to concrete strings for one account.

A policy can only be evaluated once `{"Ref": "AlarmTopic"}` and `{"Fn::Join": [...]}` are real ARNs.
`TemplateValues` stands in for CloudFormation: pseudo parameters come from a chosen account and
region, each resource gets the physical id and attributes CloudFormation would give it, and
`Fn::ImportValue` is followed to the exporting template. Anything it cannot resolve raises, so a
check never passes on a value it did not understand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Template = Mapping[str, Any]
_SUB_REFERENCE = re.compile(r"\$\{([^}!][^}]*)\}")


class UnresolvableError(ValueError):
    """A template value this resolver does not know how to turn into a string."""


@dataclass(frozen=True)
class Environment:
    """The account and region a check pretends to deploy to."""

    account: str = "111122223333"
    region: str = "eu-west-1"
    partition: str = "aws"


class TemplateValues:
    """Resolves values of a set of templates (keyed by any name) deployed together."""

    def __init__(self, templates: Mapping[str, Template], environment: Environment | None = None) -> None:
        self.templates = dict(templates)
        self.env = environment or Environment()
        self._exports: dict[str, tuple[str, Any]] = {}
        for name, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                export = output.get("Export", {}).get("Name")
                if export is not None:
                    self._exports[self.resolve(name, export)] = (name, output["Value"])

    # --- public -----------------------------------------------------------------------------

    def resolve(self, template: str, value: Any) -> Any:
        """`value` with every intrinsic replaced; lists and dicts are resolved element by element."""
        if isinstance(value, str | bool | int | float) or value is None:
            return value
        if isinstance(value, list):
            return [self.resolve(template, v) for v in value]
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                if key == "Ref":
                    return self._ref(template, argument)
                if key.startswith("Fn::"):
                    return self._function(template, key, argument)
            return {k: self.resolve(template, v) for k, v in value.items()}
        raise UnresolvableError(f"unexpected value {value!r}")

    def resources(self, template: str) -> Mapping[str, Any]:
        return dict(self.templates[template].get("Resources", {}))

    def arn(self, template: str, logical_id: str) -> str:
        """The ARN CloudFormation would give resource `logical_id`."""
        return self._attribute(template, logical_id, "Arn")

    # --- intrinsics ---------------------------------------------------------------------------

    def _function(self, template: str, name: str, argument: Any) -> Any:
        if name == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(str(self.resolve(template, item)) for item in items)
        if name == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._attribute(template, logical_id, attribute)
        if name == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            return _SUB_REFERENCE.sub(lambda m: self._sub_variable(template, m.group(1), variables), text)
        if name == "Fn::ImportValue":
            export = self.resolve(template, argument)
            if export not in self._exports:
                raise UnresolvableError(f"no template exports {export!r}")
            exporter, exported = self._exports[export]
            return self.resolve(exporter, exported)
        if name == "Fn::Select":
            index, items = argument
            return self.resolve(template, items)[int(self.resolve(template, index))]
        if name == "Fn::Split":
            delimiter, text = argument
            return str(self.resolve(template, text)).split(delimiter)
        raise UnresolvableError(f"{name} is not supported")

    def _sub_variable(self, template: str, name: str, variables: Mapping[str, Any]) -> str:
        if name in variables:
            return str(self.resolve(template, variables[name]))
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self._attribute(template, logical_id, attribute)
        return str(self._ref(template, name))

    def _ref(self, template: str, name: str) -> str:
        pseudo = {
            "AWS::AccountId": self.env.account,
            "AWS::Region": self.env.region,
            "AWS::Partition": self.env.partition,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        resource = self._resource(template, name)
        kind = resource["Type"]
        # What `Ref` returns differs by type: an ARN for topics, a name or an id for most others.
        if kind == "AWS::SNS::Topic":
            return self._attribute(template, name, "TopicArn")
        if kind in {"AWS::SQS::Queue"}:
            return self._attribute(template, name, "QueueUrl")
        return self._physical_name(template, name)

    def _attribute(self, template: str, logical_id: str, attribute: str) -> str:
        resource = self._resource(template, logical_id)
        kind = resource["Type"]
        name = self._physical_name(template, logical_id)
        env = self.env
        arns = {
            "AWS::SNS::Topic": f"arn:{env.partition}:sns:{env.region}:{env.account}:{name}",
            "AWS::KMS::Key": f"arn:{env.partition}:kms:{env.region}:{env.account}:key/{name}",
            "AWS::IAM::Role": f"arn:{env.partition}:iam::{env.account}:role/{name}",
            "AWS::SQS::Queue": f"arn:{env.partition}:sqs:{env.region}:{env.account}:{name}",
            "AWS::S3::Bucket": f"arn:{env.partition}:s3:::{name}",
            "AWS::Lambda::Function": f"arn:{env.partition}:lambda:{env.region}:{env.account}:function:{name}",
            "AWS::Events::Rule": f"arn:{env.partition}:events:{env.region}:{env.account}:rule/{name}",
            "AWS::CloudWatch::Alarm": (
                f"arn:{env.partition}:cloudwatch:{env.region}:{env.account}:alarm:{name}"
            ),
            "AWS::CloudWatch::CompositeAlarm": (
                f"arn:{env.partition}:cloudwatch:{env.region}:{env.account}:alarm:{name}"
            ),
            "AWS::DynamoDB::Table": f"arn:{env.partition}:dynamodb:{env.region}:{env.account}:table/{name}",
            "AWS::Logs::LogGroup": f"arn:{env.partition}:logs:{env.region}:{env.account}:log-group:{name}:*",
            "AWS::SecretsManager::Secret": (
                f"arn:{env.partition}:secretsmanager:{env.region}:{env.account}:secret:{name}-AbCdEf"
            ),
        }
        if attribute in {"Arn", "TopicArn"} and kind in arns:
            return arns[kind]
        if attribute in {"TopicName", "QueueName", "Name"}:
            return name
        if attribute == "QueueUrl":
            return f"https://sqs.{env.region}.amazonaws.com/{env.account}/{name}"
        if attribute == "StreamArn" and kind == "AWS::DynamoDB::Table":
            return f"{arns[kind]}/stream/2026-01-01T00:00:00.000"
        raise UnresolvableError(f"{template}: {logical_id} ({kind}) has no attribute {attribute} here")

    def _physical_name(self, template: str, logical_id: str) -> str:
        properties = self._resource(template, logical_id).get("Properties", {})
        for key in (
            "TopicName",
            "QueueName",
            "RoleName",
            "FunctionName",
            "AlarmName",
            "Name",
            "TableName",
            "LogGroupName",
            "BucketName",
        ):
            if key in properties:
                return str(self.resolve(template, properties[key]))
        return logical_id.lower()  # CloudFormation would generate one; any unique string does here

    def _resource(self, template: str, logical_id: str) -> Mapping[str, Any]:
        try:
            resource: Mapping[str, Any] = self.templates[template]["Resources"][logical_id]
        except KeyError:
            raise UnresolvableError(f"{template} has no resource or parameter {logical_id!r}") from None
        return resource
