"""Gold job on a silver built from generated bronze: every table against hand-computed values.

The scenario (as of 2026-11-23 12:00 UTC, activity window 7 days):
  u1: t1 work created 11-20 09:00, completed 15:00 (6 h); t2 home created 11-21 08:00, due 11-22,
      open (overdue); t3 work created 11-21 10:00, completed 11-22 10:00 (24 h), deleted 12:00.
  u2: t4 home created 11-22 09:00, completed 11:00 (2 h), reopened 13:00; t5 work created
      11-10 09:00, completed 21:00 (12 h), outside the window.
  u3: t6 work created 11-21 11:00; whole account deleted 11-22 14:00.
  u4: no tasks.
Insights (all users in UTC here; time zones, streaks and ties are in test_spark_insights.py).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from todo_contracts.lake_layout import (
    GOLD_BUSINESS_KPIS,
    GOLD_CATEGORY_TRENDS,
    GOLD_TABLES,
    GOLD_TASK_COMPLETION_DAILY,
    GOLD_USER_ENGAGEMENT,
    GOLD_USER_INSIGHTS,
    INSIGHTS_EXPORT_MANIFEST,
    INSIGHTS_EXPORT_PREFIX,
    KPI_EXPORT_KEY,
)
from todo_etl.glue.jobs import GOLD_OUTPUTS, run_gold, run_silver
from todo_etl.glue.run_log import RunSummary
from todo_etl.metrics.kpi_snapshot import parse_snapshot

pytestmark = pytest.mark.spark

AS_OF = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = AS_OF + timedelta(days=4)
PERSONAL_COLUMNS = {"title", "description", "email", "name"}
SECRET = "SECRET-TEXT"


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Gold:
    first: dict[str, list[dict[str, Any]]]
    first_export: str
    summary: RunSummary
    again: dict[str, list[dict[str, Any]]]
    later: dict[str, list[dict[str, Any]]]
    later_export: str
    gold_uri: str
    columns: dict[str, list[str]]
    first_manifest: dict[str, Any]
    first_export_files: dict[str, list[dict[str, Any]]]  # file name -> JSON objects, run gold-1
    later_manifest: dict[str, Any]
    export_folders: list[str]  # what exports/user_insights/ holds after the third run


def _scenario(kit: Any, bronze: Any) -> None:
    user, put, delete = kit.user_item, bronze.put, bronze.delete

    def task(owner: str, task_id: str, version: int, created: datetime, **fields: Any) -> dict[str, Any]:
        fields.setdefault("title", f"{SECRET} title {task_id}")
        fields.setdefault("description", f"{SECRET} notes {task_id}")
        return dict(kit.task_item(owner, task_id, version, created, **fields))

    def done(owner: str, task_id: str, version: int, created: datetime, category: str, at: datetime) -> Any:
        """The change that completes a task at `at`."""
        image = task(owner, task_id, version, created, category=category, status="completed", completed_at=at)
        return put(image, at=at)

    signup = nov(1, 8)
    records = [put(user(u, 1, signup, name=f"{SECRET} {u}"), at=signup) for u in ("u1", "u2", "u3", "u4")]
    records += [
        put(task("u1", "t1", 1, nov(20, 9), category="work"), at=nov(20, 9)),
        done("u1", "t1", 2, nov(20, 9), "work", nov(20, 15)),
        put(task("u1", "t2", 1, nov(21, 8), category="home", due_date="2026-11-22"), at=nov(21, 8)),
        put(task("u1", "t3", 1, nov(21, 10), category="work"), at=nov(21, 10)),
        done("u1", "t3", 2, nov(21, 10), "work", nov(22, 10)),
        delete("USER#u1", "TASK#t3", at=nov(22, 12)),
        put(task("u2", "t4", 1, nov(22, 9), category="home"), at=nov(22, 9)),
        done("u2", "t4", 2, nov(22, 9), "home", nov(22, 11)),
        put(task("u2", "t4", 3, nov(22, 9), category="home"), at=nov(22, 13)),
        put(task("u2", "t5", 1, nov(10, 9), category="work"), at=nov(10, 9)),
        done("u2", "t5", 2, nov(10, 9), "work", nov(10, 21)),
        put(task("u3", "t6", 1, nov(21, 11), category="work"), at=nov(21, 11)),
        delete("USER#u3", "TASK#t6", at=nov(22, 14)),
        delete("USER#u3", "PROFILE", at=nov(22, 14, 1)),
    ]
    bronze.write(records, nov(23, 11))


def _export_files(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Every file of an export folder: data files parsed as gzip JSON Lines, others as None."""
    files: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.iterdir()):
        if path.name.endswith(".json.gz"):
            text = gzip.decompress(path.read_bytes()).decode()
            files[path.name] = [json.loads(line) for line in text.splitlines() if line]
        else:
            files[path.name] = []
    return files


