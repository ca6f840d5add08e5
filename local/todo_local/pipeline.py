"""The local pipeline run: drain the stream into bronze, then silver, the erase step and gold.

`todo-insights pipeline run`, the demo and the end-to-end tests all go through `run_pipeline`, so
"every change made before it started is in bronze, silver and gold" is proven once, here.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from todo_contracts.lake_layout import Layer

Drain = Callable[[], Mapping[str, Any]]
StageListener = Callable[[str, str], None]  # (stage, "start" | "done")


@dataclass
class PipelineResult:
    """What each stage did and how long it took."""

    ingestion: dict[str, Any] = field(default_factory=dict)
    silver: dict[str, Any] = field(default_factory=dict)
    erasure: dict[str, Any] = field(default_factory=dict)
    gold: dict[str, Any] = field(default_factory=dict)
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


def run_pipeline(
    lake_dir: Path,
    drain: Drain,
    *,
    full_rebuild: bool = False,
    on_stage: StageListener | None = None,
) -> PipelineResult:
    """Drain ingestion, then silver, the erase step, gold; returns when all have finished.

    The erase step (ADR 0013) runs between silver and gold: silver has just recorded any account
    deletion, and gold then recomputes its aggregates without the erased person's history.
    """
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
    return result
