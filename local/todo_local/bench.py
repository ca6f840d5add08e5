"""`todo-insights bench`: our overheads as ratios against baselines, measured in one run.

Each benchmark times our code and a baseline doing the least that job needs, on the same
machine in the same run, and reports the ratio: absolute numbers on a shared 2-core box say
little, ratios say whether a change made our part heavier. Nothing here is asserted by tests.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASELINE_APP = """
from fastapi import FastAPI
from mangum import Mangum
app = FastAPI()
@app.get("/api/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
handler = Mangum(app, lifespan="off")
"""


@dataclass(frozen=True)
class BenchResult:
    """One benchmark: ours against the baseline, in the same unit."""

    name: str
    unit: str
    ours: float
    baseline: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of `fn` in milliseconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def import_time_ms(statement: str, repeat: int = 5) -> float:
    """Median wall time of a fresh interpreter running `statement` (a cold start's import phase)."""
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    env.setdefault("TABLE_NAME", "bench")
    env.setdefault("STAGE", "local")

    def run() -> None:
        subprocess.run([sys.executable, "-c", statement], check=True, env=env, capture_output=True)  # noqa: S603

    return median_time(run, repeat)


def rest_event(path: str, claims: dict[str, str] | None = None) -> dict[str, Any]:
    """A minimal REST (v1) proxy event, as API Gateway sends it."""
    context: dict[str, Any] = {
        "requestId": "bench",
        "stage": "local",
        "path": path,
        "httpMethod": "GET",
        "identity": {"sourceIp": "127.0.0.1"},
    }
    if claims:
        context["authorizer"] = {"claims": claims}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Host": "localhost", "Accept": "application/json"},
        "multiValueHeaders": {"Host": ["localhost"], "Accept": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "requestContext": context,
        "body": None,
        "isBase64Encoded": False,
    }


class _Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def bench_cold_start() -> BenchResult:
    ours = import_time_ms("import todo_api.handler")
    baseline = import_time_ms(BASELINE_APP)
    return BenchResult("api cold-start import", "ms", ours, baseline, "vs bare FastAPI + Mangum")


def bench_handler_latency(requests: int = 300) -> BenchResult:
    """Per-request latency of the real handler on /api/health vs the bare baseline handler."""
    import contextlib
    import io

    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from todo_api.handler import handler as ours_handler

    namespace: dict[str, Any] = {}
    exec(compile(BASELINE_APP, "baseline_app", "exec"), namespace)  # noqa: S102 - our own constant
    base_handler = namespace["handler"]
    event, context = rest_event("/api/health"), _Context()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):  # the access log line goes to stdout, as on Lambda
        ours_handler(event, context)  # warm both before timing
        base_handler(event, context)
        ours = median_time(lambda: ours_handler(event, context), requests)
        baseline = median_time(lambda: base_handler(event, context), requests)
    return BenchResult("api handler latency (GET /api/health)", "ms", ours, baseline, "median per request")


def print_results(results: list[BenchResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="todo-insights bench (ratios: ours / baseline, lower is better)")
    for column in ("benchmark", "ours", "baseline", "ratio", "note"):
        table.add_column(column, justify="right" if column in {"ours", "baseline", "ratio"} else "left")
    for r in results:
        table.add_row(
            r.name, f"{r.ours:,.2f} {r.unit}", f"{r.baseline:,.2f} {r.unit}", f"{r.ratio:.2f}x", r.note
        )
    Console().print(table)


def write_results(results: list[BenchResult], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bench.json"
    payload = [
        {
            "name": r.name,
            "unit": r.unit,
            "ours": r.ours,
            "baseline": r.baseline,
            "ratio": r.ratio,
            "note": r.note,
        }
        for r in results
    ]
    path.write_text(json.dumps(payload, indent=2))
    return path


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="todo-bench-"))
