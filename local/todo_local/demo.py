"""`todo-insights demo`: the whole story in one process, readable from top to bottom.

Platform up → weeks of history replayed through the API with a simulated clock (`todo_local.history`)
→ two users sign up through Cognito → a tour of every endpoint → the error cases →
realistic traffic from more users → pipeline (stream → bronze → silver → gold) → one user's
account deletion erased from every layer of the lake → more changes and an incremental run
(Iceberg snapshots per table, a time-travel query) → every named query → reconcile → an HTML
report with charts → one user's insights through the API → platform down. Exit 0 only if all of it
worked.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from todo_local.cognito import generate_password, signed_in_client
from todo_local.demo_lake import (
    current_snapshot_id,
    print_snapshots,
    print_time_travel,
    table_histories,
    time_travel,
)
from todo_local.history import (
    DEFAULT_USERS,
    DEFAULT_WEEKS,
    ReplayResult,
    default_end,
    describe,
    personas_table,
    plan_history,
    replay_history,
)
from todo_local.platform import LocalPlatform
from todo_local.traffic import TrafficStats, drive_user

if TYPE_CHECKING:
    from todo_local.pipeline import PipelineResult
    from todo_local.reconcile import ReconcileReport

TRAFFIC_USERS = ("Ada", "Grace", "Linus", "Barbara", "Edsger", "Margaret", "Ken", "Frances")


@dataclass
class DemoUser:
    name: str
    email: str
    sub: str
    client: httpx.Client


@dataclass
class Tour:
    """The rows of the endpoint tour and whether each call answered as the contract says."""

    anonymous: httpx.Client  # what calls made by no one (`who` None) go through: it sends no token
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def call(
        self, who: DemoUser | None, method: str, path: str, expected: int, note: str = "", **kwargs: Any
    ) -> httpx.Response:
        """`who` calls the API with their own client (the anonymous one when None)."""
        client = self.anonymous if who is None else who.client
        response = client.request(method, path, **kwargs)
        ok = response.status_code == expected
        if not ok:
            self.failures.append(
                f"{method} {path}: expected {expected}, got {response.status_code} {response.text}"
            )
        summary = note or _summarise(response)
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        self.rows.append(
            (who.name if who else "anonymous", method, path, f"{mark} {response.status_code}", summary)
        )
        return response


def _summarise(response: httpx.Response) -> str:
    if not response.content:
        return ""
    try:
        body = response.json()
    except json.JSONDecodeError:
        return str(response.headers.get("content-type", ""))
    if isinstance(body, dict) and "error" in body:
        return f"{body['error'].get('code')}: {body['error'].get('message', '')}"[:90]
    if isinstance(body, dict) and "items" in body:
        return f"{len(body['items'])} item(s), next_cursor={'yes' if body.get('next_cursor') else 'none'}"
    text = json.dumps(body)
    return text if len(text) <= 90 else text[:87] + "..."


def sign_up(platform: LocalPlatform, name: str) -> DemoUser:
    """A user signs up through the Cognito API and gets an ID token, as an app would."""
    email = f"{name.lower()}@example.com"
    tokens, client = signed_in_client(platform.endpoints, email, generate_password(), name=name, timeout=30)
    return DemoUser(name, email, tokens.sub, client)


def endpoint_tour(ada: DemoUser, grace: DemoUser, anonymous: httpx.Client) -> Tour:
    """Every endpoint once, then the error cases, with what each answered."""
    tour = Tour(anonymous)
    due = (date.today() + timedelta(days=3)).isoformat()
    tour.call(None, "GET", "/api/health", 200)
    tour.call(None, "GET", "/api/openapi.json", 200, "OpenAPI document")
    tour.call(None, "GET", "/api/docs", 200, "Swagger UI")
    tour.call(ada, "POST", "/api/v1/users", 201, json={"name": "Ada", "timezone": "Europe/London"})
    tour.call(grace, "POST", "/api/v1/users", 201, json={"name": "Grace"})
    tour.call(ada, "GET", "/api/v1/users/me", 200)
    tour.call(ada, "GET", f"/api/v1/users/{ada.sub}", 200)
    tour.call(ada, "PATCH", "/api/v1/users/me", 200, json={"name": "Ada Lovelace"})
    body = {
        "title": "Write the analytical engine notes",
        "priority": "high",
        "category": "work",
        "due_date": due,
    }
    created = tour.call(ada, "POST", "/api/v1/tasks", 201, json=body, headers={"Idempotency-Key": "tour-1"})
    task_id = created.json()["task_id"]
    replay = tour.call(ada, "POST", "/api/v1/tasks", 201, json=body, headers={"Idempotency-Key": "tour-1"})
    tour.rows[-1] = (*tour.rows[-1][:4], f"replayed={replay.headers.get('Idempotent-Replayed')}, same task")
    tour.call(ada, "GET", f"/api/v1/tasks/{task_id}", 200, f"ETag {created.headers.get('ETag')}")
    tour.call(ada, "GET", "/api/v1/tasks", 200, params={"status": "pending", "limit": 5})
    tour.call(ada, "GET", "/api/v1/tasks", 200, params={"due_before": due, "priority": "high"})
    replaced = tour.call(
        ada,
        "PUT",
        f"/api/v1/tasks/{task_id}",
        200,
        json={**body, "description": "Note G", "tags": ["math"]},
        headers={"If-Match": '"1"'},
    )
    etag = replaced.headers.get("ETag", '"2"')
    tour.call(
        ada,
        "PATCH",
        f"/api/v1/tasks/{task_id}",
        200,
        json={"status": "completed"},
        headers={"If-Match": etag},
    )
    doomed = ada.client.post("/api/v1/tasks", json={"title": "Throwaway"}).json()["task_id"]
    tour.call(ada, "DELETE", f"/api/v1/tasks/{doomed}", 204, "deleted")
    # The error cases: each is refused with a clear error and changes nothing.
    tour.call(None, "GET", "/api/v1/tasks", 401, "no token → API Gateway's 401")
    tour.call(grace, "GET", f"/api/v1/tasks/{task_id}", 404, "Ada's task is invisible to Grace")
    tour.call(grace, "GET", f"/api/v1/users/{ada.sub}", 404)
    tour.call(ada, "PATCH", f"/api/v1/tasks/{task_id}", 412, json={"title": "x"}, headers={"If-Match": '"1"'})
    tour.call(ada, "POST", "/api/v1/tasks", 422, json={"title": " ", "priority": "urgent", "owner": "me"})
    tour.call(ada, "GET", "/api/v1/tasks", 400, params={"cursor": "not-a-cursor"})
    tour.call(
        ada,
        "POST",
        "/api/v1/tasks",
        422,
        json={**body, "title": "Different"},
        headers={"Idempotency-Key": "tour-1"},
    )
    tour.call(ada, "POST", "/api/v1/tasks", 413, content=b'{"title": "' + b"x" * 70_000 + b'"}')
    return tour


def print_tour(tour: Tour, console: Console) -> None:
    table = Table(title="Every endpoint, then the error cases", title_justify="left")
    for column in ("who", "method", "path", "status", "result"):
        table.add_column(column, overflow="fold")
    for row in tour.rows:
        table.add_row(*row)
    console.print(table)


def _bar(label: str, console: Console) -> Progress:
    """The demo's progress bar for a run of API calls: label, bar, calls done of total, time taken."""
    return Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def drive_traffic(
    platform: LocalPlatform, users: list[DemoUser], tasks_per_user: int, seed: int, console: Console
) -> tuple[TrafficStats, DemoUser | None]:
    """More users sign up and work through their tasks; the last one deletes their account (and is
    returned, so the demo can show the erasure)."""
    rng = random.Random(seed)
    stats = TrafficStats()
    newcomers = [sign_up(platform, name) for name in TRAFFIC_USERS[len(users) :]]
    for user in newcomers:
        response = user.client.post("/api/v1/users", json={"name": user.name, "timezone": "UTC"})
        stats.record("create profile", response, 201)
    everyone = users + newcomers
    expected_calls = len(everyone) * int(tasks_per_user * 2.2)
    with _bar("API traffic", console) as progress:
        task = progress.add_task("traffic", total=expected_calls)
        tick: Callable[[], None] = lambda: progress.advance(task)  # noqa: E731 - a one-line callback
        for user in everyone:
            drive_user(user.client, rng, tasks_per_user, stats, on_call=tick)
        progress.update(task, completed=expected_calls)
    leaver = newcomers[-1] if newcomers else None
    if leaver is not None:
        response = leaver.client.delete("/api/v1/users/me")
        stats.record("delete account", response, 204)
    for user in newcomers[:-1]:
        user.client.close()
    return stats, leaver


