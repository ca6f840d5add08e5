"""Confused-deputy guards on the trust policies of roles that CDK constructs create for services."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam


def restrict_trust_to_account(role: iam.IRole | None, *, only_if_sent: bool = False) -> None:
    """Lets the service assume `role` only on behalf of this account (aws:SourceAccount).

    The role's single trust statement is amended in place, so the construct tree (and the nag
    acknowledgements on its owner) stay as they are. `only_if_sent` (StringEqualsIfExists) is for
    services that do not document sending the key when they assume a role: the guard then binds
    whenever the key is present without risking that the service can no longer assume the role.
    """
    cfn_role = role.node.default_child if role is not None else None
    if not isinstance(cfn_role, iam.CfnRole):
        raise TypeError("expected a role created in this stack")
    operator = "StringEqualsIfExists" if only_if_sent else "StringEquals"
    cfn_role.add_property_override(
        "AssumeRolePolicyDocument.Statement.0.Condition",
        {operator: {"aws:SourceAccount": Stack.of(cfn_role).account}},
    )
