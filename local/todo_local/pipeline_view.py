"""Human output of the pipeline commands: stage progress, per-stage summaries, reconcile results."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from todo_local.pipeline import PipelineResult
from todo_local.reconcile import ReconcileReport

STAGE_LABELS = {
    "ingestion": "stream → cdc function → bronze",
    "spark": "starting Spark (local[*])",
    "silver": "silver job (bronze → silver)",
    "erasure": "erase step (deleted accounts out of every layer)",
    "gold": "gold job (silver → gold)",
    "insights": "insights loader (gold → each user's insights in the table)",
}


class StageProgress:
    """A spinner line per pipeline stage, ticked off as each finishes."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def on_stage(self, stage: str, event: str) -> None:
        label = STAGE_LABELS.get(stage, stage)
        if event == "start":
            self._tasks[stage] = self._progress.add_task(label, total=1)
        else:
            self._progress.update(self._tasks[stage], completed=1, description=f"[green]✓[/] {label}")


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, str) and value[:1] in "{[":
        try:
            _flatten(prefix, json.loads(value), out)
        except json.JSONDecodeError:
            out[prefix] = value
    else:
        out[prefix] = value


def summary_table(title: str, summary: Mapping[str, Any]) -> Table:
    """A two-column table of a stage summary, nested fields flattened (`rows_out.silver_tasks`)."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field", style="cyan")
    table.add_column("value", justify="right")
    flat: dict[str, Any] = {}
    _flatten("", summary, flat)
    for key, value in flat.items():
        table.add_row(key, "" if value is None else str(value))
    return table


def print_pipeline_result(result: PipelineResult, console: Console) -> None:
    console.print(summary_table("ingestion (stream → bronze)", result.ingestion))
    console.print(summary_table("silver job", result.silver))
    if result.erasure:
        console.print(summary_table("erase step", result.erasure))
    console.print(summary_table("gold job", result.gold))
    if result.insights:
        console.print(summary_table("insights loader", result.insights))
    timings = Table(title="stage timings", title_justify="left")
    timings.add_column("stage")
    timings.add_column("seconds", justify="right")
    for stage, seconds in result.seconds.items():
        timings.add_row(stage, f"{seconds:.2f}")
    console.print(timings)


def print_reconcile_report(report: ReconcileReport, console: Console, limit: int = 50) -> None:
    table = Table(title="reconcile: table vs lake", title_justify="left")
    table.add_column("check")
    table.add_column("table", justify="right")
    table.add_column("lake", justify="right")
    table.add_row("live tasks (silver_tasks)", str(report.tasks_in_table), str(report.tasks_in_silver))
    table.add_row("live users (silver_users)", str(report.users_in_table), str(report.users_in_silver))
    table.add_row("gold count checks", str(report.gold_checks), "")
    console.print(table)
    if report.ok:
        console.print(
            "[bold green]✓ the lake equals the table[/] (attribute for attribute; gold counts equal)"
        )
        return
    console.print(f"[bold red]✗ {len(report.differences)} difference(s)[/]")
    for difference in report.differences[:limit]:
        console.print(f"  - {difference}")
    if len(report.differences) > limit:
        console.print(f"  … and {len(report.differences) - limit} more")
