"""`todo-insights bench`: every benchmark in one run, printed as a table of ratios and saved as JSON."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    bench = subparsers.add_parser(
        "bench",
        help="measure our overheads against baselines, then the local platform under load",
        description=(
            "Runs every benchmark in one process and prints ours / baseline ratios: api cold start "
            "(import and first request) against FastAPI+Mangum with a boto3 DynamoDB client, handler "
            "latency against bare FastAPI+Mangum, a task's GET and PATCH through the handler against "
            "raw boto3 calls on the same moto server, CDC records/second against a plain "
            "TypeDeserializer-and-json loop writing the same bronze rows to the same local Firehose, "
            "the silver job on Spark against DuckDB on the same "
            "bronze, and the named queries through the local Athena engine against DuckDB; then the load "
            "benchmark: task creates, patches and lists through the local gateway from several clients "
            "(latency at the start and at the end, errors, the platform's memory before and after)."
        ),
    )
    bench.add_argument("--users", type=int, default=50, help="synthetic users (default: 50)")
    bench.add_argument("--tasks", type=int, default=40, help="tasks per user (default: 40)")
    bench.add_argument(
        "--out", type=Path, default=Path(".bench"), help="where bench.json and the scratch lake go"
    )
    bench.add_argument("--keep", action="store_true", help="keep the scratch lake after the run")
    bench.add_argument(
        "--history",
        type=int,
        nargs=2,
        metavar=("SMALL", "LARGE"),
        default=(10_000, 1_000_000),
        help="bronze events of the two lakes of the incremental-run benchmark (default: 10000 1000000)",
    )
    bench.add_argument(
        "--no-history", action="store_true", help="skip the incremental-run benchmark (it builds two lakes)"
    )
    bench.add_argument(
        "--only",
        choices=("ratios", "load"),
        help="run only the ratio benchmarks, or only the load benchmark (default: both)",
    )
    bench.add_argument(
        "--creates",
        type=int,
        default=None,
        help="task creates of the load benchmark (default: 2000; the issue's goal is measured with 10000)",
    )
    bench.add_argument(
        "--concurrency", type=int, default=None, help="client threads of the load benchmark (default: 8)"
    )
    bench.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from todo_local.load_bench import DEFAULT_CONCURRENCY, DEFAULT_CREATES

    console = Console(stderr=True)
    creates = DEFAULT_CREATES if args.creates is None else args.creates
    concurrency = DEFAULT_CONCURRENCY if args.concurrency is None else args.concurrency
    if creates < 1 or concurrency < 1:
        console.print("[bold red]error:[/] --creates and --concurrency must be at least 1")
        return 2
    if args.only != "load":
        status = run_ratios(args, console)
        if status:
            return status
    if args.only != "ratios":
        return run_load(args, console, creates, concurrency)
    return 0


def run_load(args: argparse.Namespace, console: Any, creates: int, concurrency: int) -> int:
    from todo_local.load_bench import print_load_report, run_load_bench, write_load_report

    scratch = _scratch(args.out / "load-platform", args.keep)
    with scratch as folder, console.status("load benchmark…") as status:
        report = run_load_bench(
            folder,
            creates,
            concurrency,
            on_progress=lambda step: status.update(f"load benchmark: {step}…"),
        )
    print_load_report(report)
    console.print(f"results: {write_load_report(report, args.out)}")
    return 0


def run_ratios(args: argparse.Namespace, console: Any) -> int:
    from todo_local.bench import Workload, print_results, run_benchmarks, write_results

    if args.users < 1 or args.tasks < 1:
        console.print("[bold red]error:[/] --users and --tasks must be at least 1")
        return 2
    small, large = args.history
    if not 1_000 <= small < large:
        console.print("[bold red]error:[/] --history needs 1000 <= SMALL < LARGE")
        return 2
    with _scratch(args.out / "scratch", args.keep) as scratch, console.status("benchmarking…") as status:
        results = run_benchmarks(
            scratch,
            Workload(users=args.users, tasks=args.tasks),
            on_progress=lambda step: status.update(f"benchmarking: {step}…"),
            lake_sizes=None if args.no_history else (small, large),
        )
    print_results(results)
    console.print(f"results: {write_results(results, args.out)}")
    return 0


@contextmanager
def _scratch(folder: Path, keep: bool) -> Iterator[Path]:
    """An empty folder for one benchmark (every run starts from nothing), removed after a run
    that finished unless `keep` (a failed run leaves it to look at)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    yield folder
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
