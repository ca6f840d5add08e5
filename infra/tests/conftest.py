"""Session fixtures: package once (cached by requirements hash), synthesize each stage once."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# jsii starts its Node process on the first aws_cdk import and takes `node` from PATH: prefer the
# project's pinned Node 22 (what `make synth` uses), else silence Node 20's end-of-life banner.
_NODE_BIN = Path(__file__).resolve().parents[1] / "node_modules" / "node" / "bin"
if (_NODE_BIN / "node").is_file():
    os.environ["PATH"] = f"{_NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import pytest  # noqa: E402
from aws_cdk import Stack  # noqa: E402

from todo_infra.app_builder import TodoApp, build_app, new_app  # noqa: E402
from todo_infra.packaging import BuildOutput, PackagingError, build_all  # noqa: E402
from todo_infra.stage_config import stage_config  # noqa: E402

# Staging and prod refuse to synthesize without a real address; `.invalid` never resolves.
TEST_ALARM_EMAIL = "oncall@todo-insights.invalid"


@dataclass(frozen=True)
class Synthesized:
    """One stage's app, its stacks and their templates as plain dicts."""

    todo: TodoApp
    outdir: Path
    templates: dict[str, dict[str, Any]]  # keyed by part: Data, Api, Etl, Monitoring

    def template(self, part: str) -> dict[str, Any]:
        return self.templates[part]

    def resources(self, part: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[part]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def one(self, part: str, resource_type: str) -> dict[str, Any]:
        found = self.resources(part, resource_type)
        assert len(found) == 1, f"expected one {resource_type} in {part}, found {sorted(found)}"
        return next(iter(found.values()))

    def logical_id(self, part: str, construct: Any) -> str:
        stack: Stack = getattr(self.todo, part.lower())
        child = construct.node.default_child if construct.node.default_child is not None else construct
        return str(stack.resolve(child.logical_id))


@pytest.fixture(scope="session")
def build_output() -> BuildOutput:
    """The real packaging step (pip for the Lambda platform); a no-op when nothing changed."""
    try:
        return build_all()
    except PackagingError as error:
        pytest.fail(f"packaging failed, so nothing can be synthesized: {error}")


def _synthesize(stage: str, build: BuildOutput, outdir: Path) -> Synthesized:
    config = stage_config(stage)
    if config.needs_alarm_email:
        config = config.with_alarm_email(TEST_ALARM_EMAIL)
    todo = build_app(config, build, app=new_app(outdir=str(outdir)), with_nag=False)
    assembly = todo.app.synth()
    templates = {
        part: json.loads(Path(assembly.get_stack_by_name(stack.stack_name).template_full_path).read_text())
        for part, stack in zip(("Data", "Api", "Etl", "Monitoring"), todo.stacks, strict=True)
    }
    return Synthesized(todo=todo, outdir=outdir, templates=templates)


@pytest.fixture(scope="session")
def dev(build_output: BuildOutput, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize("dev", build_output, tmp_path_factory.mktemp("cdk-dev"))


@pytest.fixture(scope="session")
def prod(build_output: BuildOutput, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize("prod", build_output, tmp_path_factory.mktemp("cdk-prod"))


@pytest.fixture(scope="session")
def staging(build_output: BuildOutput, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize("staging", build_output, tmp_path_factory.mktemp("cdk-staging"))


@pytest.fixture(scope="session", params=["dev", "prod"])
def each_stage(request: pytest.FixtureRequest) -> Synthesized:
    synthesized: Synthesized = request.getfixturevalue(request.param)
    return synthesized
