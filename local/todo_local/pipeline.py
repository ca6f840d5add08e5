"""The local pipeline run: drain the stream into bronze, then silver, the erase step, gold, and the
insights loader (gold's per-user insights back into the table, ADR 0014).

`todo-insights pipeline run`, the demo and the end-to-end tests all go through `run_pipeline`, so
"every change made before it started is in bronze, silver and gold" is proven once, here.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from todo_contracts.lake_layout import Layer

if TYPE_CHECKING:
    from todo_etl.aws_clients import ClientFactory

Drain = Callable[[], Mapping[str, Any]]
StageListener = Callable[[str, str], None]  # (stage, "start" | "done")


@dataclass
class PipelineResult:
    """What each stage did and how long it took."""

    ingestion: dict[str, Any] = field(default_factory=dict)
    silver: dict[str, Any] = field(default_factory=dict)
    erasure: dict[str, Any] = field(default_factory=dict)
    gold: dict[str, Any] = field(default_factory=dict)
    insights: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def summary_dict(summary: Any) -> dict[str, Any]:
    """A job summary (dataclass or mapping) as a plain dict for printing and JSON."""
    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        return dataclasses.asdict(summary)
    if isinstance(summary, Mapping):
        return dict(summary)
    return {"result": str(summary)}


def layer_uri(lake_dir: Path, layer: Layer) -> str:
    """The base URI of a layer inside a local lake (a bucket on AWS)."""
    return str((lake_dir / layer.value).resolve())


# The job name the local gold run goes by in the loader's event (GOLD_JOB_NAME on AWS).
LOCAL_GOLD_JOB = "local-gold"
LOADER_FUNCTION = "todo-insights-local-insights-loader"


def gold_succeeded_event(job_name: str, job_run_id: str) -> dict[str, Any]:
    """The EventBridge event AWS sends the loader when a gold run succeeds ("Glue Job State Change")."""
    return {
        "version": "0",
        "id": f"local-{job_run_id}",
        "detail-type": "Glue Job State Change",
        "source": "aws.glue",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": os.environ.get("AWS_REGION", "us-east-1"),
        "resources": [],
        "detail": {"jobName": job_name, "severity": "INFO", "state": "SUCCEEDED", "jobRunId": job_run_id},
    }


def load_insights(
    lake_dir: Path, table_name: str, job_run_id: str = "local", *, clients: ClientFactory | None = None
) -> dict[str, Any]:
    """Invoke the insights loader on the export gold just wrote, as EventBridge does on AWS.

    The loader is built explicitly (the lake's gold folder, `table_name`, the local gold job) with
    `clients` for the table (default: as boto3 resolves them from the environment), and runs
    through `lambda_handler`, the same invocation path as the Lambda `handler`; the process
    environment is left alone (the API may share the process). Until the gold job writes the
    export there is nothing to load; that is reported as `skipped`, never as a load.
    """
    from todo_contracts.lake_layout import INSIGHTS_EXPORT_MANIFEST
    from todo_etl.aws_clients import close_client, environment_clients
    from todo_etl.insights.handler import LoaderSettings, build_loader, lambda_handler
    from todo_local.lambda_context import LambdaContext

    gold = layer_uri(lake_dir, Layer.GOLD)
    if not (Path(gold) / INSIGHTS_EXPORT_MANIFEST).is_file():
        return {"status": "skipped", "reason": f"gold wrote no {INSIGHTS_EXPORT_MANIFEST}"}
    settings = LoaderSettings(gold_uri=gold, table_name=table_name, gold_job_name=LOCAL_GOLD_JOB)
    loader = build_loader(settings, clients or environment_clients)
    try:
        result: dict[str, Any] = lambda_handler(loader)(
            gold_succeeded_event(LOCAL_GOLD_JOB, job_run_id), LambdaContext(LOADER_FUNCTION)
        )
    finally:
        close_client(loader.writer.client)
        close_client(loader.s3_client)
    return result


def run_pipeline(
    lake_dir: Path,
    drain: Drain,
    *,
    full_rebuild: bool = False,
    on_stage: StageListener | None = None,
    table_name: str | None = None,
    clients: ClientFactory | None = None,
) -> PipelineResult:
    """Drain ingestion, then silver, the erase step, gold, the insights load; returns when all
    have finished.

    The erase step (ADR 0013) runs between silver and gold: silver has just recorded any account
    deletion, and gold then recomputes its aggregates without the erased person's history. The
    insights loader then writes gold's per-user insights into `table_name` (default: the
    `TABLE_NAME` of this process, which the local platform sets) through `clients` (default: as
    boto3 resolves them from the environment; pass `platform_clients(endpoints)` to name them).
    """
    table = table_name or os.environ.get("TABLE_NAME")
    if not table:
        raise RuntimeError("no table to load the insights into: pass table_name or set TABLE_NAME")
    from todo_etl.glue.erasure import run_erasure
    from todo_etl.glue.jobs import run_gold, run_silver
    from todo_etl.glue.local_session import lake_session

    notify = on_stage or (lambda _stage, _event: None)
    result = PipelineResult()

    def timed(stage: str, fn: Callable[[], Any]) -> Any:
        notify(stage, "start")
        started = time.perf_counter()
        value = fn()
        result.seconds[stage] = round(time.perf_counter() - started, 2)
        notify(stage, "done")
        return value

    result.ingestion = dict(timed("ingestion", drain))
    spark, lake = timed("spark", lambda: lake_session(lake_dir))
    result.silver = summary_dict(timed("silver", lambda: run_silver(spark, lake, full_rebuild=full_rebuild)))
    result.erasure = summary_dict(timed("erasure", lambda: run_erasure(spark, lake)))
    result.gold = summary_dict(timed("gold", lambda: run_gold(spark, lake)))
    run_id = str(result.gold.get("run_id", "local"))
    result.insights = dict(timed("insights", lambda: load_insights(lake_dir, table, run_id, clients=clients)))
    return result
