"""cdk-nag (3.x Validations API) helpers: acknowledge findings on a resource, and name their targets.

Acknowledgements are placed on the narrowest construct that owns the finding (a role, a function,
a bucket), never on a stack, and each carries the reason a reviewer would ask for.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct

LAMBDA_BASIC_EXECUTION = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
)


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one finding (`AwsSolutions-XYZ` or `AwsSolutions-IAM5[...]`) on `scope`."""
    if not reason.strip():
        raise ValueError(f"acknowledging {rule} needs a reason")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def wildcard(finding: str) -> str:
    """The id of one AwsSolutions-IAM5 finding, e.g. `Action::s3:GetObject*`."""
    return f"AwsSolutions-IAM5[{finding}]"


def resource_arn(resource: IConstruct, suffix: str = "") -> str:
    """`Resource::<LogicalId.Arn>suffix`, the way cdk-nag flattens a same-stack `Fn::GetAtt`."""
    cfn = resource if isinstance(resource, CfnResource) else resource.node.default_child
    assert isinstance(cfn, CfnResource), f"{resource.node.path} has no CloudFormation resource"
    logical_id = Stack.of(cfn).resolve(cfn.logical_id)
    return f"Resource::<{logical_id}.Arn>{suffix}"


def acknowledge_lambda_basics(function: IConstruct, runtime_reason: str) -> None:
    """The two findings every function here carries, with why each is acceptable."""
    acknowledge(
        function,
        f"AwsSolutions-IAM4[{LAMBDA_BASIC_EXECUTION}]",
        "AWSLambdaBasicExecutionRole only allows CreateLogStream/PutLogEvents; the function writes "
        "to its own log group created with a retention period.",
    )
    acknowledge(function, "AwsSolutions-L1", runtime_reason)


def flatten(reference: Any) -> str:
    """A resolved CloudFormation value as cdk-nag prints it in finding ids (`<Ref>`, `<Id.Attr>`)."""
    if isinstance(reference, str):
        return reference.replace("${", "<").replace("}", ">")
    if isinstance(reference, dict):
        if "Fn::Join" in reference:
            delimiter, items = reference["Fn::Join"]
            return str(delimiter).join(flatten(item) for item in items)
        if "Fn::Sub" in reference:
            return flatten(reference["Fn::Sub"])
        if "Fn::GetAtt" in reference:
            resource, attribute = reference["Fn::GetAtt"]
            return f"<{flatten(resource)}.{flatten(attribute)}>"
        if "Fn::ImportValue" in reference:
            return flatten(reference["Fn::ImportValue"])
        if "Ref" in reference:
            return f"<{flatten(reference['Ref'])}>"
    return json.dumps(reference, separators=(",", ":"))


def imported_attribute(resource: IConstruct, attribute: str = "Arn") -> str:
    """How cdk-nag prints another stack's `Fn::GetAtt` once CDK turned it into an `Fn::ImportValue`.

    CDK names the export `<stack>:ExportsOutputFnGetAtt<LogicalId><Attr><hash>`, the hash being the
    first 8 hex digits (upper case) of the MD5 of `Exports/Output{"Fn::GetAtt":[id, attr]}`. The nag
    test fails loudly if a CDK upgrade ever changes this, so a wrong guess cannot hide a finding.
    """
    cfn = resource if isinstance(resource, CfnResource) else resource.node.default_child
    assert isinstance(cfn, CfnResource), f"{resource.node.path} has no CloudFormation resource"
    stack = Stack.of(cfn)
    logical_id = stack.resolve(cfn.logical_id)
    reference = json.dumps({"Fn::GetAtt": [logical_id, attribute]}, separators=(",", ":"))
    digest = hashlib.md5(f"Exports/Output{reference}".encode(), usedforsecurity=False).hexdigest()
    return f"{stack.stack_name}:ExportsOutputFnGetAtt{logical_id}{attribute}{digest[:8].upper()}"
