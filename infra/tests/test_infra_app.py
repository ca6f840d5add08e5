"""The app: four stacks per stage, wired by typed arguments in one direction, env-agnostic."""

from __future__ import annotations

import pytest

from todo_infra.stage_config import stage_config

pytestmark = pytest.mark.infra


def _depends_on(stack) -> set[str]:
    return {d.node.id.rsplit("-", 1)[-1] for d in stack.dependencies}


def test_four_stacks_named_after_the_stage(each_stage):
    config = each_stage.todo.config
    assert [s.stack_name for s in each_stage.todo.stacks] == [
        f"TodoInsights-{config.name}-{part}" for part in ("Data", "Api", "Etl", "Monitoring")
    ]


def test_stacks_depend_on_each_other_in_one_direction_only(each_stage):
    todo = each_stage.todo
    assert _depends_on(todo.data) == set()
    assert _depends_on(todo.api) == {"Data"}
    assert _depends_on(todo.etl) == {"Data", "Api"}
    assert _depends_on(todo.monitoring) == {"Data", "Api", "Etl"}


def test_stacks_synthesize_without_an_account_or_region(each_stage):
    for stack in each_stage.todo.stacks:
        assert stack.resolve(stack.account) == {"Ref": "AWS::AccountId"}
        assert stack.resolve(stack.region) == {"Ref": "AWS::Region"}


def test_every_resource_is_tagged_with_project_and_stage(each_stage):
    table = each_stage.one("Data", "AWS::DynamoDB::Table")["Properties"]
    assert {"Key": "stage", "Value": each_stage.todo.config.name} in table["Tags"]
    assert {"Key": "project", "Value": "todo-insights"} in table["Tags"]


def test_physical_names_carry_the_stage_prefix(each_stage):
    prefix = stage_config(each_stage.todo.config.name).prefix
    assert each_stage.one("Data", "AWS::DynamoDB::Table")["Properties"]["TableName"] == f"{prefix}-table"
    for function in [
        *each_stage.resources("Api", "AWS::Lambda::Function").values(),
        *each_stage.resources("Etl", "AWS::Lambda::Function").values(),
        *each_stage.resources("Monitoring", "AWS::Lambda::Function").values(),
    ]:
        name = function["Properties"].get("FunctionName")
        if name is not None:  # CDK's own helper functions (auto-delete, log roles) are unnamed
            assert name.startswith(prefix)