class Person(Protocol):
    """Whoever deleted an account: a live demo user or a history user."""

    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def sub(self) -> str: ...


@dataclass(frozen=True)
class Leaver:
    name: str
    email: str
    sub: str


def show_erasure(lake_dir: Path, leaver: Person, console: Console) -> list[str]:
    """The deleted user's erasure log row, and a search of every lake file for their email and name."""
    from todo_local.athena_engine import AthenaEngine
    from todo_local.lake_search import find_in_lake, lake_files

    sub = leaver.sub.replace("'", "''")  # a Cognito sub (a UUID); quoted all the same
    columns = "status, requested_at, completed_at, objects_rewritten, records_redacted, rows_deleted"
    sql = f"SELECT {columns} FROM erasure_log WHERE user_id = '{sub}'"  # noqa: S608 (quoted above)
    with AthenaEngine(lake_dir) as engine:
        result = engine.query(sql)
    table = Table(title=f"erasure_log for {leaver.sub} ({leaver.name})", title_justify="left")
    for column in result.columns:
        table.add_column(column)
    for row in result.rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
    problems = []
    if not result.rows or result.rows[0][0] != "completed":
        problems.append(f"the erasure of {leaver.name}'s account did not complete")
    needles = (leaver.email, f'"{leaver.name}"')
    files = lake_files(lake_dir)
    found = find_in_lake(lake_dir, needles)
    console.print(
        f"searched {len(files)} lake files (bronze gzip, Parquet, Iceberg metadata and Avro manifests, "
        f"the catalog) for {leaver.email} and the name {leaver.name!r}: "
        + ("[bold green]nothing found[/]" if not found else f"[bold red]{len(found)} hit(s)[/]")
    )
    problems += [f"{needle} still in {path}" for path, needle in found]
    return problems


