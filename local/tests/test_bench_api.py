"""The api benchmarks measure what they claim: the first request succeeds in both cold-start
interpreters, and the task GET/PATCH bench drives real requests (no timing asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest

from todo_api.repository.task_repository import _in_place_update
from todo_local.bench import (
    BASELINE_APP,
    OURS_APP,
    _RawTaskCalls,
    bench_task_latency,
    first_request_statement,
)


@pytest.mark.parametrize("app", [OURS_APP, BASELINE_APP], ids=["ours", "baseline"])
def test_each_cold_start_interpreter_serves_its_first_request(app: str) -> None:
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    env.update({"TABLE_NAME": "bench", "STAGE": "local"})
    # The statement asserts a 200 from GET /api/health; a failure exits non-zero.
    subprocess.run(
        [sys.executable, "-c", first_request_statement(app)], env=env, check=True, capture_output=True
    )


def test_the_baseline_builds_a_dynamodb_client_at_import() -> None:
    assert 'boto3.client("dynamodb")' in BASELINE_APP


def test_the_task_latency_bench_runs_get_and_patch_on_both_sides() -> None:
    saved = dict(os.environ)
    get, patch = bench_task_latency(requests=3)
    assert dict(os.environ) == saved  # the bench puts the environment back
    assert min(get.ours, get.baseline, patch.ours, patch.baseline) > 0
    assert "the least UpdateItem" in patch.note


def test_the_health_latency_bench_runs_both_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    from todo_local.bench import bench_handler_latency

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)  # the baseline's client needs one anyway
    result = bench_handler_latency(requests=3)
    assert min(result.ours, result.baseline) > 0


class _Recorder:
    """Stands in for the DynamoDB client: keeps the request instead of sending it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def update_item(self, **request: Any) -> None:
        self.requests.append(request)


def _resolved(expression: str, names: dict[str, str], values: dict[str, Any]) -> str:
    """An expression with its placeholders replaced by what they stand for."""
    expression = re.sub(r"#\w+", lambda m: names[m.group()], expression)
    return re.sub(r":\w+", lambda m: repr(values[m.group()]), expression)


def test_the_patch_baseline_sends_exactly_the_update_the_api_sends() -> None:
    """The PATCH ratio compares the handler with the same DynamoDB request written by hand: pinned
    here, so a change to the API's UpdateItem must change the baseline too."""
    recorder = _Recorder()
    raw = _RawTaskCalls(recorder, "t", {"PK": {"S": "USER#u"}, "SK": {"S": "TASK#1"}}, 1)
    raw.update_as_api()
    sent = recorder.requests[0]
    title, now = (
        sent["ExpressionAttributeValues"][":title"]["S"],
        sent["ExpressionAttributeValues"][":now"]["S"],
    )
    expression, condition = _in_place_update("u", "1", {"title": title}, None, now)
    api = {"names": expression.names, "values": expression.values}
    ours = {"names": sent["ExpressionAttributeNames"], "values": sent["ExpressionAttributeValues"]}
    assert _resolved(sent["UpdateExpression"], **ours) == _resolved(expression.update_expression(), **api)
    assert _resolved(sent["ConditionExpression"], **ours) == _resolved(condition, **api)
    assert (sent["ReturnValues"], sent["ReturnValuesOnConditionCheckFailure"]) == ("ALL_OLD", "ALL_OLD")
