"""gold_user_insights and gold_api_usage_daily transforms, the insights export and its upkeep.

The transforms are called on small DataFrames shaped like silver (no Iceberg, one Spark action per
test), against figures worked out by hand below, and against an independent pure-Python
computation over random task sets (Hypothesis). As of Monday 2026-11-23 12:00 UTC throughout.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from todo_contracts.lake_layout import (
    GOLD_API_USAGE_DAILY,
    INSIGHTS_EXPORT_MANIFEST,
    SILVER_API_REQUESTS,
    SILVER_TASKS,
    SILVER_USERS,
)
from todo_etl.glue import insights_export
from todo_etl.glue.api_usage_transform import api_usage_daily
from todo_etl.glue.insights_transform import WEEKDAYS, user_insights
from todo_etl.glue.lake_fs import LakeFs
from todo_etl.glue.spark_schema import struct_type

pytestmark = pytest.mark.spark

AS_OF = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
assert AS_OF.strftime("%A") == "Monday"


def utc(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def users_frame(spark: Any, zones: dict[str, str | None]) -> Any:
    rows = [
        {"user_id": u, "email": f"{u}@example.com", "name": u, "timezone": z, "version": 1}
        for u, z in zones.items()
    ]
    schema = struct_type(SILVER_USERS)
    return spark.createDataFrame([[r.get(f.name) for f in schema.fields] for r in rows], schema)


_task_ids = iter(range(10**9))


def task(
    user: str,
    *,
    status: str = "pending",
    category: str | None = "work",
    created: datetime | None = None,
    completed: datetime | None = None,
    due: date | None = None,
) -> dict[str, Any]:
    if completed is not None:
        status = "completed"
    return {
        "task_id": f"t{next(_task_ids)}",
        "user_id": user,
        "title": "secret",
        "status": status,
        "priority": "medium",
        "category": category,
        "due_date": due,
        "created_at": created or utc(1),
        "completed_at": completed,
        "version": 1,
    }


def tasks_frame(spark: Any, tasks: list[dict[str, Any]]) -> Any:
    schema = struct_type(SILVER_TASKS)
    return spark.createDataFrame([[t.get(f.name) for f in schema.fields] for t in tasks], schema)


def insights(
    spark: Any, zones: dict[str, str | None], tasks: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    frame = user_insights(spark, users_frame(spark, zones), tasks_frame(spark, tasks), AS_OF)
    return {r["user_id"]: r.asDict(recursive=True) for r in frame.collect()}


# --- hand-computed cases ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cases(spark: Any) -> dict[str, dict[str, Any]]:
    # The same three completions for a user in Tokyo (UTC+9) and one in UTC: 11-20 23:30 UTC is
    # Saturday 11-21 08:30 in Tokyo, 11-22 10:00 UTC Sunday 19:00, 11-23 02:00 UTC Monday 11:00.
    same = [utc(20, 23, 30), utc(22, 10), utc(23, 2)]
    tasks = [task("tokyo", completed=at, created=at - timedelta(hours=2)) for at in same]
    tasks += [task("utc", completed=at, created=at - timedelta(hours=2)) for at in same]
    # A four-day run that ended, then one day two days ago: nothing current.
    tasks += [task("broken", completed=utc(d)) for d in (15, 16, 17, 18, 21)]
    # Completed yesterday and the day before, nothing yet today: still current.
    tasks += [task("yesterday", completed=utc(d)) for d in (21, 22)]
    # Tuesday 11-17 and Wednesday 11-18 two completions each, Friday one: the tie goes to Tuesday.
    tasks += [task("tie", completed=utc(d, 9)) for d in (18, 17, 20, 18, 17)]
    # Categories: c (3 created, 0 completed), then b and e (2, 1: by name), then a (2, 0), d (1, 1).
    for category, created, completed in (("a", 2, 0), ("b", 2, 1), ("c", 3, 0), ("d", 1, 1), ("e", 2, 1)):
        tasks += [
            task("cats", category=category, completed=utc(10) if n < completed else None)
            for n in range(created)
        ]
    tasks += [task("cats", category=None)]  # uncategorised: not a category
    # Overdue by the user's own date: at 12:00 UTC it is already 11-24 on Kiritimati (UTC+14),
    # still 11-23 in Honolulu (UTC-10) and UTC.
    for user in ("kiritimati", "honolulu", "utc-due"):
        tasks += [
            task(user, due=date(2026, 11, 23)),
            task(user, due=date(2026, 11, 22)),
            task(user, due=date(2026, 11, 22), completed=utc(22)),  # done: never overdue
            task(user, due=None),
        ]
    # Median over completed tasks only (open ones have no duration): 1, 2, 4 and 10 hours -> 3.
    tasks += [task("median", created=utc(5), completed=utc(5) + timedelta(hours=h)) for h in (10, 1, 4, 2)]
    tasks += [task("median", created=utc(5))]
    # Windows: exactly 7 days ago is outside (as_of - 7d, as_of], 7 days ago plus a minute inside,
    # as_of itself inside; a completed_at after as_of is no completion of this run.
    tasks += [
        task("windows", completed=AS_OF - timedelta(days=7)),
        task("windows", completed=AS_OF - timedelta(days=7) + timedelta(minutes=1)),
        task("windows", completed=AS_OF),
        task("windows", completed=AS_OF - timedelta(days=30)),
        task("windows", completed=AS_OF + timedelta(minutes=1)),
    ]
    # A task whose owner has no live profile (account deleted): nobody's row.
    tasks += [task("ghost", completed=utc(22))]
    zones = {
        "tokyo": "Asia/Tokyo",
        "utc": "UTC",
        "broken": "UTC",
        "yesterday": None,
        "tie": "Europe/Berlin",
        "cats": "UTC",
        "kiritimati": "Pacific/Kiritimati",
        "honolulu": "Pacific/Honolulu",
        "utc-due": "Not/A_Zone",
        "median": "UTC",
        "windows": "UTC",
        "idle": "Asia/Tokyo",
    }
    return insights(spark, zones, tasks)


def test_one_row_per_live_user_and_none_for_tasks_without_a_profile(cases: dict[str, dict[str, Any]]) -> None:
    assert "ghost" not in cases
    assert len(cases) == 12


def test_a_user_without_tasks_gets_zeros(cases: dict[str, dict[str, Any]]) -> None:
    idle = cases["idle"]
    assert idle == {
        "user_id": "idle",
        "as_of": AS_OF.replace(tzinfo=None),
        "total_tasks": 0,
        "open_tasks": 0,
        "completed_tasks": 0,
        "overdue_tasks": 0,
        "completed_last_7_days": 0,
        "completed_last_30_days": 0,
        "completion_rate": 0.0,
        "current_streak_days": 0,
        "longest_streak_days": 0,
        "median_hours_to_complete": None,
        "busiest_weekday": None,
        "top_categories": [],
    }


def test_streak_days_are_the_users_own_calendar_days(cases: dict[str, dict[str, Any]]) -> None:
    # Tokyo: 11-21, 11-22, 11-23 (today) -> 3 in a row; UTC: 11-20, 11-22, 11-23 -> 2.
    assert (cases["tokyo"]["current_streak_days"], cases["tokyo"]["longest_streak_days"]) == (3, 3)
    assert (cases["utc"]["current_streak_days"], cases["utc"]["longest_streak_days"]) == (2, 2)
    # Tokyo's busiest day: Sat, Sun, Mon one each -> Monday (earliest); UTC: Fri, Sun, Mon -> Monday.
    assert cases["tokyo"]["busiest_weekday"] == "Monday"


def test_a_broken_streak_is_not_current_but_one_ending_yesterday_is(cases: dict[str, dict[str, Any]]) -> None:
    assert (cases["broken"]["current_streak_days"], cases["broken"]["longest_streak_days"]) == (0, 4)
    assert (cases["yesterday"]["current_streak_days"], cases["yesterday"]["longest_streak_days"]) == (2, 2)


def test_busiest_weekday_ties_go_to_the_earliest_day_of_the_week(cases: dict[str, dict[str, Any]]) -> None:
    assert cases["tie"]["busiest_weekday"] == "Tuesday"
    # One each on 11-15 Sun, 16 Mon, 17 Tue, 18 Wed, 21 Sat: Monday, as the week starts on Monday.
    assert cases["broken"]["busiest_weekday"] == "Monday"


def test_top_categories_by_created_then_completed_then_name(cases: dict[str, dict[str, Any]]) -> None:
    assert cases["cats"]["top_categories"] == [
        {"category": "c", "created": 3, "completed": 0},
        {"category": "b", "created": 2, "completed": 1},
        {"category": "e", "created": 2, "completed": 1},
    ]
    assert cases["cats"]["total_tasks"] == 11
    assert cases["cats"]["completion_rate"] == pytest.approx(100 * 3 / 11)


def test_overdue_uses_the_date_in_the_users_time_zone(cases: dict[str, dict[str, Any]]) -> None:
    assert cases["kiritimati"]["overdue_tasks"] == 2  # due 11-23 and 11-22, both before 11-24
    assert cases["honolulu"]["overdue_tasks"] == 1
    assert cases["utc-due"]["overdue_tasks"] == 1  # an unknown zone name counts as UTC
    assert cases["utc-due"]["open_tasks"] == 3


def test_median_hours_over_completed_tasks(cases: dict[str, dict[str, Any]]) -> None:
    assert cases["median"]["median_hours_to_complete"] == 3.0
    assert cases["tokyo"]["median_hours_to_complete"] == 2.0


def test_recent_completion_windows_are_half_open_at_the_start(cases: dict[str, dict[str, Any]]) -> None:
    windows = cases["windows"]
    assert (windows["completed_last_7_days"], windows["completed_last_30_days"]) == (2, 3)
    assert windows["completed_tasks"] == 5  # the current state counts the future-stamped one too
    assert windows["current_streak_days"] == 1  # as_of itself; the later one is not this run's


# --- property: Spark against an independent computation -----------------------------------------------

ZONES = ("UTC", "Asia/Tokyo", "America/New_York", "Pacific/Kiritimati", "Pacific/Honolulu", None, "Mars/Base")
KNOWN_ZONES = available_timezones()


def reference(zone_name: str | None, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """The insights of one user, computed from the definitions with the standard library."""
    zone = ZoneInfo(zone_name if zone_name in KNOWN_ZONES else "UTC")
    today = AS_OF.astimezone(zone).date()
    done = [t for t in tasks if t["status"] == "completed"]
    completions = [t["completed_at"] for t in done if t["completed_at"] <= AS_OF]
    days = sorted({c.astimezone(zone).date() for c in completions})
    runs: list[tuple[date, int]] = []  # (last day, length)
    for day in days:
        if runs and runs[-1][0] == day - timedelta(days=1):
            runs[-1] = (day, runs[-1][1] + 1)
        else:
            runs.append((day, 1))
    current = next((n for last, n in runs if last >= today - timedelta(days=1)), 0)
    weekdays = Counter(c.astimezone(zone).weekday() for c in completions)
    busiest = min(weekdays, key=lambda d: (-weekdays[d], d)) if weekdays else None
    hours = [(t["completed_at"] - t["created_at"]).total_seconds() / 3600 for t in done]
    per_category: dict[str, list[int]] = {}
    for t in tasks:
        if t["category"] is not None:
            counts = per_category.setdefault(t["category"], [0, 0])
            counts[0] += 1
            counts[1] += t["status"] == "completed"
    top = sorted(per_category.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:3]
    return {
        "total_tasks": len(tasks),
        "open_tasks": len(tasks) - len(done),
        "completed_tasks": len(done),
        "overdue_tasks": sum(
            1
            for t in tasks
            if t["status"] != "completed" and t["due_date"] is not None and t["due_date"] < today
        ),
        "completed_last_7_days": sum(1 for c in completions if c > AS_OF - timedelta(days=7)),
        "completed_last_30_days": sum(1 for c in completions if c > AS_OF - timedelta(days=30)),
        "completion_rate": 100 * len(done) / len(tasks) if tasks else 0.0,
        "current_streak_days": current,
        "longest_streak_days": max((n for _, n in runs), default=0),
        "median_hours_to_complete": statistics.median(hours) if hours else None,
        "busiest_weekday": None if busiest is None else WEEKDAYS[busiest],
        "top_categories": [{"category": c, "created": n, "completed": d} for c, (n, d) in top],
    }


# A task: status, category, created (minutes before as_of), minutes to complete, due (days from as_of).
task_specs = st.tuples(
    st.sampled_from(("pending", "in_progress", "completed", "completed")),
    st.sampled_from(("work", "home", "health", "errands", None)),
    st.integers(min_value=0, max_value=40 * 24 * 60),
    st.integers(min_value=0, max_value=6 * 24 * 60),
    st.one_of(st.none(), st.integers(min_value=-5, max_value=5)),
)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    users=st.lists(
        st.tuples(st.sampled_from(ZONES), st.lists(task_specs, max_size=12)), min_size=1, max_size=5
    )
)
def test_spark_insights_equal_an_independent_computation(
    spark: Any, users: list[tuple[str | None, list[tuple[str, str | None, int, int, int | None]]]]
) -> None:
    zones: dict[str, str | None] = {}
    tasks: list[dict[str, Any]] = []
    per_user: dict[str, list[dict[str, Any]]] = {}
    for n, (zone, specs) in enumerate(users):
        user = f"p{n}"
        zones[user] = zone
        for status, category, minutes_ago, minutes_to_complete, due_in in specs:
            created = AS_OF - timedelta(minutes=minutes_ago)
            # A completion may lie after as_of (completed_at is stamped later than the run's instant).
            completed = created + timedelta(minutes=minutes_to_complete) if status == "completed" else None
            due = None if due_in is None else AS_OF.date() + timedelta(days=due_in)
            row = task(user, status=status, category=category, created=created, completed=completed, due=due)
            tasks.append(row)
            per_user.setdefault(user, []).append(row)

    found = insights(spark, zones, tasks)

    assert set(found) == set(zones)
    for user, zone in zones.items():
        expected = reference(zone, per_user.get(user, []))
        actual = {k: v for k, v in found[user].items() if k not in ("user_id", "as_of")}
        for name in ("completion_rate", "median_hours_to_complete"):
            assert actual.pop(name) == pytest.approx(expected.pop(name)), (user, name)
        assert actual == expected, user


# --- API usage -------------------------------------------------------------------------------------------


def interpolated(values: list[float], p: float) -> float:
    """The percentile with linear interpolation between closest ranks (as Hive/Spark `percentile`)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * p
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def test_api_usage_daily_counts_rates_and_percentiles(spark: Any) -> None:
    day = date(2026, 11, 22)
    rows: list[tuple[Any, ...]] = []
    latencies = [float(v) for v in range(1, 21)]  # 20 GET /api/v1/tasks on 11-22
    for n, latency in enumerate(latencies):
        status = 503 if n < 2 else 404 if n < 7 else 200
        user = None if n == 19 else f"u{n % 4}"
        rows.append((f"r{n}", utc(22, 10), day, "GET", "/api/v1/tasks", status, latency, user))
    rows.append(("p1", utc(22, 11), day, "POST", "/api/v1/tasks", 201, 40.0, "u1"))
    rows.append(("p2", utc(21, 11), date(2026, 11, 21), "GET", "/api/v1/tasks", 500, 7.0, None))
    schema = struct_type(SILVER_API_REQUESTS)
    names = ("request_id", "ts", "request_date", "method", "route", "status", "latency_ms", "user_id")
    records = [dict(zip(names, r, strict=True)) for r in rows]
    frame = spark.createDataFrame([[r.get(f.name) for f in schema.fields] for r in records], schema)
    found = {(r["date"], r["method"]): r.asDict() for r in api_usage_daily(frame).collect()}

    assert sorted(found) == [(date(2026, 11, 21), "GET"), (day, "GET"), (day, "POST")]
    get = found[(day, "GET")]
    assert list(get) == GOLD_API_USAGE_DAILY.column_names()
    assert (get["route"], get["requests"], get["distinct_callers"]) == ("/api/v1/tasks", 20, 4)
    assert (get["client_errors"], get["server_errors"]) == (5, 2)
    assert (get["client_error_rate"], get["server_error_rate"]) == (25.0, 10.0)
    assert get["p50_latency_ms"] == interpolated(latencies, 0.5) == 10.5
    assert get["p95_latency_ms"] == pytest.approx(interpolated(latencies, 0.95))  # 19.05
    assert get["p99_latency_ms"] == pytest.approx(interpolated(latencies, 0.99))  # 19.81
    lone = found[(date(2026, 11, 21), "GET")]
    assert (lone["requests"], lone["distinct_callers"], lone["server_error_rate"]) == (1, 0, 100.0)
    assert lone["p99_latency_ms"] == 7.0
    post = found[(day, "POST")]
    assert (post["client_error_rate"], post["server_error_rate"], post["p50_latency_ms"]) == (0.0, 0.0, 40.0)


