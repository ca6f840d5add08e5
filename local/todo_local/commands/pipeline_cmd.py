"""`todo-insights pipeline run`: drain the running platform's stream into bronze, then silver, the
erase step and gold; `pipeline erase` runs the erase step alone (ADR 0013)."""

from __future__ import annotations

import argparse
import functools
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from todo_local.endpoints import DEFAULT_DIR, Endpoints, EndpointsError, read_running_endpoints

if TYPE_CHECKING:
    from rich.console import Console


def register(subparsers: Any) -> None:
    pipeline = subparsers.add_parser("pipeline", help="run the change-data pipeline on the local platform")
    actions = pipeline.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run",
        help="drain stream → bronze, then silver and gold; returns when all changes made before it are in",
    )
    _add_dir(run)
    run.add_argument(
        "--full-rebuild", action="store_true", help="silver reads all of bronze, not only new partitions"
    )
    run.add_argument("--json", action="store_true", help="print the result as JSON instead of tables")
    run.set_defaults(func=run_command)

    erase = actions.add_parser(
        "erase",
        help="erase every deleted account from bronze, silver, gold and old snapshots (also part of `run`)",
    )
    _add_dir(erase)
    erase.set_defaults(func=erase_command)

    from todo_etl.glue.maintenance_policy import DEFAULT_POLICY

    maintain = actions.add_parser(
        "maintain",
        help="compact small files, expire old snapshots and remove orphan files of every lake table",
    )
    _add_dir(maintain)
    maintain.add_argument(
        "--retention-hours",
        type=int,
        default=DEFAULT_POLICY.snapshot_retention_hours,
        help=f"expire snapshots older than this (default: {DEFAULT_POLICY.snapshot_retention_hours})",
    )
    maintain.add_argument(
        "--retain-last",
        type=int,
        default=DEFAULT_POLICY.retain_last_snapshots,
        help=f"but keep the newest N snapshots (default: {DEFAULT_POLICY.retain_last_snapshots})",
    )
    maintain.add_argument(
        "--orphan-age-hours",
        type=int,
        default=DEFAULT_POLICY.orphan_min_age_hours,
        help=f"remove unreferenced files older than this (default: {DEFAULT_POLICY.orphan_min_age_hours})",
    )
    maintain.set_defaults(func=maintain_command)

    rollback = actions.add_parser("rollback", help="put one silver or gold table back on an older snapshot")
    _add_dir(rollback)
    rollback.add_argument("--table", required=True, help="catalog table name, e.g. silver_tasks")
    rollback.add_argument(
        "--snapshot", type=int, required=True, help='snapshot id (SELECT * FROM "<table>$snapshots")'
    )
    rollback.set_defaults(func=rollback_command)


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help="state folder of `local up` (default: .local)"
    )


class CommandError(Exception):
    """Ends a pipeline command: the message is printed as `error: …`, `code` is its exit status
    (2: the user must fix something first, 1: a step of the lake failed)."""

    def __init__(self, message: object, code: int) -> None:
        super().__init__(message)
        self.code = code


def _exits_on_error(
    command: Callable[[argparse.Namespace, Console], int],
) -> Callable[[argparse.Namespace], int]:
    """The command, given a console on stderr for its progress and errors; a `CommandError` it
    raises is printed there and becomes the exit status. Any other exception propagates."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from rich.console import Console

        console = Console(stderr=True)
        try:
            return command(args, console)
        except CommandError as exc:
            console.print(f"[bold red]error:[/] {exc}")
            return exc.code

    return run


def _lake_dir(directory: Path) -> Path:
    """The lake of `--dir` as `sql` finds it (`resolve_lake_dir`); without one the command exits 2."""
    from todo_local.commands.sql_cmd import SqlCommandError, resolve_lake_dir

    try:
        return resolve_lake_dir(directory)
    except SqlCommandError as exc:
        raise CommandError(exc, 2) from exc


def remote_drain(endpoints: Endpoints) -> Mapping[str, Any]:
    """Ask the running platform to drain its stream poller and flush its delivery streams."""
    request = urllib.request.Request(f"{endpoints.control_url}/drain", method="POST", data=b"{}")
    with urllib.request.urlopen(request, timeout=600) as response:
        payload: Mapping[str, Any] = json.loads(response.read())
    return payload


def _first_line(error: BaseException) -> str:
    """The gist of an error: Spark's carry a JVM stack trace after the first lines."""
    if isinstance(error, urllib.error.HTTPError):
        body = error.read().decode("utf-8", "replace")
        return f"HTTP {error.code}: {body.strip().splitlines()[0][:300] if body.strip() else error.reason}"
    text = str(error).strip() or type(error).__name__
    return f"{type(error).__name__}: {text.splitlines()[0][:500]}"


