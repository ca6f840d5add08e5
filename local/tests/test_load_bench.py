"""The load benchmark runs and reports what it measured (a small N; nothing here is timed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from todo_local.cli import main
from todo_local.load_bench import LoadReport, percentile, run_load_bench, write_load_report


def test_percentile_is_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) == 0.0


def test_a_small_load_run_reports_every_phase(tmp_path: Path) -> None:
    report = run_load_bench(tmp_path / "platform", creates=30, concurrency=3, sequential_rounds=3)

    assert report.errors == {}
    assert report.create_start["count"] == report.create_end["count"] == 3  # 10% of 30 each
    by_name = {row["name"]: row for row in report.operations}
    assert by_name["create"]["statuses"] == {"201": 30}
    for name in ("sequential create", "sequential get", "sequential patch", "sequential list"):
        assert by_name[name]["count"] == 3
    assert by_name["concurrent patch"]["statuses"] == {"200": 30}  # every task made is patched once
    lists = by_name["concurrent list"]  # up to 10 per client, as many as its tasks
    assert set(lists["statuses"]) == {"200"}
    assert 3 <= lists["count"] <= 30
    for row in [report.create_start, report.create_end, *report.operations]:
        assert 0 < row["p50_ms"] <= row["p99_ms"]
    assert report.tasks_stored == 3 + 30 + 3  # profiles, concurrent creates, sequential creates
    assert report.stream_records_kept == 0  # the drained poller released everything it consumed
    assert report.rss_before_mb > 0
    assert report.rss_after_mb > 0
    assert report.goals()["no errors"]

    path = write_load_report(report, tmp_path / "out")
    stored = json.loads(path.read_text())
    assert stored["creates"] == 30
    assert stored["memory_growth_mb"] == pytest.approx(report.rss_after_mb - report.rss_before_mb)
    assert set(stored["goals"]) == set(report.goals())


def test_goals_are_judged_from_the_figures() -> None:
    def report(
        errors: dict[str, int], before: float, after: float, p99_start: float, p99_end: float
    ) -> LoadReport:
        return LoadReport(
            creates=10,
            concurrency=1,
            seconds=1.0,
            create_start={"p99_ms": p99_start},
            create_end={"p99_ms": p99_end},
            operations=[],
            errors=errors,
            rss_before_mb=before,
            rss_after_mb=after,
            stream_records_kept=0,
            tasks_stored=10,
        )

    assert all(report({}, 100, 300, 10, 20).goals().values())
    assert list(report({"create 500": 1}, 100, 301, 10, 21).goals().values()) == [False, False, False]


def test_bench_only_load_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "--only", "load", "--creates", "20", "--concurrency", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "platform memory (RSS):" in printed
    assert "create (last 10%)" in printed
    stored = json.loads((out / "load-bench.json").read_text())
    assert stored["creates"] == 20
    assert stored["errors"] == {}
    assert not (out / "bench.json").exists()  # --only load runs no ratio benchmark
    assert not (out / "load-platform").exists()  # the scratch platform folder is removed


def test_bench_refuses_nonsense_load_sizes(tmp_path: Path) -> None:
    assert main(["bench", "--only", "load", "--creates", "0", "--out", str(tmp_path)]) == 2
    assert main(["bench", "--only", "load", "--concurrency", "0", "--out", str(tmp_path)]) == 2
