"""cfn-lint on every synthesized template: no errors, and no warnings beyond the acknowledged ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_by_config

pytestmark = pytest.mark.infra

# W3005: CDK's explicit DependsOn duplicates implied ones (noise on all CDK output).
# W7001: the Firehose L2's unused CIDR mapping (acknowledged in the Etl stack).
IGNORED = ["W3005", "W7001"]


def test_templates_pass_cfn_lint(each_stage):
    templates = sorted(str(p) for p in Path(each_stage.outdir).glob("*.template.json"))
    assert len(templates) == 4
    findings = [
        f"{match.rule.id} {Path(match.filename).name}:{match.linenumber} {match.message}"
        for match in lint_by_config(ManualArgs(templates=templates, ignore_checks=IGNORED))
    ]
    assert findings == []


def test_cfn_lint_would_catch_a_broken_template(tmp_path):
    broken = tmp_path / "broken.template.json"
    broken.write_text('{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Nope": 1}}}}')
    rules = {m.rule.id for m in lint_by_config(ManualArgs(templates=[str(broken)], ignore_checks=IGNORED))}
    assert "E3002" in rules
