"""`make demo` as a test: the whole story on a small workload, in a hidden state folder as the
Makefile uses, must end with exit code 0 (every call as specified, the lake equal to the table).
The history is small (6 users, 2 weeks) but must give the lake real shape: many days, hours to
complete, more than one weekly cohort, and the history's deleted account erased."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from todo_contracts import lake_layout
from todo_local.athena_engine import AthenaEngine
from todo_local.demo import run_demo
from todo_local.reconcile import read_lake_table

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_the_demo_tells_the_whole_story_and_exits_0(tmp_path: Path) -> None:
    output = io.StringIO()
    directory = tmp_path / ".local-demo"
    code = run_demo(
        directory,
        tasks_per_user=3,
        history_users=6,
        history_weeks=2,
        console=Console(file=output, width=160),
    )

    text = " ".join(output.getvalue().split())  # lines as one text: rich wraps long ones
    assert code == 0, output.getvalue()[-4000:]
    assert "the lake equals the table" in text
    assert "2 weeks of history" in text
    assert "replayed through the API with a simulated clock (seed 7)" in text
    assert "Right to erasure" in text
    assert text.count("nothing found") == 2  # the live and the history leaver: in no file of the lake
    # The demo ends with a history user's insights, served by the API from the latest gold run.
    insights = text.rsplit("One user's insights, through the API", 1)[1]
    assert "GET /api/v1/users/me/insights" in insights
    assert "current_streak_days" in insights
    assert "answered 404" not in insights

    lake = directory / "lake"
    daily = read_lake_table(lake, lake_layout.GOLD_TASK_COMPLETION_DAILY)
    assert len({row["date"] for row in daily}) > 7
    assert any((row["p50_hours_to_complete"] or 0) > 0.5 for row in daily)
    with AthenaEngine(lake) as engine:
        cohorts = engine.query("SELECT DISTINCT cohort_week FROM (" + _query("weekly_cohort_retention") + ")")
    assert len(cohorts.rows) >= 2

    erasures = read_lake_table(lake, lake_layout.ERASURE_LOG)
    assert len(erasures) == 2
    assert {row["status"] for row in erasures} == {"completed"}
    erased = {row["user_id"] for row in erasures}
    for table in (lake_layout.SILVER_TASKS, lake_layout.SILVER_TASK_EVENTS, lake_layout.SILVER_API_REQUESTS):
        assert not [row for row in read_lake_table(lake, table) if row["user_id"] in erased], table.name

    report = directory / "report" / "index.html"
    assert report.is_file()
    page = report.read_text(encoding="utf-8")
    assert "<img" in page  # the charts made it into the report
    # The erasure log reaches the report as the deleted user's id and a completed request only.
    erasure = page.split("Right to erasure (erasure_log)</h2>", 1)[1].split("<h2>", 1)[0]
    assert "completed" in erasure
    assert "@example.com" not in erasure


def _query(name: str) -> str:
    from todo_etl.queries import load_queries

    return next(q.sql for q in load_queries() if q.name == name)