# --- the export --------------------------------------------------------------------------------------------


def read_export(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(folder.glob("part-*.json.gz"))
        for line in gzip.decompress(path.read_bytes()).decode().splitlines()
    ]


def test_export_erase_rewrites_files_and_the_manifest_count(spark: Any, tmp_path: Path) -> None:
    gold = str(tmp_path / "gold")
    rows = user_insights(
        spark,
        users_frame(spark, {"a": "UTC", "b": "Asia/Tokyo", "c": None}),
        tasks_frame(spark, [task("b", completed=utc(22)), task("c")]),
        AS_OF,
    )
    for run in ("r1", "r2"):
        insights_export.write_export(spark, gold, rows, 3, "2026-11-23T12:00:00.000Z", run)
    folder = Path(gold) / "exports" / "user_insights"
    assert sorted(o["user_id"] for o in read_export(folder / "run=r2")) == ["a", "b", "c"]
    assert any(p.name.endswith(".crc") for p in (folder / "run=r2").iterdir())  # Hadoop's, locally

    assert insights_export.erase_users(spark, gold, {"b", "nobody"}) == {"b": 2}

    for run in ("r1", "r2"):
        assert sorted(o["user_id"] for o in read_export(folder / f"run={run}")) == ["a", "c"]
    assert json.loads((Path(gold) / INSIGHTS_EXPORT_MANIFEST).read_text()) == {
        "as_of": "2026-11-23T12:00:00.000Z",
        "run_id": "r2",
        "prefix": "exports/user_insights/run=r2/",
        "users": 2,
    }
    # The rewritten files read back through Hadoop (no stale checksum left beside them).
    fs = LakeFs(spark)
    for path in (folder / "run=r2").glob("part-*.json.gz"):
        assert fs.read_bytes(str(path)) == path.read_bytes()
    assert insights_export.erase_users(spark, gold, {"b"}) == {}  # nothing left to erase


def test_prune_keeps_the_newest_folders_and_the_manifests(spark: Any, tmp_path: Path) -> None:
    gold = tmp_path / "gold"
    folder = gold / "exports" / "user_insights"
    for n, run in enumerate(("old", "manifest", "mid", "new", "newest")):
        data = folder / f"run={run}" / "part-00000.json.gz"
        data.parent.mkdir(parents=True)
        data.write_bytes(gzip.compress(b"{}\n"))
        stamp = 1_700_000_000 + 60 * n
        os.utime(data, (stamp, stamp))
    # The manifest names an older folder (e.g. the newer runs' exports were written by runs that
    # died before their manifest): it is kept whatever its age.
    manifest = insights_export.InsightsManifest(
        "2026-11-23T12:00:00.000Z", "manifest", "exports/user_insights/run=manifest/", 1
    )
    (folder / "latest.json").write_text(manifest.to_json())

    deleted = insights_export.prune(spark, str(gold), keep=2)

    assert sorted(deleted) == ["run=mid", "run=old"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "latest.json",
        "run=manifest",
        "run=new",
        "run=newest",
    ]