@_exits_on_error
def run_command(args: argparse.Namespace, console: Console) -> int:
    from rich.console import Console

    from todo_local.aws_clients import platform_clients
    from todo_local.pipeline import run_pipeline
    from todo_local.pipeline_view import StageProgress, print_pipeline_result

    try:
        endpoints = read_running_endpoints(args.dir)
    except EndpointsError as exc:
        raise CommandError(exc, 2) from exc
    current = {"stage": "ingestion"}
    try:
        with StageProgress(console) as progress:

            def on_stage(stage: str, event: str) -> None:
                current["stage"] = stage
                progress.on_stage(stage, event)

            result = run_pipeline(
                Path(endpoints.lake_dir),
                lambda: remote_drain(endpoints),
                full_rebuild=args.full_rebuild,
                on_stage=on_stage,
                table_name=endpoints.table_name,
                clients=platform_clients(endpoints),  # the insights loader writes into its table
            )
    except (urllib.error.URLError, OSError) as exc:
        if current["stage"] != "ingestion":
            raise
        raise CommandError(
            f"could not drain the platform at {endpoints.control_url}: "
            f"{_first_line(exc)}\nIs `todo-insights local up --dir {args.dir}` still running?",
            2,
        ) from exc
    except Exception as exc:
        stage = current["stage"]
        recorded = (
            " (its pipeline_runs row records the failure)" if stage in ("silver", "erasure", "gold") else ""
        )
        raise CommandError(
            f"the {stage} stage failed{recorded}: {_first_line(exc)}\n"
            "See docs/runbooks/etl.md; `todo-insights pipeline run --full-rebuild` rebuilds silver "
            "from bronze.",
            1,
        ) from exc
    if args.json:
        sys.stdout.write(
            json.dumps(
                {
                    "ingestion": result.ingestion,
                    "silver": result.silver,
                    "erasure": result.erasure,
                    "gold": result.gold,
                    "insights": result.insights,
                    "seconds": result.seconds,
                },
                default=str,
                indent=2,
            )
            + "\n"
        )
    else:
        print_pipeline_result(result, Console())
    failed = [
        s
        for s in (result.silver, result.erasure, result.gold)
        if str(s.get("status", "succeeded")) != "succeeded"
    ]
    return 1 if failed else 0


@_exits_on_error
def erase_command(args: argparse.Namespace, console: Console) -> int:
    from rich.console import Console
    from rich.table import Table

    from todo_etl.glue.erasure import run_erasure
    from todo_etl.glue.local_session import lake_session

    lake_dir = _lake_dir(args.dir)
    try:
        with console.status("erasing deleted accounts from every layer of the lake…"):
            spark, lake = lake_session(lake_dir)
            summary = run_erasure(spark, lake)
    except Exception as exc:
        raise CommandError(
            "the erase step failed (its pipeline_runs row records it; a rerun "
            f"completes it): {_first_line(exc)}",
            1,
        ) from exc
    details = summary.details
    table = Table(title=f"erase run {summary.run_id}", title_justify="left", show_header=False)
    table.add_column("field", style="cyan")
    table.add_column("value", justify="right")
    table.add_row("requests worked on", str(details["requests"]))
    table.add_row("completed", str(details["completed"]))
    table.add_row("bronze objects rewritten", str(details["objects_rewritten"]))
    table.add_row("bronze records redacted", str(details["records_redacted"]))
    for name, count in sorted(details["rows_deleted"].items()):
        table.add_row(f"rows deleted: {name}", str(count))
    Console().print(table)
    Console().print('The erasure log: todo-insights sql "SELECT * FROM erasure_log ORDER BY requested_at"')
    return 0


@_exits_on_error
def maintain_command(args: argparse.Namespace, console: Console) -> int:
    from rich.console import Console
    from rich.table import Table

    from todo_etl.glue.local_session import lake_session
    from todo_etl.glue.maintenance import run_maintenance
    from todo_etl.glue.maintenance_policy import MaintenancePolicy

    try:
        policy = MaintenancePolicy(
            snapshot_retention_hours=args.retention_hours,
            retain_last_snapshots=args.retain_last,
            orphan_min_age_hours=args.orphan_age_hours,
        )
    except ValueError as exc:
        raise CommandError(exc, 2) from exc
    lake_dir = _lake_dir(args.dir)
    try:
        with console.status("maintaining the lake's Iceberg tables…"):
            spark, lake = lake_session(lake_dir)
            summary = run_maintenance(spark, lake, policy)
    except Exception as exc:
        raise CommandError(f"maintenance failed: {_first_line(exc)}", 1) from exc
    table = Table(title=f"maintenance run {summary.run_id}", title_justify="left")
    for column in ("table", "files compacted", "files written", "expired data files", "orphans removed"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for name, done in sorted(summary.details["tables"].items()):
        table.add_row(
            name,
            str(done["rewritten_files"]),
            str(done["added_files"]),
            str(done["expired_data_files"]),
            str(done["orphan_files"]),
        )
    Console().print(table)
    return 0


@_exits_on_error
def rollback_command(args: argparse.Namespace, console: Console) -> int:
    from rich.console import Console

    from todo_etl.glue.local_session import lake_session
    from todo_etl.glue.maintenance import RollbackError, rollback_table

    lake_dir = _lake_dir(args.dir)
    try:
        spark, lake = lake_session(lake_dir)
        outcome = rollback_table(spark, lake, args.table, args.snapshot)
    except RollbackError as exc:
        raise CommandError(exc, 1) from exc
    Console().print(
        f"{args.table}: current snapshot {outcome['previous_snapshot_id']} → {outcome['current_snapshot_id']}"
    )
    return 0
