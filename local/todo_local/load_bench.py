"""`todo-insights bench --only load`: does the local platform hold under sustained load?

Starts the local platform as `todo-insights local up --no-rate-limit` does (gateway, moto with the
DynamoDB emulation layer, the ingestion path consuming the stream), then drives it over HTTP:

1. **creates**: N task creates through the local gateway from C client threads (one signed-in user
   per thread), latency p50/p99 of the first and of the last 10% of creates;
2. **sequential ops**: one client doing create → get → patch → list, one after the other;
3. **concurrent patches and lists**: C threads patching their own tasks and listing them.

It reports errors by HTTP status, and the platform's resident memory (this process's VmRSS: moto,
the gateway and the handlers all run in it) before and after. The goal for 10,000 creates (issue 8):
0 errors, memory growth at most 200 MB, p99 of the last 10% at most twice that of the first 10%.
Absolute latencies on a shared 2-core box say little; the start/end comparison is the point.
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CREATES = 2_000  # `make bench` stays within a few minutes; the goal is 10,000
DEFAULT_CONCURRENCY = 8
SEQUENTIAL_ROUNDS = 50
PATCHES_PER_CLIENT = 25
LISTS_PER_CLIENT = 10
CLIENT_TIMEOUT_SECONDS = 120.0
GOAL_MEMORY_GROWTH_MB = 200.0
GOAL_P99_GROWTH = 2.0


def rss_mb() -> float:
    """This process's resident set size in MB (from /proc/self/status; the platform runs in-process)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak, not current (no /proc)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no samples)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered) - 1e-9)))
    return ordered[rank - 1]


@dataclass
class Latencies:
    """Latencies (ms) of one kind of operation, and its answers by status."""

    name: str
    samples_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def record(self, started: float, status: int) -> None:
        self.samples_ms.append((time.perf_counter() - started) * 1000)
        self.statuses[status] += 1

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "count": len(self.samples_ms),
            "p50_ms": percentile(self.samples_ms, 0.50),
            "p99_ms": percentile(self.samples_ms, 0.99),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


@dataclass
class LoadReport:
    creates: int
    concurrency: int
    seconds: float
    create_start: dict[str, Any]
    create_end: dict[str, Any]
    operations: list[dict[str, Any]]
    errors: dict[str, int]
    rss_before_mb: float
    rss_after_mb: float
    stream_records_kept: int
    tasks_stored: int

    @property
    def memory_growth_mb(self) -> float:
        return self.rss_after_mb - self.rss_before_mb

    @property
    def p99_growth(self) -> float:
        start = float(self.create_start["p99_ms"])
        return float(self.create_end["p99_ms"]) / start if start else float("inf")

    def goals(self) -> dict[str, bool]:
        return {
            "no errors": not self.errors,
            f"memory growth <= {GOAL_MEMORY_GROWTH_MB:.0f} MB": self.memory_growth_mb
            <= GOAL_MEMORY_GROWTH_MB,
            f"p99 end <= {GOAL_P99_GROWTH:.0f}x p99 start": self.p99_growth <= GOAL_P99_GROWTH,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "memory_growth_mb": self.memory_growth_mb,
            "p99_growth": self.p99_growth,
            "goals": self.goals(),
        }


@dataclass
class _Client:
    """One simulated client: a signed-in user with a profile and an HTTP client."""

    http: Any
    task_ids: list[str] = field(default_factory=list)


def _errors(groups: Sequence[Latencies]) -> dict[str, int]:
    errors: Counter[str] = Counter()
    for group in groups:
        for status, count in group.statuses.items():
            if status >= 400 or status == 0:
                errors[f"{group.name} {status}"] += count
    return dict(errors)


