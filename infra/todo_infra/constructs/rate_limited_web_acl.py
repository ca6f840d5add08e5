"""The API's web ACL: rate limits per caller, AWS's managed rule groups, attached to the API stage.

Callers with a bearer token are limited per token, the rest (public routes, junk) per source IP,
both over `WAF_WINDOW_SECONDS`; a limited request gets 429 with `Retry-After` and the API's error
envelope. The common rule set's 8 KiB body rule only counts (the API takes bodies up to 64 KiB and
answers 413 itself beyond). The local gateway's rate limiter applies the dev stage's limit.
"""

from __future__ import annotations

import json

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from todo_contracts.errors import RATE_LIMITED_CODE, RATE_LIMITED_MESSAGE, envelope
from todo_contracts.limits import WAF_WINDOW_SECONDS
from todo_infra.constructs.stack_part import StackPart

# WAF answers before API Gateway assigns a request id: the envelope without one.
RATE_LIMITED_BODY = json.dumps(envelope(RATE_LIMITED_CODE, RATE_LIMITED_MESSAGE))
WAF_RETRY_AFTER_SECONDS = 60


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


# Headers are matched as sent: a transformation could merge distinct tokens into one key.
AS_IS = wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")


def _rate_rule(
    name: str,
    priority: int,
    action: wafv2.CfnWebACL.RuleActionProperty,
    statement: wafv2.CfnWebACL.RateBasedStatementProperty,
) -> wafv2.CfnWebACL.RuleProperty:
    """A rate-based rule whose metric bears its name."""
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        action=action,
        statement=wafv2.CfnWebACL.StatementProperty(rate_based_statement=statement),
        visibility_config=_visibility(name),
    )


def _managed_rule(
    name: str, priority: int, group: str, counted: tuple[str, ...] = ()
) -> wafv2.CfnWebACL.RuleProperty:
    """An AWS managed rule group, its own actions kept but for the `counted` rules (count only)."""
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS",
                name=group,
                rule_action_overrides=[
                    wafv2.CfnWebACL.RuleActionOverrideProperty(
                        name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                    )
                    for rule in counted
                ]
                or None,
            )
        ),
        visibility_config=_visibility(name),
    )


class RateLimitedWebAcl(StackPart):
    """Web ACL `name` with per-caller rate limits (`limit` per window) and managed rules, on `stage`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, name: str, limit: int, stage: apigw.Stage
    ) -> None:
        super().__init__(scope, construct_id)
        block_429 = wafv2.CfnWebACL.RuleActionProperty(
            block=wafv2.CfnWebACL.BlockActionProperty(
                custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                    response_code=429,
                    custom_response_body_key="rate-limited",
                    response_headers=[
                        wafv2.CfnWebACL.CustomHTTPHeaderProperty(
                            name="Retry-After", value=str(WAF_RETRY_AFTER_SECONDS)
                        )
                    ],
                )
            )
        )
        authorization_header = wafv2.CfnWebACL.FieldToMatchProperty(single_header={"Name": "authorization"})
        has_token = wafv2.CfnWebACL.StatementProperty(
            size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                field_to_match=authorization_header,
                comparison_operator="GT",
                size=0,
                text_transformations=[AS_IS],
            )
        )
        rules = [
            # Per caller: the bearer token is the key, so one noisy user cannot starve the rest.
            _rate_rule(
                "rate-per-caller",
                0,
                block_429,
                wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=limit,
                    evaluation_window_sec=WAF_WINDOW_SECONDS,
                    aggregate_key_type="CUSTOM_KEYS",
                    custom_keys=[
                        wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
                            header=wafv2.CfnWebACL.RateLimitHeaderProperty(
                                name="authorization", text_transformations=[AS_IS]
                            )
                        )
                    ],
                    scope_down_statement=has_token,
                ),
            ),
            # Requests without a token (public routes, junk) are limited per source IP instead.
            _rate_rule(
                "rate-per-ip-anonymous",
                1,
                block_429,
                wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=limit,
                    evaluation_window_sec=WAF_WINDOW_SECONDS,
                    aggregate_key_type="IP",
                    scope_down_statement=wafv2.CfnWebACL.StatementProperty(
                        not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=has_token)
                    ),
                ),
            ),
            # The API accepts bodies up to 64 KiB and answers 413 itself beyond that; the managed
            # 8 KiB body rule would block legitimate requests first, so it only counts.
            _managed_rule(
                "aws-common", 2, "AWSManagedRulesCommonRuleSet", counted=("SizeRestrictions_BODY",)
            ),
            _managed_rule("aws-known-bad-inputs", 3, "AWSManagedRulesKnownBadInputsRuleSet"),
        ]
        self.web_acl = wafv2.CfnWebACL(
            self.home,
            "WebAcl",
            name=name,
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            custom_response_bodies={
                "rate-limited": wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content=RATE_LIMITED_BODY
                )
            },
            rules=rules,
            visibility_config=_visibility(name),
        )
        self.association = wafv2.CfnWebACLAssociation(
            self.home, "WebAclAssociation", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
        self.association.node.add_dependency(stage)
