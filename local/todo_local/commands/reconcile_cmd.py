"""`todo-insights reconcile`: the table's live items against silver, and its counts against gold.

Without `--stage` it reads the local platform under `--dir`; with `--stage dev|staging|prod` it
reads that deployed stage (parallel Scan of its table, Athena in its workgroup) with the AWS
credentials and region of the environment.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from todo_local.endpoints import DEFAULT_DIR, EndpointsError, read_running_endpoints


def register(subparsers: Any) -> None:
    reconcile = subparsers.add_parser(
        "reconcile", help="compare the table with silver and gold; exit 0 when equal, 1 with each difference"
    )
    reconcile.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state folder of `local up`")
    reconcile.add_argument("--max-differences", type=int, default=50, help="how many differences to print")
    reconcile.add_argument(
        "--stage",
        choices=("dev", "staging", "prod"),
        help="reconcile a deployed stage instead (AWS credentials and region from the environment)",
    )
    reconcile.add_argument("--segments", type=int, default=4, help="parallel Scan segments (with --stage)")
    reconcile.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from todo_local.aws_clients import platform_resource
    from todo_local.pipeline_view import print_reconcile_report
    from todo_local.reconcile import reconcile

    console = Console()
    if args.stage:
        return _run_against_stage(args, console)
    try:
        endpoints = read_running_endpoints(args.dir)
    except EndpointsError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        return 2
    dynamodb = platform_resource(endpoints, "dynamodb")
    report = reconcile(endpoints.table_name, Path(endpoints.lake_dir), dynamodb=dynamodb)
    print_reconcile_report(report, console, limit=args.max_differences)
    return 0 if report.ok else 1


def _run_against_stage(args: argparse.Namespace, console: Any) -> int:
    from botocore.exceptions import BotoCoreError, ClientError
    from rich.console import Console

    from todo_local.pipeline_view import print_reconcile_report
    from todo_local.stage_reconcile import AthenaQueryError, StageResources, reconcile_stage

    if args.segments < 1:
        Console(stderr=True).print("[bold red]error:[/] --segments must be at least 1")
        return 2
    resources = StageResources(args.stage)
    try:
        report = reconcile_stage(resources, segments=args.segments)
    except (BotoCoreError, ClientError, AthenaQueryError) as exc:
        Console(stderr=True).print(f"[bold red]error:[/] cannot read stage {args.stage}: {exc}")
        return 2
    print_reconcile_report(report, console, limit=args.max_differences)
    return 0 if report.ok else 1