def replay_past(platform: LocalPlatform, users: int, weeks: int, seed: int, console: Console) -> ReplayResult:
    """The planned past, replayed through the gateway with a simulated clock, with a progress bar."""
    assert platform.gateway is not None  # a started platform has one
    plan = plan_history(users=users, weeks=weeks, seed=seed, end=default_end())
    with _bar("History replay", console) as progress:
        task = progress.add_task("history", total=len(plan.calls))
        result = replay_history(
            platform.gateway, platform.endpoints, plan, on_call=lambda: progress.advance(task)
        )
    table = Table(title="Who the history users are", title_justify="left")
    for column in ("habit", "users", "what they do"):
        table.add_column(column)
    for persona, count, description in personas_table(result):
        table.add_row(persona, str(count), description)
    console.print(table)
    calls = ", ".join(f"{kind} x{n}" for kind, n in result.calls.most_common())
    console.print(f"[dim]calls: {calls}[/]")
    console.print(
        Panel.fit(
            describe(result) + ".\nEvery call went through the local gateway (Cognito authorizer, the "
            "same Lambda handler)\nto the table, its stream, CDC and Firehose, like live traffic; only "
            "the clock was simulated\n(the API's time source and the stream records' creation time, "
            "both restored afterwards).",
            title="how the history was made",
        )
    )
    return result