@pytest.fixture(scope="module")
def gold(kit: Any, run_once: Any) -> Gold:
    built: Gold = run_once("gold", lambda scenario: _build(kit, scenario))
    return built


def _build(kit: Any, scenario: Any) -> Gold:
    lake = scenario.lake
    _scenario(kit, scenario.bronze)
    export = Path(lake.gold) / KPI_EXPORT_KEY
    manifest = Path(lake.gold) / INSIGHTS_EXPORT_MANIFEST
    session, ref = scenario.open()
    run_silver(session, ref, run_id="silver-1", now=AS_OF)
    summary = run_gold(session, ref, as_of=AS_OF, run_id="gold-1")
    first, first_export = kit.layer_rows(session, ref, GOLD_OUTPUTS), export.read_text()
    first_manifest = json.loads(manifest.read_text())
    first_export_files = _export_files(Path(lake.gold) / INSIGHTS_EXPORT_PREFIX / "run=gold-1")
    run_gold(session, ref, as_of=AS_OF, run_id="gold-2")
    again = kit.layer_rows(session, ref, GOLD_OUTPUTS)
    run_gold(session, ref, as_of=LATER, run_id="gold-3")
    columns = {t.name: session.table(ref.identifier(t)).columns for t in GOLD_TABLES}
    return Gold(
        first,
        first_export,
        summary,
        again,
        kit.layer_rows(session, ref, GOLD_OUTPUTS),
        export.read_text(),
        lake.gold,
        columns,
        first_manifest,
        first_export_files,
        json.loads(manifest.read_text()),
        sorted(p.name for p in (Path(lake.gold) / INSIGHTS_EXPORT_PREFIX).iterdir()),
    )


def _engagement(user: str, snapshot: Any, **figures: Any) -> dict[str, Any]:
    """An expected gold_user_engagement row: a user with no tasks and no activity, but for `figures`."""
    row = {
        "user_id": user,
        "total_tasks": 0,
        "completed_tasks": 0,
        "open_tasks": 0,
        "overdue_tasks": 0,
        "completion_rate": 0.0,
        "events_last_7d": 0,
        "first_activity_at": None,
        "last_activity_at": None,
        "snapshot_at": snapshot,
    }
    row.update(figures)
    assert list(row) == GOLD_USER_ENGAGEMENT.column_names()
    return row


def test_the_gold_run_writes_the_six_published_tables() -> None:
    # The runs above are compared table by table over GOLD_OUTPUTS: this pins what that covers.
    assert [t.name for t in GOLD_OUTPUTS] == [
        "gold_user_engagement",
        "gold_task_completion_daily",
        "gold_category_trends",
        "gold_business_kpis",
        "gold_user_insights",
        "gold_api_usage_daily",
    ]


def test_user_engagement_counts_live_tasks_and_task_activity(gold: Gold, kit: Any) -> None:
    snapshot = kit.naive(AS_OF)
    # What u1 and u2 share: two live tasks, one of them completed.
    two_tasks_one_done = {"total_tasks": 2, "completed_tasks": 1, "open_tasks": 1, "completion_rate": 50.0}
    assert sorted(gold.first[GOLD_USER_ENGAGEMENT.name], key=lambda r: str(r["user_id"])) == [
        _engagement(
            "u1",
            snapshot,
            **two_tasks_one_done,
            overdue_tasks=1,
            events_last_7d=6,
            first_activity_at=kit.naive(nov(20, 9)),
            last_activity_at=kit.naive(nov(22, 12)),
        ),
        _engagement(
            "u2",
            snapshot,
            **two_tasks_one_done,
            events_last_7d=3,
            first_activity_at=kit.naive(nov(10, 9)),
            last_activity_at=kit.naive(nov(22, 13)),
        ),
        _engagement("u4", snapshot),
    ]


def test_task_completion_daily_counts_creations_completions_deletions_and_hours(gold: Gold) -> None:
    rows = sorted(gold.first[GOLD_TASK_COMPLETION_DAILY.name], key=lambda r: r["date"])
    assert [(r["date"], r["tasks_created"], r["tasks_completed"], r["tasks_deleted"]) for r in rows] == [
        (date(2026, 11, 10), 1, 1, 0),
        (date(2026, 11, 20), 1, 1, 0),
        (date(2026, 11, 21), 3, 0, 0),
        (date(2026, 11, 22), 1, 2, 2),
    ]
    hours = [
        (r["avg_hours_to_complete"], r["p50_hours_to_complete"], r["p90_hours_to_complete"]) for r in rows
    ]
    assert hours[0] == (12.0, 12.0, 12.0)
    assert hours[1] == (6.0, 6.0, 6.0)
    assert hours[2] == (None, None, None)
    # 11-22 completed t3 after 24 h and t4 after 2 h: p90 interpolates 2 + 0.9 * 22.
    assert hours[3] == pytest.approx((13.0, 13.0, 21.8))


def test_category_trends_count_per_day_and_category(gold: Gold) -> None:
    rows = [
        (r["date"], r["category"], r["tasks_created"], r["tasks_completed"])
        for r in gold.first[GOLD_CATEGORY_TRENDS.name]
    ]
    assert sorted(rows) == [
        (date(2026, 11, 10), "work", 1, 1),
        (date(2026, 11, 20), "work", 1, 1),
        (date(2026, 11, 21), "home", 1, 0),
        (date(2026, 11, 21), "work", 2, 0),
        (date(2026, 11, 22), "home", 1, 1),
        (date(2026, 11, 22), "work", 0, 1),
    ]


EXPECTED_KPIS = {
    "total_users": 3.0,
    "active_users": 2.0,
    "total_tasks": 4.0,
    "completed_tasks": 2.0,
    "completion_rate": 50.0,
    "avg_tasks_per_user": 4 / 3,
}


def test_business_kpis_hold_one_row_per_metric_per_snapshot(gold: Gold, kit: Any) -> None:
    kpis = {r["metric"]: r["value"] for r in gold.first[GOLD_BUSINESS_KPIS.name]}
    assert kpis == pytest.approx(EXPECTED_KPIS)
    assert {r["snapshot_at"] for r in gold.first[GOLD_BUSINESS_KPIS.name]} == {kit.naive(AS_OF)}
    assert gold.summary.details["kpis"] == pytest.approx(EXPECTED_KPIS)


def test_a_rerun_at_the_same_instant_replaces_its_snapshot_and_a_later_one_appends(
    gold: Gold, kit: Any
) -> None:
    assert gold.again == gold.first
    later = gold.later[GOLD_BUSINESS_KPIS.name]
    assert len(later) == 2 * len(EXPECTED_KPIS)
    assert {r["snapshot_at"] for r in later} == {kit.naive(AS_OF), kit.naive(LATER)}
    # Four days later the window starts 11-20 12:00: t1's creation at 09:00 has left it.
    assert {r["metric"]: r["value"] for r in later if r["snapshot_at"] == kit.naive(LATER)} == pytest.approx(
        EXPECTED_KPIS
    )
    engagement = sorted(gold.later[GOLD_USER_ENGAGEMENT.name], key=lambda r: str(r["user_id"]))
    assert {r["snapshot_at"] for r in engagement} == {kit.naive(LATER)}
    assert [r["events_last_7d"] for r in engagement] == [5, 3, 0]


def test_the_kpi_export_has_the_shape_the_metrics_function_reads(gold: Gold) -> None:
    document = json.loads(gold.first_export)
    assert set(document) == {"snapshot_at", "metrics"}
    assert document["snapshot_at"] == "2026-11-23T12:00:00.000Z"
    assert document["metrics"] == {
        "total_users": 3,
        "active_users": 2,
        "total_tasks": 4,
        "completed_tasks": 2,
        "completion_rate": 50.0,
        "avg_tasks_per_user": pytest.approx(4 / 3),
    }
    snapshot = parse_snapshot(gold.first_export.encode())
    assert snapshot.snapshot_at == AS_OF
    assert dict(snapshot.values) == pytest.approx(EXPECTED_KPIS)
    assert parse_snapshot(gold.later_export.encode()).snapshot_at == LATER
    # Written by atomic replacement: no temporary file is left beside it.
    assert [p.name for p in (Path(gold.gold_uri) / KPI_EXPORT_KEY).parent.iterdir() if p.is_file()] == [
        Path(KPI_EXPORT_KEY).name
    ]