def _timed(group: Latencies, send: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    started = time.perf_counter()
    try:
        response = send(*args, **kwargs)
    except Exception:
        group.record(started, 0)  # no answer at all (connection reset, timeout)
        return None
    group.record(started, int(response.status_code))
    return response


def _in_threads(count: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(n,), name=f"load-{n}") for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _sign_up(endpoints: dict[str, Any], name: str) -> _Client:
    from todo_local.cognito import generate_password, signed_in_client

    email = f"load-{uuid.uuid4().hex[:12]}@example.com"
    _, http = signed_in_client(
        endpoints, email, generate_password(), name=name, timeout=CLIENT_TIMEOUT_SECONDS
    )
    response = http.post("/api/v1/users", json={"name": name, "timezone": "UTC"})
    if response.status_code != 201:
        raise RuntimeError(f"could not create the profile of {name}: {response.status_code} {response.text}")
    return _Client(http)


def _create_phase(clients: list[_Client], creates: int) -> tuple[list[tuple[float, float, int]], float]:
    """N creates over the clients' threads; (start, latency ms, status) of each, and wall seconds."""
    counter = iter(range(creates))
    lock = threading.Lock()
    samples: list[tuple[float, float, int]] = []

    def work(n: int) -> None:
        client = clients[n]
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            started = time.perf_counter()
            try:
                response = client.http.post(
                    "/api/v1/tasks",
                    json={"title": f"load task {index}", "priority": "medium", "tags": ["load"]},
                )
                status = int(response.status_code)
                if status == 201:
                    client.task_ids.append(str(response.json()["task_id"]))
            except Exception:
                status = 0
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                samples.append((started, elapsed, status))

    began = time.perf_counter()
    _in_threads(len(clients), work)
    return sorted(samples), time.perf_counter() - began


def _window(name: str, samples: Sequence[tuple[float, float, int]]) -> dict[str, Any]:
    group = Latencies(name)
    for _started, elapsed, status in samples:
        group.samples_ms.append(elapsed)
        group.statuses[status] += 1
    return group.summary()


def _sequential_phase(client: _Client, rounds: int) -> list[Latencies]:
    groups = {name: Latencies(f"sequential {name}") for name in ("create", "get", "patch", "list")}
    http = client.http
    for n in range(rounds):
        response = _timed(groups["create"], http.post, "/api/v1/tasks", json={"title": f"seq {n}"})
        if response is None or response.status_code != 201:
            continue
        url = f"/api/v1/tasks/{response.json()['task_id']}"
        _timed(groups["get"], http.get, url)
        _timed(groups["patch"], http.patch, url, json={"title": f"seq {n}!"})
        _timed(groups["list"], http.get, "/api/v1/tasks", params={"limit": 20})
    return list(groups.values())


def _patch_and_list_phase(clients: list[_Client]) -> list[Latencies]:
    patches = Latencies("concurrent patch")
    lists = Latencies("concurrent list")
    lock = threading.Lock()

    def work(n: int) -> None:
        client = clients[n]
        mine_patches, mine_lists = Latencies(patches.name), Latencies(lists.name)
        for k, task_id in enumerate(client.task_ids[:PATCHES_PER_CLIENT]):
            body = {"status": "in_progress", "title": f"patched {k}"}
            _timed(mine_patches, client.http.patch, f"/api/v1/tasks/{task_id}", json=body)
            if k < LISTS_PER_CLIENT:
                _timed(mine_lists, client.http.get, "/api/v1/tasks", params={"limit": 20})
        with lock:
            for mine, total in ((mine_patches, patches), (mine_lists, lists)):
                total.samples_ms += mine.samples_ms
                total.statuses.update(mine.statuses)

    _in_threads(len(clients), work)
    return [patches, lists]


def _count_tasks(table_name: str) -> int:
    import boto3

    client = boto3.client("dynamodb")
    try:
        total = 0
        kwargs: dict[str, Any] = {"TableName": table_name, "Select": "COUNT"}
        while True:
            page = client.scan(**kwargs)
            total += int(page["Count"])
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    finally:
        client.close()


def run_load_bench(
    directory: Path | None = None,
    creates: int = DEFAULT_CREATES,
    concurrency: int = DEFAULT_CONCURRENCY,
    *,
    sequential_rounds: int = SEQUENTIAL_ROUNDS,
    on_progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Start a platform in `directory`, run the three phases, stop it; the report."""
    from todo_local import dynamodb_emulation
    from todo_local.ingestion import wire_ingestion
    from todo_local.platform import LocalPlatform

    if creates < 1 or concurrency < 1:
        raise ValueError("creates and concurrency must be at least 1")
    say = on_progress or (lambda _message: None)
    folder = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="todo-load-"))
    say("starting the local platform")
    with LocalPlatform(folder, api_port=0, aws_port=0, preload_handler=True, rate_limits=None) as platform:
        ingestion = wire_ingestion(platform)
        clients: list[_Client] = []
        try:
            say(f"signing up {concurrency} users")
            clients = [_sign_up(platform.endpoints, f"Load {n}") for n in range(concurrency)]
            rss_before = rss_mb()
            say(f"{creates:,} creates from {concurrency} clients")
            samples, seconds = _create_phase(clients, creates)
            tenth = max(1, len(samples) // 10)
            create_start = _window("create (first 10%)", samples[:tenth])
            create_end = _window("create (last 10%)", samples[-tenth:])
            all_creates = Latencies("create")
            for _started, elapsed, status in samples:
                all_creates.samples_ms.append(elapsed)
                all_creates.statuses[status] += 1
            say("sequential create, get, patch, list")
            groups = [all_creates, *_sequential_phase(clients[0], sequential_rounds)]
            say("concurrent patches and lists")
            groups += _patch_and_list_phase(clients)
            say("draining the stream")
            platform.drain()
            rss_after = rss_mb()
            tasks = _count_tasks(platform.endpoints["table_name"])
            kept = dynamodb_emulation.stream_records_kept()
        finally:
            for client in clients:
                client.http.close()
            ingestion.stop()
    return LoadReport(
        creates=creates,
        concurrency=concurrency,
        seconds=seconds,
        create_start=create_start,
        create_end=create_end,
        operations=[g.summary() for g in groups],
        errors=_errors(groups),
        rss_before_mb=rss_before,
        rss_after_mb=rss_after,
        stream_records_kept=kept,
        tasks_stored=tasks,
    )


def print_load_report(report: LoadReport) -> None:
    from rich.console import Console
    from rich.table import Table

    title = (
        f"todo-insights bench --only load: {report.creates:,} creates from {report.concurrency} clients "
        f"in {report.seconds:,.1f} s ({report.creates / report.seconds:,.0f}/s)"
    )
    table = Table(title=title)
    for column in ("operation", "count", "p50", "p99", "answers"):
        table.add_column(column, justify="left" if column in {"operation", "answers"} else "right")
    for row in [report.create_start, report.create_end, *report.operations]:
        answers = ", ".join(f"{status}: {count:,}" for status, count in row["statuses"].items())
        table.add_row(
            row["name"], f"{row['count']:,}", f"{row['p50_ms']:,.1f} ms", f"{row['p99_ms']:,.1f} ms", answers
        )
    console = Console()
    console.print(table)
    console.print(
        f"platform memory (RSS): {report.rss_before_mb:,.1f} MB before, {report.rss_after_mb:,.1f} MB after "
        f"({report.memory_growth_mb:+,.1f} MB); p99 end / start: {report.p99_growth:.2f}x; "
        f"errors: {report.errors or 'none'}; items in the table: {report.tasks_stored:,}; "
        f"stream records held after the drain: {report.stream_records_kept:,}"
    )
    for goal, met in report.goals().items():
        console.print(f"  {'[green]met[/]' if met else '[red]missed[/]'}  {goal}")


def write_load_report(report: LoadReport, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "load-bench.json"
    path.write_text(json.dumps(report.as_dict(), indent=2))
    return path
