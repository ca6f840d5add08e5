"""pipeline_runs: one appended row per run, linked to the previous run, failures recorded, anomalies."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]

from todo_contracts.lake_layout import PIPELINE_RUNS, SILVER_TABLES, SILVER_TASKS
from todo_etl.glue.jobs import run_gold, run_silver
from todo_etl.glue.run_log import FAILED, SUCCEEDED, PreviousRun, RunSummary, find_anomalies

pytestmark = pytest.mark.spark

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Runs:
    rows: list[dict[str, Any]]
    last: RunSummary
    error: str
    tasks_after_failure: list[dict[str, Any]]
    tasks_before_failure: list[dict[str, Any]]
    snapshots_before_failure: dict[str, int | None]
    snapshots_after_failure: dict[str, int | None]
    checkpoint_after_failure: dict[str, Any]


@pytest.fixture(scope="module")
def runs(kit: Any, run_once: Any) -> Runs:
    built: Runs = run_once("pipeline-runs", lambda scenario: _build(kit, scenario))
    return built


def _build(kit: Any, scenario: Any) -> Runs:
    lake, bronze = scenario.lake, scenario.bronze
    t0 = kit.T0
    hour = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    records = [bronze.put(kit.user_item("u1", 1, t0))]
    records += [bronze.put(kit.task_item("u1", f"t{n}", 1, t0)) for n in range(1, 5)]
    bronze.write(records, hour)
    session, ref = scenario.open()
    run_silver(session, ref, run_id="s1", now=START)
    run_gold(session, ref, as_of=START + timedelta(minutes=1), run_id="g1")
    before = kit.table_rows(session, ref, SILVER_TASKS)
    snapshots_before = kit.snapshot_ids(session, ref, SILVER_TABLES)

    # A delivered object that is not gzip: the run fails and must leave silver as it was.
    corrupt = bronze.write_lines(["{}"], hour + timedelta(hours=1))
    corrupt.write_bytes(b"this is not gzip data")
    with pytest.raises(Py4JJavaError) as failure:
        run_silver(session, ref, run_id="s2", now=START + timedelta(minutes=2))
    after = kit.table_rows(session, ref, SILVER_TASKS)
    snapshots_after = kit.snapshot_ids(session, ref, SILVER_TABLES)
    checkpoint = json.loads((Path(lake.silver) / "_state" / "checkpoint.json").read_text())

    # The operator moves the bad object aside; three deletions and two bad lines arrive.
    shutil.rmtree(corrupt.parent)
    deletes = [bronze.delete("USER#u1", f"TASK#t{n}") for n in range(1, 4)]
    bronze.write(deletes, hour + timedelta(hours=2))
    bronze.write_lines(["not json", "{also not json"], hour + timedelta(hours=2))
    last = run_silver(session, ref, run_id="s3", now=START + timedelta(minutes=3))
    rows = kit.table_rows(session, ref, PIPELINE_RUNS)
    return Runs(rows, last, str(failure.value), after, before, snapshots_before, snapshots_after, checkpoint)


def _by_id(runs: Runs) -> dict[str, dict[str, Any]]:
    return {r["run_id"]: r for r in runs.rows}


def test_every_run_appends_one_row_linked_to_the_previous_successful_run_of_its_job(runs: Runs) -> None:
    rows = _by_id(runs)
    assert sorted(rows) == ["g1", "s1", "s2", "s3"]
    assert {k: (r["job"], r["status"], r["previous_run_id"]) for k, r in rows.items()} == {
        "s1": ("silver", SUCCEEDED, None),
        "g1": ("gold", SUCCEEDED, None),
        "s2": ("silver", FAILED, "s1"),
        # The failed run is not a baseline: s3 compares itself with s1.
        "s3": ("silver", SUCCEEDED, "s1"),
    }
    s1 = rows["s1"]
    assert s1["rows_in"] == 5
    assert json.loads(s1["rows_out"]) == {
        "silver_api_requests": 0,
        "silver_deleted_items": 0,
        "silver_quarantine": 0,
        "silver_schema_drift": 0,
        "silver_task_events": 4,
        "silver_tasks": 4,
        "silver_users": 1,
    }
    assert (s1["quarantined"], s1["drift"], json.loads(s1["anomalies"])) == (0, 0, [])
    assert s1["started_at"] == START.replace(tzinfo=None)
    assert s1["ended_at"] >= s1["started_at"]
    assert json.loads(rows["g1"]["rows_out"])["gold_business_kpis"] == 6
    # Each row names the snapshot every table of its layer was left at: the rollback target.
    assert set(json.loads(s1["snapshots"])) == {t.name for t in SILVER_TABLES}


def test_a_failed_run_records_a_failed_row_reraises_and_leaves_silver_untouched(runs: Runs) -> None:
    failed = _by_id(runs)["s2"]
    assert failed["status"] == FAILED
    assert json.loads(failed["rows_out"]) == {}
    assert "gzip" in runs.error.lower() or "header" in runs.error.lower()
    assert runs.tasks_after_failure == runs.tasks_before_failure
    # The failure came before any commit: every silver table is still at its previous snapshot.
    assert runs.snapshots_after_failure == runs.snapshots_before_failure
    assert runs.checkpoint_after_failure["run_id"] == "s1"


def test_a_run_compares_itself_with_the_previous_run_and_records_anomalies(runs: Runs) -> None:
    expected = [
        {"kind": "row_drop", "table": "silver_tasks", "previous": 4, "current": 1},
        {"kind": "quarantine_spike", "table": "silver_quarantine", "previous": 0, "current": 2},
    ]
    assert runs.last.anomalies == expected
    assert json.loads(_by_id(runs)["s3"]["anomalies"]) == expected
    assert (runs.last.quarantined, runs.last.rows_in) == (2, 10)


def _previous(rows_in: int, quarantined: int, **rows_out: int) -> PreviousRun:
    return PreviousRun(run_id="p", rows_in=rows_in, rows_out=rows_out, quarantined=quarantined)


def test_no_previous_run_means_no_anomalies() -> None:
    assert find_anomalies(None, 100, {"silver_tasks": 0}, 50) == []


def test_a_drop_to_exactly_half_or_a_steady_quarantine_share_is_not_an_anomaly() -> None:
    previous = _previous(1000, 20, silver_tasks=10, silver_users=0)
    assert find_anomalies(previous, 1000, {"silver_tasks": 5, "silver_users": 0}, 30) == []
    assert find_anomalies(previous, 1000, {"silver_tasks": 4}, 40) == [
        {"kind": "row_drop", "table": "silver_tasks", "previous": 10, "current": 4},
        {"kind": "quarantine_spike", "table": "silver_quarantine", "previous": 20, "current": 40},
    ]


def test_a_quarantine_share_under_one_percent_is_not_a_spike() -> None:
    assert find_anomalies(_previous(1000, 0), 1000, {}, 10) == []
    assert find_anomalies(_previous(1000, 0), 1000, {}, 11)[0]["kind"] == "quarantine_spike"