def _insight(user: str, as_of: Any, **figures: Any) -> dict[str, Any]:
    row = {
        "user_id": user,
        "as_of": as_of,
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
    row.update(figures)
    assert list(row) == GOLD_USER_INSIGHTS.column_names()
    return row


def _expected_insights(as_of: Any) -> list[dict[str, Any]]:
    # u1: t1 (work) completed 11-20 (a Friday) after 6 h, t2 (home) open and overdue, t3 deleted.
    # u2: t4 (home) reopened, so open; t5 (work) completed 11-10 (a Tuesday) after 12 h, inside
    #     30 days but not 7. Neither has completed anything on 11-22 or 11-23: no current streak.
    # u3's account is gone; u4 has no tasks.
    # What u1 and u2 share: a completed work task and an open home task, a longest streak of one day.
    both = {
        "total_tasks": 2,
        "open_tasks": 1,
        "completed_tasks": 1,
        "completed_last_30_days": 1,
        "completion_rate": 50.0,
        "longest_streak_days": 1,
        "top_categories": [
            {"category": "work", "created": 1, "completed": 1},
            {"category": "home", "created": 1, "completed": 0},
        ],
    }
    return [
        _insight(
            "u1",
            as_of,
            **both,
            overdue_tasks=1,
            completed_last_7_days=1,
            median_hours_to_complete=6.0,
            busiest_weekday="Friday",
        ),
        _insight("u2", as_of, **both, median_hours_to_complete=12.0, busiest_weekday="Tuesday"),
        _insight("u4", as_of),
    ]


def test_user_insights_hold_one_row_per_live_user(gold: Gold, kit: Any) -> None:
    rows = sorted(gold.first[GOLD_USER_INSIGHTS.name], key=lambda r: str(r["user_id"]))
    assert rows == _expected_insights(kit.naive(AS_OF))
    later = sorted(gold.later[GOLD_USER_INSIGHTS.name], key=lambda r: str(r["user_id"]))
    assert {r["as_of"] for r in later} == {kit.naive(LATER)}
    # Four days later t1's completion (11-20 15:00) is still within 7 days (after 11-20 12:00).
    assert [(r["completed_last_7_days"], r["completed_last_30_days"]) for r in later] == [
        (1, 1),
        (0, 1),
        (0, 0),
    ]


def test_the_insights_export_is_the_committed_table_as_gzip_json_lines_with_a_manifest(
    gold: Gold, kit: Any
) -> None:
    assert gold.first_manifest == {
        "as_of": "2026-11-23T12:00:00.000Z",
        "run_id": "gold-1",
        "prefix": "exports/user_insights/run=gold-1/",
        "users": 3,
    }
    # Data files only: no _SUCCESS marker beside them (locally Hadoop adds hidden .crc files).
    names = [n for n in gold.first_export_files if not n.startswith(".")]
    assert names
    assert all(n.startswith("part-") and n.endswith(".json.gz") for n in names)
    objects = sorted((o for n in names for o in gold.first_export_files[n]), key=lambda o: str(o["user_id"]))
    assert objects == _expected_insights("2026-11-23T12:00:00.000Z")
    # Every field is present, nulls included, in column order.
    assert [list(o) for o in objects] == [GOLD_USER_INSIGHTS.column_names()] * 3
    assert gold.later_manifest == {
        "as_of": "2026-11-27T12:00:00.000Z",
        "run_id": "gold-3",
        "prefix": "exports/user_insights/run=gold-3/",
        "users": 3,
    }
    assert gold.export_folders == ["latest.json", "run=gold-1", "run=gold-2", "run=gold-3"]


def test_gold_holds_no_personal_text(gold: Gold) -> None:
    for table in GOLD_TABLES:
        assert not set(gold.columns[table.name]) & PERSONAL_COLUMNS, table.name
    texts = [json.dumps(rows, default=str) for rows in gold.later.values()]
    texts.append(gold.later_export)
    texts.append(json.dumps(gold.first_export_files))  # the insights export for the loader
    assert not [t for t in texts if SECRET in t or "@example.com" in t]
