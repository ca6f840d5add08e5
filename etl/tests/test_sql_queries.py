"""Every analyst query runs on a generated lake and returns what Python computes from the same rows."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from todo_contracts import lake_layout as ll
from todo_etl.queries import NamedQuery, load_queries
from todo_local.athena_engine import AthenaEngine, QueryResult
from todo_local.testing.iceberg_rows import append_rows

PRIORITY_ORDER = {"high": 1, "medium": 2, "low": 3}
CATEGORIES = ("work", "home", "errands", "health")
TAGS = ("urgent", "home", "work", "later", "call", "bills")
ROUTES = (
    ("GET", "/api/v1/tasks"),
    ("POST", "/api/v1/tasks"),
    ("PATCH", "/api/v1/tasks/{task_id}"),
    ("GET", "/api/v1/users/me"),
)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def at(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def percentile_bounds(values: Sequence[float], p: float) -> tuple[float, float]:
    """The nearest-rank neighbourhood an (approximate) percentile must fall in."""
    ordered = sorted(values)
    n = len(ordered)
    low = ordered[math.floor((n - 1) * p)]
    high = ordered[min(n - 1, max(0, math.ceil(n * p) - 1))]
    return min(low, high), max(low, high)


def assert_percentile(result: float, values: Sequence[float], p: float) -> None:
    low, high = percentile_bounds(values, p)
    assert result in {float(v) for v in values}, f"{result} is not a value of the data"
    assert low <= result <= high


@dataclass
class Lake:
    """The generated rows per table, the day they were generated for, and the lake holding them."""

    path: Path
    today: date
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: ll.LakeTable, rows: list[dict[str, Any]]) -> None:
        self.rows[table.name] = rows
        # Two commits per table: views must read every data file of the current snapshot.
        half = len(rows) // 2
        append_rows(self.path, table, rows[:half])
        append_rows(self.path, table, rows[half:])


def generate_lake(path: Path) -> Lake:
    rng = random.Random(20261123)
    today = datetime.now(UTC).date()
    lake = Lake(path=path, today=today)
    start_week = monday(today) - timedelta(weeks=4)

    users = []
    for i in range(9):
        signup = start_week + timedelta(weeks=i % 3, days=rng.randrange(7))
        users.append(
            {
                "user_id": f"u{i}",
                "email": f"u{i}@example.com",
                "name": f"User {i}",
                "timezone": "UTC",
                "created_at": at(signup, rng.randrange(24), rng.randrange(60)),
                "updated_at": at(signup, 23, 59),
                "version": 1,
            }
        )
    lake.add(ll.SILVER_USERS, users)

    tasks = []
    for i in range(60):
        user = users[rng.randrange(len(users))]
        status = rng.choice(("pending", "in_progress", "completed", "completed"))
        created = at(today - timedelta(days=rng.randrange(1, 40)), rng.randrange(24), rng.randrange(60), 30)
        completed = None
        if status == "completed":
            # Seconds on both ends make whole-minute (Athena) and boundary-counting answers differ.
            completed = created + timedelta(minutes=rng.randrange(5, 5000), seconds=rng.randrange(60))
        due_roll = rng.random()
        due = None if due_roll < 0.2 else today + timedelta(days=rng.randrange(-20, 20))
        tags = [t if rng.random() < 0.5 else t.capitalize() for t in rng.sample(TAGS, rng.randrange(0, 4))]
        tasks.append(
            {
                "task_id": f"t{i:03d}",
                "user_id": user["user_id"],
                "title": f"task {i}",
                "description": "",
                "status": status,
                "priority": rng.choice(tuple(PRIORITY_ORDER)),
                "category": rng.choice(CATEGORIES),
                "due_date": due,
                "tags": tags if tags or rng.random() < 0.5 else None,
                "created_at": created,
                "updated_at": completed or created,
                "completed_at": completed,
                "version": 2 if completed else 1,
            }
        )
    lake.add(ll.SILVER_TASKS, tasks)

    events = []
    for i in range(150):
        user = users[rng.randrange(len(users))]
        # Some events before the user's signup week: retention must not count them.
        when = at(today - timedelta(days=rng.randrange(0, 45)), rng.randrange(24), rng.randrange(60))
        events.append(
            {
                "event_id": f"e{i}",
                "event_name": "MODIFY",
                "change_type": rng.choice(("created", "updated", "completed", "reopened", "deleted")),
                "task_id": f"t{rng.randrange(60):03d}",
                "user_id": user["user_id"],
                "version": rng.randrange(1, 5),
                "event_time": when,
                "event_date": when.date(),
                "status": "pending",
                "priority": "medium",
                "category": "work",
                "ttl_delete": False,
            }
        )
    lake.add(ll.SILVER_TASK_EVENTS, events)

    requests = []
    for i in range(200):
        method, route = ROUTES[rng.randrange(len(ROUTES))]
        when = at(today - timedelta(days=rng.randrange(0, 12)), rng.randrange(24), rng.randrange(60))
        status = rng.choice((200, 200, 200, 201, 404, 422, 500, 503))
        requests.append(
            {
                "request_id": f"r{i}",
                "correlation_id": f"c{i}",
                "ts": when,
                "request_date": when.date(),
                "method": method,
                "route": route,
                "status": status,
                "latency_ms": float(rng.randrange(5, 900)),
                "user_id": None if status == 401 else f"u{rng.randrange(9)}",
            }
        )
    lake.add(ll.SILVER_API_REQUESTS, requests)

    daily = []
    first_day = today - timedelta(days=20)
    for offset in range(21):
        if offset % 4 == 3:  # gaps: days without activity are absent from gold
            continue
        daily.append(
            {
                "date": first_day + timedelta(days=offset),
                "tasks_created": rng.randrange(0, 12),
                "tasks_completed": rng.randrange(0, 9),
                "tasks_deleted": rng.randrange(0, 3),
            }
        )
    lake.add(ll.GOLD_TASK_COMPLETION_DAILY, daily)

    trends = [
        {
            "date": first_day + timedelta(days=offset),
            "category": category,
            "tasks_created": rng.randrange(0, 6),
            "tasks_completed": rng.randrange(0, 6),
        }
        for offset in range(0, 21, 2)
        for category in CATEGORIES[:3]
    ]
    lake.add(ll.GOLD_CATEGORY_TRENDS, trends)

    now = datetime.now(UTC).replace(microsecond=0)
    kpis = []
    for snapshot, scale in ((now - timedelta(hours=2), 1.0), (now - timedelta(minutes=5), 2.0)):
        for metric in ll.BUSINESS_KPI_METRICS:
            kpis.append({"snapshot_at": snapshot, "metric": metric, "value": scale * (len(metric) + 0.5)})
    lake.add(ll.GOLD_BUSINESS_KPIS, kpis)

    usage = []
    for offset in range(40):  # days beyond both the 30-day and the 7-day windows too
        for method, route in ROUTES:
            if rng.random() < 0.2:
                continue  # a route without traffic that day has no row
            requests_n = rng.randrange(1, 3000)
            server = rng.choice((0, 0, rng.randrange(0, 12)))
            client = rng.randrange(0, requests_n // 10 + 1)
            p95 = float(rng.randrange(20, 900))
            usage.append(
                {
                    "date": today - timedelta(days=offset),
                    "method": method,
                    "route": route,
                    "requests": requests_n,
                    "distinct_callers": rng.randrange(1, 10),
                    "client_errors": client,
                    "server_errors": server,
                    "client_error_rate": 100.0 * client / requests_n,
                    "server_error_rate": 100.0 * server / requests_n,
                    "p50_latency_ms": p95 / 3,
                    "p95_latency_ms": p95,
                    "p99_latency_ms": p95 * 1.5,
                }
            )
    lake.add(ll.GOLD_API_USAGE_DAILY, usage)

    insights = []
    as_of = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    for i in range(14):
        total = rng.randrange(0, 20)
        completed = rng.randrange(0, total + 1)
        active = completed > 0
        longest = rng.randrange(1, 15) if active else 0
        insights.append(
            {
                "user_id": f"i{i}",
                "as_of": as_of,
                "total_tasks": total,
                "open_tasks": total - completed,
                "completed_tasks": completed,
                "overdue_tasks": rng.randrange(0, total - completed + 1),
                "completed_last_7_days": min(completed, rng.randrange(0, 4)),
                "completed_last_30_days": completed,
                "completion_rate": 100.0 * completed / total if total else 0.0,
                "current_streak_days": rng.randrange(0, longest + 1),
                "longest_streak_days": longest,
                "median_hours_to_complete": rng.randrange(1, 400) / 4 if active else None,
                "busiest_weekday": rng.choice(("Monday", "Tuesday", "Sunday")) if active else None,
                "top_categories": [{"category": "work", "created": total, "completed": completed}]
                if total
                else [],
            }
        )
    lake.add(ll.GOLD_USER_INSIGHTS, insights)

    runs = []
    for job, count in (("silver", 3), ("gold", 2)):
        for n in range(count):
            started = now - timedelta(hours=3 + 2 * (count - n), seconds=17)
            runs.append(
                {
                    "job": job,
                    "run_id": f"{job}-{n}",
                    "started_at": started,
                    "ended_at": started + timedelta(seconds=95 + n),
                    "status": "failed" if (job, n) == ("silver", 1) else "succeeded",
                    "rows_in": 100 * (n + 1),
                    "rows_out": '{"silver_tasks": 10}',
                    "quarantined": n,
                    "drift": 0,
                    "previous_run_id": f"{job}-{n - 1}" if n else None,
                    "anomalies": "[]",
                }
            )
    lake.add(ll.PIPELINE_RUNS, runs)
    return lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return generate_lake(tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="module")
def engine(lake: Lake) -> Iterator[AthenaEngine]:
    with AthenaEngine(lake.path) as engine:
        yield engine


@pytest.fixture(scope="module")
def queries() -> dict[str, NamedQuery]:
    return {q.name: q for q in load_queries()}


def run(
    engine: AthenaEngine, queries: dict[str, NamedQuery], name: str, *, columns: Sequence[str] | None = None
) -> QueryResult:
    """The result of query `name` from the folder; with `columns`, checked to have exactly those, in order."""
    result = engine.query(queries[name].sql)
    if columns is not None:
        assert result.columns == list(columns)
    return result


class Query(Protocol):
    """`run` on the generated lake's engine: a test names only the query (and the columns it expects)."""

    def __call__(self, name: str, *, columns: Sequence[str] | None = None) -> QueryResult: ...


