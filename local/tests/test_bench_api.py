"""The api benchmarks measure what they claim: the first request succeeds in both cold-start
interpreters, and the task GET/PATCH bench drives real requests (no timing asserted)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from todo_local.bench import BASELINE_APP, OURS_APP, bench_task_latency, first_request_statement


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
    assert "GetItem + conditional PutItem" in patch.note


def test_the_health_latency_bench_runs_both_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    from todo_local.bench import bench_handler_latency

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)  # the baseline's client needs one anyway
    result = bench_handler_latency(requests=3)
    assert min(result.ours, result.baseline) > 0
