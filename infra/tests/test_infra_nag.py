"""cdk-nag AwsSolutions (3.x): zero unacknowledged findings, every acknowledgement reasoned and narrow."""

from __future__ import annotations

import pytest
from aws_cdk import Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

pytestmark = pytest.mark.infra


def _acknowledgements(root: IConstruct) -> list[tuple[IConstruct, str, str]]:
    found = []
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY and entry.data:
                found.extend(
                    (construct, rule.removeprefix("Annotation::"), reason)
                    for rule, reason in dict(entry.data).items()
                )
    return found


def test_no_unacknowledged_aws_solutions_findings(each_stage):
    report = AwsSolutionsChecks().validate_scope(each_stage.todo.app)
    findings = [
        f"{violation.rule_name} at {resource.construct_path}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]
    assert findings == []
    assert report.success is True


def test_every_acknowledgement_has_a_real_reason(each_stage):
    acknowledgements = _acknowledgements(each_stage.todo.app)
    assert acknowledgements
    for construct, rule, reason in acknowledgements:
        assert len(reason.split()) >= 6, f"{rule} on {construct.node.path} needs a real reason"


def test_acknowledgements_sit_on_resources_not_stacks(each_stage):
    on_stacks = [
        (c.node.path, rule) for c, rule, _ in _acknowledgements(each_stage.todo.app) if isinstance(c, Stack)
    ]
    # The one stack-level item is CloudFormation's own template validation of an unused mapping.
    assert on_stacks == [(each_stage.todo.etl.node.path, "CloudFormation-Validate::W7001")]


def test_prod_needs_no_cognito_plan_acknowledgements(prod, dev):
    def rules(synth):
        return {rule for _, rule, _ in _acknowledgements(synth.todo.api.user_pool)}

    assert rules(prod) == {"AwsSolutions-COG2"}
    assert rules(dev) == {"AwsSolutions-COG2", "AwsSolutions-COG3", "AwsSolutions-COG8"}


def test_an_unacknowledged_fault_is_reported(build_output):
    """The check is live: a bucket without TLS enforcement or access logs is flagged."""
    from aws_cdk import App
    from aws_cdk import aws_s3 as s3

    app = App()
    stack = Stack(app, "Probe")
    s3.Bucket(stack, "Naked")
    report = AwsSolutionsChecks().validate_scope(app)
    rules = {violation.rule_name for violation in report.violations}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules
