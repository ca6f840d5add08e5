"""`todo-insights demo`: the whole system end to end in one process (see `todo_local.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

# The history defaults, without importing the demo (and its dependencies) at CLI start.
DEFAULT_USERS = 36
DEFAULT_WEEKS = 8
DEFAULT_DEMO_DIR = Path(".local-demo")


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo", help="platform, users, API traffic, pipeline, queries, reconcile, report"
    )
    demo.add_argument(
        "--dir", type=Path, default=DEFAULT_DEMO_DIR, help="state folder, wiped first (default: .local-demo)"
    )
    demo.add_argument("--tasks-per-user", type=int, default=12, help="tasks each user creates (default: 12)")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the traffic and the history")
    demo.add_argument(
        "--history-users",
        type=_count,
        default=DEFAULT_USERS,
        help=f"users in the replayed history (default: {DEFAULT_USERS})",
    )
    demo.add_argument(
        "--history-weeks",
        type=_count,
        default=DEFAULT_WEEKS,
        help=f"weeks of replayed history ending now (default: {DEFAULT_WEEKS})",
    )
    demo.add_argument(
        "--no-history", action="store_true", help="skip the history replay: only the live run's activity"
    )
    demo.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from todo_local.demo import run_demo

    return run_demo(
        args.dir,
        tasks_per_user=args.tasks_per_user,
        seed=args.seed,
        history_users=0 if args.no_history else args.history_users,
        history_weeks=0 if args.no_history else args.history_weeks,
    )