@pytest.fixture(scope="module")
def query(engine: AthenaEngine, queries: dict[str, NamedQuery]) -> Query:
    """The folder's queries on the module's generated lake."""

    def bound(name: str, *, columns: Sequence[str] | None = None) -> QueryResult:
        return run(engine, queries, name, columns=columns)

    return bound


TESTED_QUERIES: set[str] = set()


def covers(name: str) -> Any:
    """Record that the decorated test checks the results of query `name`."""
    TESTED_QUERIES.add(name)

    def keep(test: Any) -> Any:
        return test

    return keep


def test_every_query_in_the_folder_has_a_results_test(queries: dict[str, NamedQuery]) -> None:
    assert set(queries) == TESTED_QUERIES


@covers("completion_rate_by_category")
def test_completion_rate_by_category(lake: Lake, query: Query) -> None:
    totals: Counter[str] = Counter()
    done: Counter[str] = Counter()
    for task in lake.rows["silver_tasks"]:
        totals[task["category"]] += 1
        done[task["category"]] += task["status"] == "completed"
    expected = sorted(
        ((c, totals[c], done[c], round(100 * done[c] / totals[c], 2)) for c in totals),
        key=lambda r: (-r[3], -r[1], r[0]),
    )

    result = query(
        "completion_rate_by_category",
        columns=["category", "total_tasks", "completed_tasks", "completion_rate_pct"],
    )
    assert [r[:3] for r in result.rows] == [r[:3] for r in expected]
    assert [float(r[3]) for r in result.rows] == pytest.approx([r[3] for r in expected], abs=0.006)