def show_insights(api_url: str, who: str, id_token: str, console: Console) -> None:
    """One user's insights, fetched through the API as the app would (never a reason to fail the
    demo: the route may not be deployed in this build, or the loader may not have seen the user)."""
    with httpx.Client(
        base_url=api_url, headers={"Authorization": f"Bearer {id_token}"}, timeout=30
    ) as client:
        response = client.get("/api/v1/users/me/insights")
    if response.status_code != 200:
        try:
            error = response.json().get("error", {})
            reason = f"{error.get('code')}: {error.get('message')}"
        except (json.JSONDecodeError, AttributeError):
            reason = response.text[:200]
        if response.status_code in (404, 405) and "INSIGHTS_NOT_READY" not in reason:
            reason += "; this build has no insights route yet"
        console.print(
            f"[yellow]GET /api/v1/users/me/insights for {who} answered {response.status_code}[/] "
            f"({reason}): insights are not shown"
        )
        return
    body = response.json()
    table = Table(title=f"GET /api/v1/users/me/insights — {who}", title_justify="left")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in body.items():
        shown = value
        if key == "top_categories" and isinstance(value, list):
            shown = ", ".join(
                f"{c.get('category')} ({c.get('completed')}/{c.get('created')} done)" for c in value
            )
        table.add_row(key, "" if shown is None else str(shown))
    console.print(table)


def print_traffic(stats: TrafficStats, console: Console) -> None:
    table = Table(title="Traffic driven through the gateway", title_justify="left")
    table.add_column("call")
    table.add_column("count", justify="right")
    for kind, count in sorted(stats.calls.items()):
        table.add_row(kind, str(count))
    table.add_row("[bold]statuses[/]", ", ".join(f"{s} x{n}" for s, n in sorted(stats.statuses.items())))
    console.print(table)


def emf_totals(metrics_file: Path) -> dict[str, float]:
    """Sum every EMF metric the functions printed (what CloudWatch would have received)."""
    totals: dict[str, float] = defaultdict(float)
    if not metrics_file.exists():
        return totals
    for line in metrics_file.read_text(encoding="utf-8").splitlines():
        try:
            blob = json.loads(line)
        except json.JSONDecodeError:
            continue
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive.get("Metrics", []):
                value = blob.get(metric["Name"])
                values = value if isinstance(value, list) else [value]
                totals[metric["Name"]] += sum(v for v in values if isinstance(v, int | float))
    return totals


def run_queries(lake_dir: Path, console: Console, max_rows: int = 8) -> list[tuple[str, int]]:
    """Run every named query of the folder on the local lake and print each result."""
    from todo_etl.queries import load_queries
    from todo_local.athena_engine import AthenaEngine, QueryError

    counts: list[tuple[str, int]] = []
    with AthenaEngine(lake_dir) as engine:
        for query in load_queries():
            try:
                result = engine.query(query.sql)
            except QueryError as error:
                if not error.history_too_short:  # on a lake younger than a day, "yesterday" is not there
                    raise
                console.print(
                    f"[yellow]{query.name}[/] — {query.title}: not answerable yet, as in Athena "
                    f"({error.reason})"
                )
                counts.append((query.name, 0))
                continue
            table = Table(
                title=f"{query.name} — {query.title}", title_justify="left", caption=query.description
            )
            for column in result.columns:
                table.add_column(column, overflow="fold")
            for row in result.rows[:max_rows]:
                table.add_row(
                    *("" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)) for v in row)
                )
            if len(result.rows) > max_rows:
                table.add_row(*(["…"] * len(result.columns)))
            console.print(table)
            counts.append((query.name, len(result.rows)))
    return counts


def pipeline_on(platform: LocalPlatform, on_stage: Callable[[str, str], None]) -> PipelineResult:
    """`run_pipeline` on the platform's lake, loading the insights into its table through clients
    named from its endpoints (the demo sets nothing in the process environment for it)."""
    from todo_local.aws_clients import platform_clients
    from todo_local.pipeline import run_pipeline

    return run_pipeline(
        platform.lake_dir,
        platform.drain,
        on_stage=on_stage,
        table_name=platform.endpoints["table_name"],
        clients=platform_clients(platform.endpoints),
    )


