"""`todo-insights local up` (the platform, in the foreground) and `local user` (a user and its ID token)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.panel import Panel
from rich.table import Table

from todo_local.endpoints import DEFAULT_DIR, ENDPOINTS_FILE


def register(subparsers: Any) -> None:
    local = subparsers.add_parser(
        "local",
        help="run the local platform; create users",
        description="The whole system on one machine: moto (DynamoDB, Cognito), the local gateway, the lake.",
    )
    commands = local.add_subparsers(dest="local_command", required=True, metavar="SUBCOMMAND")

    up = commands.add_parser(
        "up",
        help="start the platform in the foreground (Ctrl+C stops it)",
        description="Start a fresh local platform and write DIR/endpoints.json; SIGINT/SIGTERM stop it.",
    )
    up.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state folder (default: .local)")
    up.add_argument("--api-port", type=int, default=3000, help="API port (default: 3000, like sam local)")
    up.add_argument("--aws-port", type=int, default=5000, help="moto port (default: 5000, like moto_server)")
    up.add_argument(
        "--handler",
        metavar="MODULE:ATTR",
        help="the Lambda handler the gateway invokes (default: the API function's, todo_api.handler:handler)",
    )
    up.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="serve without the dev stage's limits (300 requests per caller per 5 minutes, 20/s per stage)",
    )
    up.set_defaults(func=run_up)

    user = commands.add_parser(
        "user",
        help="create a Cognito user in the running platform and print its ID token",
        description="Create (or reuse) a user, sign in with USER_PASSWORD_AUTH and print the ID token on "
        "stdout, e.g. TOKEN=$(todo-insights local user --email me@example.com --password ... --quiet).",
    )
    user.add_argument("--email", required=True)
    user.add_argument("--password", help="default: a generated one, shown on stderr")
    user.add_argument(
        "--name", help="the user's name (Cognito attribute and, with --create-profile, profile)"
    )
    user.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state folder (default: .local)")
    user.add_argument("--create-profile", action="store_true", help="also POST /api/v1/users as the user")
    user.add_argument("--quiet", action="store_true", help="print only the token")
    user.set_defaults(func=run_user)


# -- local up --------------------------------------------------------------------------------------


def _configure_logging(console: Console) -> None:
    handler = RichHandler(console=console, show_path=False, show_level=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("todo_local")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def _banner(endpoints: dict[str, str], directory: Path) -> Panel:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan")
    table.add_column()
    api = endpoints["api_url"]
    rows = [
        ("API", api),
        ("Swagger UI", f"{api}/api/docs"),
        ("AWS endpoint", endpoints["aws_endpoint_url"]),
        ("User pool", f"{endpoints['user_pool_id']} (client {endpoints['user_pool_client_id']})"),
        ("Table", endpoints["table_name"]),
        ("Lake", endpoints["lake_dir"]),
        ("Logs", endpoints["logs_dir"]),
        ("Control", endpoints["control_url"]),
        ("Endpoints", str(directory / ENDPOINTS_FILE)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    table.add_row("", "")
    table.add_row(
        "Try", f"TOKEN=$(todo-insights local user --dir {directory} --email me@example.com --quiet)"
    )
    table.add_row("", f'curl -H "Authorization: Bearer $TOKEN" {api}/api/v1/users/me')
    table.add_row("Then", f"todo-insights pipeline run --dir {directory}   # stream → bronze → silver → gold")
    table.add_row("", f"todo-insights sql --dir {directory} --list   # the analyst queries")
    return Panel(table, title="[bold green]local platform ready[/]", subtitle="Ctrl+C to stop", expand=False)


def _echo_problems(console: Console) -> Any:
    """Show the API's warning and error log lines on the terminal too (they also go to api.jsonl)."""

    def on_record(function: str, record: dict[str, Any]) -> None:
        level = str(record.get("level", "")).upper()
        if level in ("WARNING", "ERROR", "CRITICAL"):
            console.print(f"[yellow]{function} {level}[/] {record.get('message', record)}", markup=True)

    return on_record