@covers("time_to_complete_percentiles")
def test_time_to_complete_percentiles(lake: Lake, query: Query) -> None:
    hours: dict[str, list[float]] = defaultdict(list)
    for task in lake.rows["silver_tasks"]:
        if task["status"] == "completed":
            whole_minutes = (task["completed_at"] - task["created_at"]) // timedelta(minutes=1)
            hours[task["priority"]].append(whole_minutes / 60)

    result = query("time_to_complete_percentiles").as_dicts()

    assert [r["priority"] for r in result] == sorted(hours, key=PRIORITY_ORDER.__getitem__)
    for row in result:
        values = hours[row["priority"]]
        assert row["completed_tasks"] == len(values)
        assert_percentile(row["p50_hours"], values, 0.5)
        assert_percentile(row["p90_hours"], values, 0.9)
        assert_percentile(row["p95_hours"], values, 0.95)
        assert row["p50_hours"] <= row["p90_hours"] <= row["p95_hours"]


@covers("overdue_open_tasks_by_priority")
def test_overdue_open_tasks_by_priority(lake: Lake, query: Query) -> None:
    overdue: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for task in lake.rows["silver_tasks"]:
        if task["status"] != "completed" and task["due_date"] is not None and task["due_date"] < lake.today:
            overdue[task["priority"]].append(task)
    assert overdue, "the generated data must contain overdue tasks"

    result = query("overdue_open_tasks_by_priority").as_dicts()

    assert [r["priority"] for r in result] == sorted(overdue, key=PRIORITY_ORDER.__getitem__)
    for row in result:
        tasks = overdue[row["priority"]]
        days = [(lake.today - t["due_date"]).days for t in tasks]
        assert row["overdue_tasks"] == len(tasks)
        assert row["users_affected"] == len({t["user_id"] for t in tasks})
        assert row["oldest_due_date"] == min(t["due_date"] for t in tasks)
        assert row["max_days_overdue"] == max(days)
        assert float(row["avg_days_overdue"]) == pytest.approx(sum(days) / len(days), abs=0.051)


