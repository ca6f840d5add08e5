"""Entry point of the `todo-insights` console script: builds the argument parser from the command modules."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module exposes `register(subparsers)`; its parser sets `func(args) -> int`.
COMMAND_MODULES = (
    "todo_local.commands.local_cmd",
    "todo_local.commands.sql_cmd",
    "todo_local.commands.pipeline_cmd",
    "todo_local.commands.reconcile_cmd",
    "todo_local.commands.restore_cmd",
    "todo_local.commands.demo_cmd",
    "todo_local.commands.bench_cmd",
    "todo_local.commands.smoke_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="todo-insights",
        description="Run, query and check the Todo API with Insights on one machine.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
