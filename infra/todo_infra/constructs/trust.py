"""Confused-deputy guards on the trust policies of roles that CDK constructs create for services."""

from __future__ import annotations

from aws_cdk import CfnResource, Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct

# CDK's own custom-resource providers (e.g. bucket auto-delete in dev) create their role as a raw
# CfnResource under this child id.
_PROVIDER_ROLE_ID = "Role"


def restrict_trust_to_account(role: iam.IRole | CfnResource | None, *, only_if_sent: bool = False) -> None:
    """Lets the service assume `role` only on behalf of this account (aws:SourceAccount).

    The role's single trust statement is amended in place, so the construct tree (and the nag
    acknowledgements on its owner) stay as they are. `only_if_sent` (StringEqualsIfExists) is for
    services that do not document sending the key when they assume a role: the guard then binds
    whenever the key is present without risking that the service can no longer assume the role.
    """
    cfn_role = (
        role if isinstance(role, CfnResource) else (role.node.default_child if role is not None else None)
    )
    if not isinstance(cfn_role, CfnResource) or cfn_role.cfn_resource_type != "AWS::IAM::Role":
        raise TypeError("expected a role created in this stack")
    operator = "StringEqualsIfExists" if only_if_sent else "StringEquals"
    cfn_role.add_property_override(
        "AssumeRolePolicyDocument.Statement.0.Condition",
        {operator: {"aws:SourceAccount": Stack.of(cfn_role).account}},
    )


def restrict_provider_roles(stack: Stack, provider_ids: tuple[str, ...]) -> None:
    """The same guard on the roles of CDK's singleton custom-resource providers in `stack`."""
    for provider_id in provider_ids:
        provider: IConstruct | None = stack.node.try_find_child(provider_id)
        if provider is None:
            continue
        role = provider.node.try_find_child(_PROVIDER_ROLE_ID)
        if not isinstance(role, CfnResource):
            raise TypeError(f"{provider_id} has no role where CDK puts it; check the CDK upgrade")
        restrict_trust_to_account(role)