@covers("daily_active_users")
def test_daily_active_users(lake: Lake, query: Query) -> None:
    since = lake.today - timedelta(days=29)
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for event in lake.rows["silver_task_events"]:
        if event["event_date"] >= since:
            by_day[event["event_date"]].append(event)
    expected = [
        (
            day,
            len({e["user_id"] for e in events}),
            len(events),
            sum(e["change_type"] == "created" for e in events),
            sum(e["change_type"] == "completed" for e in events),
        )
        for day, events in sorted(by_day.items())
    ]

    result = query(
        "daily_active_users",
        columns=["event_date", "active_users", "task_changes", "tasks_created", "tasks_completed"],
    )
    assert result.rows == expected


@covers("weekly_cohort_retention")
def test_weekly_cohort_retention(lake: Lake, query: Query) -> None:
    cohort = {u["user_id"]: monday(u["created_at"].date()) for u in lake.rows["silver_users"]}
    sizes = Counter(cohort.values())
    active: dict[tuple[date, int], set[str]] = defaultdict(set)
    for event in lake.rows["silver_task_events"]:
        week = monday(event["event_time"].date())
        start = cohort[event["user_id"]]
        if week >= start:
            active[(start, (week - start).days // 7)].add(event["user_id"])
    expected = [
        (week, sizes[week], offset, len(users), round(100 * len(users) / sizes[week], 2))
        for (week, offset), users in sorted(active.items())
    ]

    result = query("weekly_cohort_retention")

    assert [r[:4] for r in result.rows] == [r[:4] for r in expected]
    assert [float(r[4]) for r in result.rows] == pytest.approx([r[4] for r in expected], abs=0.006)
    assert all(isinstance(r[0], date) and r[0].weekday() == 0 for r in result.rows)


@covers("task_creation_trend")
def test_task_creation_trend(lake: Lake, query: Query) -> None:
    by_day = {r["date"]: r for r in lake.rows["gold_task_completion_daily"]}
    first, last = min(by_day), max(by_day)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    created = [by_day[d]["tasks_created"] if d in by_day else 0 for d in days]
    completed = [by_day[d]["tasks_completed"] if d in by_day else 0 for d in days]

    def moving_average(values: list[int], i: int) -> float:
        window = values[max(0, i - 6) : i + 1]
        return sum(window) / len(window)

    result = query("task_creation_trend")

    assert result.column("activity_date") == days  # every calendar day, gaps filled
    assert result.column("tasks_created") == created
    assert result.column("tasks_completed") == completed
    assert [float(v) for v in result.column("created_7d_avg")] == pytest.approx(
        [moving_average(created, i) for i in range(len(days))], abs=0.006
    )
    assert [float(v) for v in result.column("completed_7d_avg")] == pytest.approx(
        [moving_average(completed, i) for i in range(len(days))], abs=0.006
    )


@covers("open_task_priority_mix")
def test_open_task_priority_mix(lake: Lake, query: Query) -> None:
    open_tasks = [t for t in lake.rows["silver_tasks"] if t["status"] != "completed"]
    by_priority = Counter(t["priority"] for t in open_tasks)
    in_progress = Counter(t["priority"] for t in open_tasks if t["status"] == "in_progress")

    result = query("open_task_priority_mix").as_dicts()

    assert [r["priority"] for r in result] == sorted(by_priority, key=PRIORITY_ORDER.__getitem__)
    for row in result:
        assert row["open_tasks"] == by_priority[row["priority"]]
        assert row["in_progress_tasks"] == in_progress[row["priority"]]
        assert float(row["share_pct"]) == pytest.approx(
            100 * by_priority[row["priority"]] / len(open_tasks), abs=0.006
        )
    assert sum(float(r["share_pct"]) for r in result) == pytest.approx(100, abs=0.02)


@covers("tag_popularity")
def test_tag_popularity(lake: Lake, query: Query) -> None:
    tasks: Counter[str] = Counter()
    users: dict[str, set[str]] = defaultdict(set)
    completed: Counter[str] = Counter()
    for task in lake.rows["silver_tasks"]:
        for tag in task["tags"] or []:
            tasks[tag.lower()] += 1
            users[tag.lower()].add(task["user_id"])
            completed[tag.lower()] += task["status"] == "completed"
    expected = sorted(
        ((tag, n, len(users[tag]), completed[tag]) for tag, n in tasks.items()), key=lambda r: (-r[1], r[0])
    )[:20]

    result = query("tag_popularity", columns=["tag", "tasks", "users", "completed_tasks"])
    assert result.rows == expected


@covers("api_errors_and_latency_by_route")
def test_api_errors_and_latency_by_route(lake: Lake, query: Query) -> None:
    since = lake.today - timedelta(days=6)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for request in lake.rows["silver_api_requests"]:
        if request["request_date"] >= since:
            groups[(request["method"], request["route"])].append(request)
    old = [r for r in lake.rows["silver_api_requests"] if r["request_date"] < since]
    assert old, "the generated data must contain requests outside the window"

    def server_errors(rows: list[dict[str, Any]]) -> int:
        return sum(r["status"] >= 500 for r in rows)

    expected_order = sorted(groups, key=lambda k: (-server_errors(groups[k]), -len(groups[k]), k[1], k[0]))

    result = query("api_errors_and_latency_by_route").as_dicts()

    assert [(r["method"], r["route"]) for r in result] == expected_order
    for row in result:
        rows = groups[(row["method"], row["route"])]
        assert row["requests"] == len(rows)
        assert row["client_errors"] == sum(400 <= r["status"] <= 499 for r in rows)
        assert row["server_errors"] == server_errors(rows)
        assert float(row["server_error_rate_pct"]) == pytest.approx(
            100 * server_errors(rows) / len(rows), abs=0.006
        )
        assert_percentile(row["p95_latency_ms"], [r["latency_ms"] for r in rows], 0.95)


@covers("pipeline_health")
def test_pipeline_health(lake: Lake, query: Query) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for run_row in lake.rows["pipeline_runs"]:
        if run_row["job"] not in latest or run_row["started_at"] > latest[run_row["job"]]["started_at"]:
            latest[run_row["job"]] = run_row

    before = datetime.now(UTC)
    result = query("pipeline_health").as_dicts()
    after = datetime.now(UTC)

    assert [r["job"] for r in result] == sorted(latest)
    for row in result:
        expected = latest[row["job"]]
        assert row["run_id"] == expected["run_id"]
        assert row["status"] == expected["status"]
        assert row["started_at"] == naive(expected["started_at"])
        assert row["duration_seconds"] == (expected["ended_at"] - expected["started_at"]).seconds
        low = (before - expected["ended_at"]) // timedelta(minutes=1)
        high = (after - expected["ended_at"]) // timedelta(minutes=1)
        assert low <= row["minutes_since_end"] <= high
        assert (row["rows_in"], row["quarantined"]) == (expected["rows_in"], expected["quarantined"])


@covers("kpi_snapshot")
def test_kpi_snapshot(lake: Lake, query: Query) -> None:
    kpis = lake.rows["gold_business_kpis"]
    newest = max(k["snapshot_at"] for k in kpis)
    expected = sorted((k["metric"], k["value"], naive(newest)) for k in kpis if k["snapshot_at"] == newest)

    result = query("kpi_snapshot")

    assert result.rows == expected
    assert [r[0] for r in result.rows] == sorted(ll.BUSINESS_KPI_METRICS)


@covers("category_weekly_trend")
def test_category_weekly_trend(lake: Lake, query: Query) -> None:
    sums: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in lake.rows["gold_category_trends"]:
        key = (monday(row["date"]), row["category"])
        sums[key][0] += row["tasks_created"]
        sums[key][1] += row["tasks_completed"]
    expected = [(week, cat, c, d, c - d) for (week, cat), (c, d) in sorted(sums.items())]

    result = query(
        "category_weekly_trend",
        columns=["week", "category", "tasks_created", "tasks_completed", "backlog_change"],
    )
    assert result.rows == expected
    assert all(type(r[0]) is date for r in result.rows)  # a DATE, as Athena's date_trunc of a date


class _Clock:
    """Stands in for the `time` module pyiceberg stamps new snapshots with (test data only)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def time(self) -> float:
        return self.at.timestamp()


@covers("kpis_as_of_yesterday")
def test_kpis_as_of_yesterday_reads_the_table_as_it_stood_a_day_ago(
    tmp_path: Path, queries: dict[str, NamedQuery], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyiceberg.table.snapshots as snapshots

    now = datetime.now(UTC)
    two_days_ago = now - timedelta(days=2)

    def kpis(at: datetime, factor: float) -> list[dict[str, Any]]:
        return [
            {"snapshot_at": at, "metric": m, "value": factor * (n + 1)}
            for n, m in enumerate(ll.BUSINESS_KPI_METRICS)
        ]

    # The gold run of two days ago committed then; today's run committed a second snapshot now.
    monkeypatch.setattr(snapshots, "time", _Clock(two_days_ago))
    append_rows(tmp_path, ll.GOLD_BUSINESS_KPIS, kpis(two_days_ago, 1.0))
    monkeypatch.setattr(snapshots, "time", _Clock(now))
    append_rows(tmp_path, ll.GOLD_BUSINESS_KPIS, kpis(now, 3.0))

    with AthenaEngine(tmp_path) as engine:
        result = run(
            engine,
            queries,
            "kpis_as_of_yesterday",
            columns=[
                "metric",
                "value_yesterday",
                "value_now",
                "change",
                "snapshot_yesterday",
                "snapshot_now",
            ],
        )
    expected = {m: (float(n + 1), 3.0 * (n + 1)) for n, m in enumerate(ll.BUSINESS_KPI_METRICS)}
    assert {r[0]: (r[1], r[2]) for r in result.rows} == expected
    assert all(r[3] == pytest.approx(r[2] - r[1]) for r in result.rows)
    assert {(r[4], r[5]) for r in result.rows} == {(naive(two_days_ago), naive(now))}


def _usage_by_route(lake: Lake, days: int) -> dict[tuple[str, str], list[dict[str, Any]]]:
    since = lake.today - timedelta(days=days - 1)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in lake.rows["gold_api_usage_daily"]:
        if row["date"] >= since:
            groups[(row["method"], row["route"])].append(row)
    assert [r for r in lake.rows["gold_api_usage_daily"] if r["date"] < since], "rows outside the window"
    return groups


@covers("error_budget_burn_by_route")
def test_error_budget_burn_by_route(lake: Lake, query: Query) -> None:
    groups = _usage_by_route(lake, 30)
    expected = {}
    for key, rows in groups.items():
        requests_n = sum(r["requests"] for r in rows)
        errors = sum(r["server_errors"] for r in rows)
        expected[key] = (requests_n, errors, 100 * errors / requests_n, errors / requests_n / 0.001)
    assert any(e[3] > 1 for e in expected.values()), "some route must burn faster than the budget"
    order = sorted(expected, key=lambda k: (-round(expected[k][3], 2), -expected[k][0], k[1], k[0]))

    result = query(
        "error_budget_burn_by_route",
        columns=["method", "route", "requests", "server_errors", "server_error_rate_pct", "burn_rate"],
    )
    assert [(r[0], r[1]) for r in result.rows] == order
    for method, route, requests_n, errors, rate, burn in result.rows:
        want = expected[(method, route)]
        assert (requests_n, errors) == want[:2]
        assert float(rate) == pytest.approx(want[2], abs=0.00006)
        assert float(burn) == pytest.approx(want[3], abs=0.006)


@covers("slowest_routes")
def test_slowest_routes(lake: Lake, query: Query) -> None:
    groups = _usage_by_route(lake, 7)
    expected = {
        key: (
            sum(r["requests"] for r in rows),
            max(r["p95_latency_ms"] for r in rows),
            sum(r["p95_latency_ms"] * r["requests"] for r in rows) / sum(r["requests"] for r in rows),
            max(r["p99_latency_ms"] for r in rows),
            len(rows),
        )
        for key, rows in groups.items()
    }
    order = sorted(expected, key=lambda k: (-expected[k][1], -expected[k][0], k[1], k[0]))

    result = query("slowest_routes").as_dicts()

    assert [(r["method"], r["route"]) for r in result] == order
    for row in result:
        requests_n, worst, weighted, worst_p99, days = expected[(row["method"], row["route"])]
        assert (row["requests"], row["worst_daily_p95_ms"], row["days_with_traffic"]) == (
            requests_n,
            worst,
            days,
        )
        assert float(row["weighted_p95_ms"]) == pytest.approx(weighted, abs=0.006)
        assert row["worst_daily_p99_ms"] == pytest.approx(worst_p99)


@covers("user_insights_overview")
def test_user_insights_overview(lake: Lake, query: Query) -> None:
    rows = lake.rows["gold_user_insights"]
    order = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "none yet"]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["busiest_weekday"] or "none yet"].append(row)
    assert "none yet" in groups
    assert len(groups) > 2

    result = query("user_insights_overview").as_dicts()

    assert [r["busiest_weekday"] for r in result] == sorted(groups, key=order.index)
    for row in result:
        members = groups[row["busiest_weekday"]]
        assert row["users"] == len(members)
        assert float(row["avg_completion_rate_pct"]) == pytest.approx(
            sum(m["completion_rate"] for m in members) / len(members), abs=0.006
        )
        assert row["users_on_a_streak"] == sum(m["current_streak_days"] > 0 for m in members)
        assert row["longest_streak_days"] == max(m["longest_streak_days"] for m in members)
        assert row["overdue_tasks"] == sum(m["overdue_tasks"] for m in members)
        assert row["as_of"] == naive(members[0]["as_of"])
        hours = [m["median_hours_to_complete"] for m in members if m["median_hours_to_complete"] is not None]
        if hours:
            low, high = percentile_bounds(hours, 0.5)
            assert round(low, 2) <= float(row["median_of_median_hours"]) <= round(high, 2)
        else:
            assert row["median_of_median_hours"] is None