def run_up(args: argparse.Namespace) -> int:
    from todo_local.gateway import DEFAULT_HANDLER
    from todo_local.ingestion import wire_ingestion
    from todo_local.platform import HandlerLoadError, LocalPlatform, PortInUseError
    from todo_local.rate_limit import DEV_LIMITS

    handler_reference = args.handler or DEFAULT_HANDLER
    console = Console(stderr=True)  # the platform's own words go to stderr; stdout is the functions'
    _configure_logging(console)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)

    platform = LocalPlatform(
        args.dir,
        api_port=args.api_port,
        aws_port=args.aws_port,
        handler_reference=handler_reference,
        on_record=_echo_problems(console),
        preload_handler=True,  # a broken handler fails here, not on the first request
        rate_limits=None if args.no_rate_limit else DEV_LIMITS,  # the same 429s as the dev stage
    )
    with console.status("starting the local platform…"):
        try:
            platform.start()
        except (PortInUseError, HandlerLoadError) as exc:  # start() has undone what it started
            console.print(f"[bold red]error:[/] {exc}")
            return 1
        except Exception as exc:
            console.print(f"[bold red]error:[/] the local platform could not start: {exc!r}")
            return 1
        try:
            # Stream poller → cdc handler → local Firehose → bronze, and api.jsonl → logs → bronze.
            ingestion = wire_ingestion(platform)
        except Exception as exc:
            platform.stop()
            console.print(f"[bold red]error:[/] the ingestion path could not start: {exc!r}")
            return 1
    try:
        console.print(_banner(platform.endpoints, platform.directory))
        while not stop.wait(0.5):
            pass
    finally:
        console.print("stopping…")
        ingestion.stop()
        platform.stop()
    console.print("[green]stopped[/]")
    return 0


# -- local user ------------------------------------------------------------------------------------


def run_user(args: argparse.Namespace) -> int:
    import httpx
    from botocore.exceptions import BotoCoreError, ClientError

    from todo_local.cognito import SignInError, UserExistsError, create_user, generate_password, sign_in
    from todo_local.endpoints import EndpointsError, read_running_endpoints

    console = Console(stderr=True, quiet=args.quiet)
    errors = Console(stderr=True)
    try:
        endpoints = read_running_endpoints(args.dir)
    except EndpointsError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        return 2  # as every command: 2 = no platform running
    generated = args.password is None
    password = generate_password() if generated else args.password
    created = True
    try:
        create_user(endpoints, args.email, password, name=args.name)
    except UserExistsError:
        if generated:
            errors.print(f"[bold red]error:[/] {args.email} already exists; pass its --password to sign in")
            return 1
        created = False
    except (ClientError, BotoCoreError) as exc:
        errors.print(f"[bold red]error:[/] cannot create {args.email}: {exc}")
        return 1
    try:
        tokens = sign_in(endpoints, args.email, password)
    except SignInError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        return 1
    profile = "not requested"
    if args.create_profile:
        body = {"name": args.name or args.email.split("@")[0]}
        try:
            response = httpx.post(
                f"{endpoints.api_url}/api/v1/users",
                json=body,
                headers={"Authorization": f"Bearer {tokens.id_token}"},
                timeout=60,
            )
        except httpx.HTTPError as exc:
            errors.print(f"[bold red]error:[/] cannot reach the API: {exc}")
            return 1
        if response.status_code not in (201, 409):
            errors.print(
                f"[bold red]error:[/] POST /api/v1/users → {response.status_code} {response.text[:300]}"
            )
            return 1
        profile = "created" if response.status_code == 201 else "already existed"
    details = Table.grid(padding=(0, 2))
    details.add_column(style="bold cyan")
    details.add_column()
    details.add_row("User", f"{tokens.email} ({'created' if created else 'existing'})")
    details.add_row("sub", tokens.sub)
    if generated:
        details.add_row("Password", password)
    details.add_row("Profile", profile)
    details.add_row("ID token", "on stdout")
    console.print(details)
    sys.stdout.write(tokens.id_token + "\n")
    return 0
