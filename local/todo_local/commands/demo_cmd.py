"""`todo-insights demo`: the whole system end to end in one process (see `todo_local.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEFAULT_DEMO_DIR = Path(".local-demo")


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo", help="platform, users, API traffic, pipeline, queries, reconcile, report"
    )
    demo.add_argument(
        "--dir", type=Path, default=DEFAULT_DEMO_DIR, help="state folder, wiped first (default: .local-demo)"
    )
    demo.add_argument("--tasks-per-user", type=int, default=12, help="tasks each user creates (default: 12)")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the traffic")
    demo.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from todo_local.demo import run_demo

    return run_demo(args.dir, tasks_per_user=args.tasks_per_user, seed=args.seed)
