"""`todo-insights restore`: rebuild a fresh table from the bronze cdc objects alone, and compare it.

Bronze here includes the records the CDC function dead-lettered for being too large for Firehose
(the local dead-letter bucket): they are part of the change history, just not of a Firehose object.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from todo_local.endpoints import DEFAULT_DIR


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="rebuild a fresh table from bronze alone",
        description="Create NEW_TABLE in the running platform and fill it from DIR/lake/bronze/cdc only "
        "(the last event of each item), then compare it with the live table.",
    )
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state folder (default: .local)")
    parser.add_argument("--table", required=True, metavar="NEW_TABLE", help="name of the table to create")
    parser.add_argument("--no-drain", action="store_true", help="do not drain the stream into bronze first")
    parser.add_argument("--no-compare", action="store_true", help="do not compare with the live table")
    parser.add_argument(
        "--dead-letter-bucket",
        metavar="BUCKET",
        help="where the CDC function dead-letters oversized records (default: the local platform's)",
    )
    parser.add_argument(
        "--no-dead-letters", action="store_true", help="restore from the Firehose objects only"
    )
    parser.set_defaults(func=run_restore)


def _drain(control_url: str) -> None:
    request = urllib.request.Request(f"{control_url}/drain", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=600) as response:
        json.load(response)


def run_restore(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from todo_local.aws_clients import platform_client
    from todo_local.endpoints import EndpointsError, read_running_endpoints
    from todo_local.ingestion import DEAD_LETTER_BUCKET
    from todo_local.restore import RestoreError, compare_tables, dead_letter_events_from_s3, restore_table

    console = Console()
    errors = Console(stderr=True)
    try:
        endpoints = read_running_endpoints(args.dir)
    except EndpointsError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        return 2  # as every command: 2 = no platform or a usage error, 1 = the check failed
    if args.table == endpoints.table_name:
        errors.print(f"[bold red]error:[/] {args.table} is the live table; restore into a new one")
        return 2
    s3 = platform_client(endpoints, "s3")  # the platform's emulator, named, not via the environment
    dynamodb = platform_client(endpoints, "dynamodb")
    try:
        if not args.no_drain:
            with console.status("draining the stream into bronze…"):
                _drain(endpoints.control_url)
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
        ) as progress:
            tasks = {
                "read": progress.add_task("reading bronze objects", total=None),
                "write": progress.add_task("writing items", total=None),
            }

            def on_progress(phase: str, done: int, total: int) -> None:
                progress.update(tasks[phase], completed=done, total=total)

            dead_letters = (
                []
                if args.no_dead_letters
                else dead_letter_events_from_s3(args.dead_letter_bucket or DEAD_LETTER_BUCKET, client=s3)
            )
            summary = restore_table(
                Path(endpoints.lake_dir),
                args.table,
                dead_letter_events=dead_letters,
                on_progress=on_progress,
                client=dynamodb,
            )
        comparison = (
            None if args.no_compare else compare_tables(endpoints.table_name, args.table, client=dynamodb)
        )
    except (RestoreError, ClientError, BotoCoreError, urllib.error.URLError, OSError) as exc:
        errors.print(f"[bold red]error:[/] restore failed: {exc}")
        return 1
    finally:
        s3.close()
        dynamodb.close()

    table = Table(title=f"restored {args.table} from bronze", show_header=False)
    table.add_column(style="bold cyan")
    table.add_column(justify="right")
    for label, value in (
        ("bronze objects read", summary.objects_read),
        ("events read", summary.events_read),
        ("dead-lettered records read", summary.dead_letters_read),
        ("unreadable lines", summary.unreadable_lines),
        ("items seen", summary.items_seen),
        ("items deleted (last event REMOVE)", summary.items_deleted),
        ("items restored", summary.items_restored),
    ):
        table.add_row(label, str(value))
    console.print(table)
    if summary.unreadable_lines:
        errors.print(f"[yellow]warning:[/] {summary.unreadable_lines} bronze lines were not bronze records")
    if comparison is None:
        return 0
    if comparison.equal:
        console.print(
            f"[green]equal:[/] {comparison.target_items} items match the live table {endpoints.table_name}"
        )
        return 0
    for label, keys in (
        ("only in the live table", comparison.only_in_source),
        ("only in the restored table", comparison.only_in_target),
        ("different", comparison.different),
    ):
        for pk, sk in keys:
            errors.print(f"[red]{label}:[/] {pk} {sk}")
    errors.print(f"[bold red]the restored table differs from {endpoints.table_name}[/]")
    return 1