def incremental_wave(platform: LocalPlatform, users: list[DemoUser], seed: int, out: Console) -> list[str]:
    """A few more changes and an incremental run; then the snapshots of every table and a query
    that reads silver_tasks as it was after the first run. Returns the unexpected answers."""
    from todo_local.pipeline_view import StageProgress

    first_snapshot = current_snapshot_id(platform.lake_dir)
    out.rule("3c. More changes, an incremental run: Iceberg snapshots and time travel")
    wave = TrafficStats()
    rng = random.Random(seed + 1)
    for user in users:
        drive_user(user.client, rng, 3, wave)
    with StageProgress(out) as progress:
        result = pipeline_on(platform, progress.on_stage)
    changes = result.silver.get("details", {}).get("changes", {})
    out.print(
        f"{sum(wave.calls.values())} more calls; the incremental silver run committed only what changed: "
        + ", ".join(f"{name} +{c['added']}/-{c['deleted']}" for name, c in sorted(changes.items()))
    )
    print_snapshots(table_histories(platform.lake_dir), out)
    if first_snapshot is not None:
        print_time_travel(*time_travel(platform.lake_dir, first_snapshot), out)
    return wave.unexpected


def erasure_phase(
    lake_dir: Path, leaver: DemoUser | None, history: ReplayResult | None, out: Console
) -> list[str]:
    """Step 3b: the live leaver's and the history leaver's accounts, erased from every layer."""
    problems: list[str] = []
    if leaver is not None:
        out.rule(f"3b. Right to erasure: {leaver.name} deleted the account")
        problems += show_erasure(lake_dir, leaver, out)
        leaver.client.close()
    for past in history.deleted if history else []:
        deleted_at = f"{past.user.deleted_at:%Y-%m-%d %H:%M} UTC" if past.user.deleted_at else "?"
        out.print(
            f"[bold]{past.user.name}[/] (history) deleted the account on {deleted_at}; the request is "
            "dated then, and erased in this run:"
        )
        problems += show_erasure(lake_dir, Leaver(past.user.name, past.user.email, past.sub), out)
    return problems


def write_demo_report(
    platform: LocalPlatform,
    history: ReplayResult | None,
    query_counts: list[tuple[str, int]],
    result: PipelineResult,
    report: ReconcileReport,
) -> Path:
    """The HTML report: the history's provenance, charts of the gold tables, the run's figures."""
    from todo_local.report import (
        Report,
        erasure_section,
        gold_sections,
        history_section,
        table_section,
        write_report,
    )

    emf = emf_totals(platform.logs_dir / "metrics.jsonl")
    reconciled = [
        ("live tasks", report.tasks_in_table, report.tasks_in_silver),
        ("live users", report.users_in_table, report.users_in_silver),
        ("gold count checks", report.gold_checks, "all equal" if report.ok else "differences"),
    ]
    shown = history.by_persona("daily finisher")[:1] if history else []
    sections = [
        history_section(describe(history), personas_table(history))
        if history
        else table_section("How this history was made", (), (), "no history: the live run only"),
        *gold_sections(
            platform.lake_dir,
            shown[0].sub if shown else None,
            f"{shown[0].user.name} ({shown[0].user.persona})" if shown else "",
        ),
        erasure_section(platform.lake_dir),
        table_section("Named queries (rows returned)", ("query", "rows"), query_counts),
        table_section("EMF metrics captured from the functions", ("metric", "sum"), sorted(emf.items())),
        table_section("Pipeline stage timings (s)", ("stage", "seconds"), sorted(result.seconds.items())),
        table_section("Reconcile", ("check", "table", "lake"), reconciled),
    ]
    return write_report(
        Report("Todo API with Insights — demo report", sections), platform.directory / "report"
    )


def history_phase(
    platform: LocalPlatform, users: int, weeks: int, seed: int, out: Console
) -> ReplayResult | None:
    """Step 0: the replayed past (None when the demo runs without history)."""
    if users <= 0 or weeks <= 0:
        out.print("[dim]no history replayed (--no-history): every figure covers the live run only[/]")
        return None
    out.rule(f"0. History: {weeks} weeks of past activity, replayed through the API")
    return replay_past(platform, users, weeks, seed, out)


