"""Session fixtures: package once (cached by requirements hash), synthesize dev and prod once each."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack

from todo_infra.app_builder import TodoApp, build_app, new_app
from todo_infra.packaging import BuildOutput, PackagingError, build_all
from todo_infra.stage_config import stage_config


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
    todo = build_app(stage_config(stage), build, app=new_app(outdir=str(outdir)), with_nag=False)
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


@pytest.fixture(scope="session", params=["dev", "prod"])
def each_stage(request: pytest.FixtureRequest) -> Synthesized:
    synthesized: Synthesized = request.getfixturevalue(request.param)
    return synthesized
