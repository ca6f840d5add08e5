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
ACTIONLINT_VERSION = "1.7.12"
ACTIONLINT = REPO_ROOT / ".tools" / f"actionlint-{ACTIONLINT_VERSION}"  # `make tools` builds it
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
    if not ACTIONLINT.exists():
        if shutil.which("go") is None:
            pytest.skip("needs go to build actionlint (make tools)")
        subprocess.run(["make", "--no-print-directory", "tools"], cwd=REPO_ROOT, check=True, timeout=600)
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", "-shellcheck=", "-pyflakes=", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=REPO_ROOT,
    )


@pytest.mark.infra
def test_workflows_are_actionlint_clean():
    done = _actionlint(*sorted(str(p) for p in WORKFLOWS.glob("*.yml")))
    assert done.returncode == 0, done.stdout + done.stderr


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