def final_insights(api_url: str, history: ReplayResult | None, ada: DemoUser, out: Console) -> None:
    """The history's first daily finisher (a long streak to show), else Ada."""
    shown = history.by_persona("daily finisher")[:1] if history else []
    if shown:
        who = f"{shown[0].user.name} (history, {shown[0].user.persona}, {shown[0].user.timezone})"
        show_insights(api_url, who, shown[0].id_token, out)
    else:
        show_insights(
            api_url, ada.name, str(ada.client.headers["Authorization"]).removeprefix("Bearer "), out
        )


def run_demo(
    directory: Path,
    *,
    tasks_per_user: int = 12,
    seed: int = 7,
    history_users: int = DEFAULT_USERS,
    history_weeks: int = DEFAULT_WEEKS,
    console: Console | None = None,
) -> int:
    """The whole story; returns the process exit code."""
    from todo_local.aws_clients import platform_resource
    from todo_local.ingestion import wire_ingestion
    from todo_local.pipeline_view import StageProgress, print_pipeline_result, print_reconcile_report
    from todo_local.reconcile import reconcile

    out = console or Console()
    problems: list[str] = []
    out.rule("[bold]Todo API with Insights — local demo")
    with LocalPlatform(directory, api_port=0, aws_port=0) as platform:
        wire_ingestion(platform)
        endpoints = platform.endpoints
        out.print(
            Panel.fit(
                "\n".join(f"[cyan]{k}[/]: {v}" for k, v in endpoints.items() if k.endswith(("url", "dir"))),
                title="local platform up (moto server, gateway, stream poller, Firehose endpoint)",
            )
        )
        history = history_phase(platform, history_users, history_weeks, seed, out)
        problems += history.unexpected if history else []

        out.rule("1. Sign-up through Cognito and a tour of the API")
        ada, grace = sign_up(platform, "Ada"), sign_up(platform, "Grace")
        out.print(
            f"signed up [bold]{ada.email}[/] (sub {ada.sub}) and [bold]{grace.email}[/] (sub {grace.sub})"
        )
        with httpx.Client(base_url=endpoints["api_url"], timeout=30) as anonymous:
            tour = endpoint_tour(ada, grace, anonymous)
        print_tour(tour, out)
        problems += tour.failures

        out.rule("2. Realistic traffic")
        stats, leaver = drive_traffic(platform, [ada, grace], tasks_per_user, seed, out)
        print_traffic(stats, out)
        problems += stats.unexpected

        out.rule("3. Pipeline: stream → cdc → bronze → silver → gold")
        with StageProgress(out) as progress:
            result = pipeline_on(platform, progress.on_stage)
        print_pipeline_result(result, out)

        problems += erasure_phase(platform.lake_dir, leaver, history, out)

        problems += incremental_wave(platform, [ada, grace], seed, out)

        out.rule("4. Every named Athena query, on the local lake")
        query_counts = run_queries(platform.lake_dir, out)

        out.rule("5. Reconcile: the lake against the table")
        report = reconcile(
            endpoints["table_name"], platform.lake_dir, dynamodb=platform_resource(endpoints, "dynamodb")
        )
        print_reconcile_report(report, out)
        if not report.ok:
            problems.append(f"reconcile found {len(report.differences)} difference(s)")

        page = write_demo_report(platform, history, query_counts, result, report)
        out.rule("6. One user's insights, through the API")
        final_insights(endpoints["api_url"], history, ada, out)
        for user in (ada, grace):
            user.client.close()
    out.rule("Done")
    if history is not None:
        out.print(describe(history))
    out.print(f"report with charts: [link=file://{page}]{page}[/]")
    if problems:
        out.print(f"[bold red]{len(problems)} problem(s):[/]")
        for problem in problems:
            out.print(f"  - {problem}")
        return 1
    out.print("[bold green]demo finished: every call answered as specified and the lake equals the table[/]")
    return 0
