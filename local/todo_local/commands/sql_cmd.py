"""`todo-insights sql`: run Athena SQL (inline, a file or a named query) on the local lake."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from todo_local.endpoints import DEFAULT_DIR, EndpointsError, endpoints_path, is_running, read_endpoints

FORMATS = ("table", "csv", "json")
LAKE_FOLDER = "lake"


def register(subparsers: Any) -> None:
    sql = subparsers.add_parser(
        "sql",
        help="run Athena SQL on the local lake (inline, --file or a named --query)",
        description="Run one Athena (Trino) SQL statement on the local lake through the DuckDB engine.",
    )
    source = sql.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "statement", nargs="?", help='the SQL to run, e.g. "SELECT * FROM gold_business_kpis"'
    )
    source.add_argument("--file", type=Path, help="a file holding the SQL")
    source.add_argument("--query", metavar="NAME", help="a named query of the query folder (etl/queries)")
    source.add_argument("--list", action="store_true", help="list the named queries and exit")
    sql.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    sql.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help="state folder of `local up` (default: .local)"
    )
    sql.set_defaults(func=run_command)


class SqlCommandError(RuntimeError):
    """The command cannot run: no lake, unreadable file, unknown query name."""


def resolve_lake_dir(directory: Path) -> Path:
    """The running platform's lake; else `DIR/lake` if a stopped platform left one; else an error."""
    if not endpoints_path(directory).is_file():
        reason = f"no platform has run in {directory} ({endpoints_path(directory)} is absent)"
    else:
        try:
            endpoints = read_endpoints(directory)
        except EndpointsError:
            reason = f"{endpoints_path(directory)} is not a valid endpoints file"
        else:
            if is_running(endpoints):
                return Path(endpoints.lake_dir)
            reason = f"the platform in {directory} is not running"
    fallback = directory / LAKE_FOLDER
    if fallback.is_dir():
        return fallback
    raise SqlCommandError(
        f"No lake to query: {reason}, and {fallback} does not exist. "
        f"Start the platform with `todo-insights local up --dir {directory}`, "
        "then fill the lake with `todo-insights pipeline run`."
    )


def statement_of(args: argparse.Namespace) -> tuple[str, str | None]:
    """The SQL to run and, for a named query, its title."""
    if args.query:
        from todo_etl.queries import get_query

        try:
            named = get_query(args.query)
        except KeyError as exc:
            raise SqlCommandError(str(exc.args[0])) from exc
        return named.sql, named.title
    if args.file:
        try:
            return args.file.read_text(encoding="utf-8"), None
        except OSError as exc:
            raise SqlCommandError(f"Cannot read {args.file}: {exc.strerror or exc}") from exc
    return str(args.statement), None


def run_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from todo_local.athena_engine import AthenaEngine, QueryError

    errors = Console(stderr=True)
    if args.list:
        return list_queries(sys.stdout)
    try:
        sql, title = statement_of(args)
        lake_dir = resolve_lake_dir(args.dir)
    except (SqlCommandError, EndpointsError) as exc:
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return 2
    with AthenaEngine(lake_dir) as engine:
        try:
            result = engine.query(sql)
        except QueryError as exc:
            errors.print(f"[bold red]query failed:[/] {escape(str(exc))}", highlight=False)
            return 1
    write_result(result.columns, result.rows, args.format, sys.stdout, title=title)
    return 0


def list_queries(out: TextIO) -> int:
    from todo_etl.queries import load_queries

    for query in load_queries():
        out.write(f"{query.name}\t{query.title}\n")
    return 0


def write_result(
    columns: list[str], rows: list[tuple[Any, ...]], fmt: str, out: TextIO, *, title: str | None = None
) -> None:
    """Print a result as a rich table, CSV (header first) or a JSON array of objects."""
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([["" if v is None else _text(v) for v in row] for row in rows])
    elif fmt == "json":
        records = [{c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows]
        out.write(json.dumps(records, indent=2) + "\n")
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, caption=f"{len(rows)} row{'s' if len(rows) != 1 else ''}")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*["NULL" if v is None else _text(v) for v in row])
        Console(file=out, highlight=False).print(table)


def _text(value: Any) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(_jsonable(value))
    return str(value)


def _jsonable(value: Any) -> Any:
    """Query values as JSON: dates and times in ISO 8601, decimals as numbers, nested values kept."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value
