"""The demo's look at the lake as Iceberg tables: snapshots per table and a time-travel query.

After a second, incremental pipeline run, every silver and gold table has a history: the demo
prints each table's snapshots (what the last commit did, rows, files) and answers one question
from the past with `FOR VERSION AS OF`, the way an analyst would in Athena.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from todo_contracts.lake_layout import ICEBERG_TABLES, SILVER_TASKS
from todo_local.athena_engine import AthenaEngine, QueryResult
from todo_local.lake_catalog import LocalLakeCatalog, SnapshotRow

TIME_TRAVEL_SQL = """
WITH before AS (
    SELECT status, count(*) AS tasks FROM silver_tasks FOR VERSION AS OF {snapshot_id} GROUP BY status
),
now AS (
    SELECT status, count(*) AS tasks FROM silver_tasks GROUP BY status
)
SELECT coalesce(now.status, before.status) AS status,
       coalesce(before.tasks, 0) AS after_first_run,
       coalesce(now.tasks, 0) AS now
FROM now FULL OUTER JOIN before ON now.status = before.status
ORDER BY 1
""".strip()


@dataclass(frozen=True)
class TableHistory:
    """A table's snapshots, oldest first."""

    table: str
    snapshots: Sequence[SnapshotRow]


def current_snapshot_id(lake_dir: Path) -> int | None:
    """silver_tasks' current snapshot (the time-travel target of the demo)."""
    history = LocalLakeCatalog(lake_dir).snapshots(SILVER_TASKS)
    return history[-1].snapshot_id if history else None


def table_histories(lake_dir: Path) -> list[TableHistory]:
    catalog = LocalLakeCatalog(lake_dir)
    return [TableHistory(t.name, catalog.snapshots(t)) for t in ICEBERG_TABLES]


def print_snapshots(histories: Sequence[TableHistory], console: Console) -> None:
    table = Table(title="Iceberg snapshots per table (silver and gold)", title_justify="left")
    for column in (
        "table",
        "snapshots",
        "current snapshot",
        "last commit",
        "+rows",
        "-rows",
        "rows",
        "files",
    ):
        table.add_column(column, justify="left" if column in {"table", "last commit"} else "right")
    for history in histories:
        if not history.snapshots:
            table.add_row(history.table, "0", "", "(never written)", "", "", "0", "0")
            continue
        last = history.snapshots[-1]
        table.add_row(
            history.table,
            str(len(history.snapshots)),
            str(last.snapshot_id),
            f"{last.operation} at {last.committed_at:%H:%M:%S}",
            f"{last.added_records:,}",
            f"{last.deleted_records:,}",
            f"{last.total_records:,}",
            str(last.total_data_files),
        )
    console.print(table)


def time_travel(lake_dir: Path, snapshot_id: int) -> tuple[str, QueryResult]:
    """Tasks per status as of `snapshot_id` of silver_tasks, next to now."""
    sql = TIME_TRAVEL_SQL.format(snapshot_id=snapshot_id)
    with AthenaEngine(lake_dir) as engine:
        return sql, engine.query(sql)


def print_time_travel(sql: str, result: QueryResult, console: Console) -> None:
    console.print("[bold]Time travel[/] (Athena SQL, run by the local engine on the older snapshot):")
    console.print(sql, style="dim", highlight=False)
    table = Table(title_justify="left")
    for column in result.columns:
        table.add_column(column, justify="left" if column == "status" else "right")
    for row in result.rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
