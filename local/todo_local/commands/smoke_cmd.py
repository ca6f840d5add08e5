"""`todo-insights smoke`: the post-deploy smoke test against a stage URL or the local platform."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from rich.console import Console

    from todo_local.smoke import SmokeReport

TOKEN_ENV = "SMOKE_ID_TOKEN"  # noqa: S105 (the name of the variable, not a secret)


class UsageError(Exception):
    """The command line or the environment does not say what to test or as whom (exit 2)."""


def register(subparsers: Any) -> None:
    smoke = subparsers.add_parser(
        "smoke",
        help="post-deploy smoke test of a stage URL or the local platform; exit 0 all pass, 1 a check failed",
        description=(
            "Runs an ordered set of API checks (health, OpenAPI, auth, profile, task create/replay/"
            "get/list/412/complete/delete/404, validation envelope) and removes what it created. "
            "Exit 0 when every check passes, 1 when one fails, 2 on usage or configuration errors."
        ),
    )
    target = smoke.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--url", help="stage base URL, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/prod"
    )
    target.add_argument(
        "--dir", type=Path, help="state folder of a running `local up`: test it with a throwaway user"
    )
    smoke.add_argument("--token", help=f"Cognito ID token for --url (default: ${TOKEN_ENV}); never printed")
    smoke.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    smoke.add_argument(
        "--keep-profile", action="store_true", help="keep the profile even if this run created it"
    )
    smoke.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    smoke.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from todo_local.smoke import run_smoke

    try:
        if args.timeout <= 0:
            raise UsageError("--timeout must be a positive number of seconds")
        if args.dir is not None and args.token:
            raise UsageError("--token goes with --url; with --dir the smoke test signs in a throwaway user")
        base_url, token = _local_target(args.dir) if args.dir is not None else _remote_target(args)
    except UsageError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        return 2
    report = run_smoke(base_url, token, timeout=args.timeout, keep_profile=args.keep_profile)
    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        print_report(report, Console())
    return 0 if report.ok else 1


def _remote_target(args: argparse.Namespace) -> tuple[str, str]:
    url = str(args.url).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            "--url must be an http(s) base URL like "
            f"https://<id>.execute-api.<region>.amazonaws.com/<stage>, got {url!r}"
        )
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token.strip():
        raise UsageError(
            f"no token: pass --token ID_TOKEN or set {TOKEN_ENV} (see docs/runbooks/smoke-test.md "
            "for `aws cognito-idp initiate-auth`)"
        )
    return url, token


def _local_target(directory: Path) -> tuple[str, str]:
    """The local platform's API URL and a token of a new, throwaway Cognito user in its pool."""
    from botocore.exceptions import BotoCoreError, ClientError

    from todo_local.cognito import SignInError, UserExistsError, create_user, generate_password, sign_in
    from todo_local.endpoints import EndpointsError, read_running_endpoints

    try:
        endpoints = read_running_endpoints(directory)
    except EndpointsError as exc:
        raise UsageError(str(exc)) from exc
    email = f"smoke-{uuid.uuid4().hex[:12]}@example.com"
    password = generate_password()
    try:
        create_user(endpoints, email, password, name="Smoke Test")
        tokens = sign_in(endpoints, email, password)
    except (UserExistsError, SignInError, ClientError, BotoCoreError) as exc:
        raise UsageError(f"could not get a token from the local user pool: {exc}") from exc
    return endpoints.api_url, tokens.id_token


def print_report(report: SmokeReport, console: Console) -> None:
    """One row per check (✓/✗), then a one-line verdict."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"smoke test: {report.base_url}", title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("check")
    table.add_column("expected")
    table.add_column("got", overflow="fold")
    table.add_column("ms", justify="right")
    table.add_column("", justify="center")
    for number, check in enumerate(report.checks, start=1):
        mark = Text("✓", style="bold green") if check.passed else Text("✗", style="bold red")
        ms = "" if check.elapsed_ms is None else f"{check.elapsed_ms:.0f}"
        # Text, not markup: response bodies may contain [brackets] that rich would interpret.
        got = Text(check.got, style="yellow" if check.skipped else ("" if check.passed else "red"))
        table.add_row(str(number), check.name, check.expected, got, ms, mark)
    console.print(table)
    passed = sum(check.passed for check in report.checks)
    total = len(report.checks)
    if report.ok:
        console.print(Text(f"PASS: {passed}/{total} checks", style="bold green"))
    else:
        names = ", ".join(check.name for check in report.failures)
        console.print(Text(f"FAIL: {passed}/{total} checks passed; failed: {names}", style="bold red"))
