"""Incremental silver runs: the checkpoint, the lookback window, and equality with a full rebuild."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from todo_contracts.lake_layout import (
    SILVER_QUARANTINE,
    SILVER_SCHEMA_DRIFT,
    SILVER_TABLES,
    SILVER_TASK_EVENTS,
    SILVER_TASKS,
)
from todo_etl.glue.jobs import run_silver
from todo_etl.glue.run_log import RunSummary

pytestmark = pytest.mark.spark

DAY = datetime(2026, 11, 23, tzinfo=UTC)
RUN_1 = DAY + timedelta(hours=12)
RUN_2 = DAY + timedelta(hours=15)
RUN_FULL = DAY + timedelta(hours=16)
# Run timestamps that legitimately differ between an incremental history and a rebuild.
RUN_TIMESTAMPS = {SILVER_QUARANTINE.name: "quarantined_at", SILVER_SCHEMA_DRIFT.name: "detected_at"}


def at(hour: int, minute: int = 10) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


@dataclass(frozen=True)
class Runs:
    first: RunSummary
    second: RunSummary
    incremental: dict[str, list[dict[str, Any]]]
    fresh: dict[str, list[dict[str, Any]]]
    rebuilt: RunSummary
    rebuilt_tables: dict[str, list[dict[str, Any]]]
    checkpoint: dict[str, Any]


@pytest.fixture(scope="module")
def runs(kit: Any, run_once: Any) -> Runs:
    built: Runs = run_once("silver-incremental", lambda scenario: _build(kit, scenario))
    return built


def _build(kit: Any, scenario: Any) -> Runs:
    lake, bronze = scenario.lake, scenario.bronze
    task, user = kit.task_item, kit.user_item
    t0 = kit.T0

    bronze.write([bronze.put(user("u1", 1, t0)), bronze.put(task("u1", "t1", 1, t0, mood="calm"))], at(5))
    t1_v2 = bronze.put(task("u1", "t1", 2, t0, mood="calm"))
    bronze.write([t1_v2, bronze.put(task("u1", "t2", 1, t0))], at(10))
    bronze.write_lines(["{broken"], at(10))
    bronze.write([bronze.put(task("u1", "t2", 2, t0, status="completed", completed_at=t0))], at(11))
    bronze.write_logs([bronze.access_log("r1", at(10))], at(10))
    session, ref = scenario.open()
    first = run_silver(session, ref, run_id="inc-1", now=RUN_1)

    # A late file in hour 9 (inside the 3 hour lookback of the high water 11:00), new hour 14
    # with a redelivered event, and a straggler in hour 5 that only a full rebuild reads.
    bronze.write([bronze.put(task("u1", "t3", 1, t0, category="home"))], at(9, 59))
    t1_v3 = bronze.put(task("u1", "t1", 3, t0, status="completed", completed_at=t0, mood="calm"))
    bronze.write([t1_v3, bronze.delete("USER#u1", "TASK#t2"), t1_v2], at(14))
    bronze.write_logs([bronze.access_log("r2", at(14)), bronze.access_log("r1", at(10))], at(14))
    bronze.write([bronze.put(task("u1", "t9", 1, t0))], at(5, 55))
    second = run_silver(session, ref, run_id="inc-2", now=RUN_2)
    incremental = kit.layer_rows(session, ref, SILVER_TABLES)
    checkpoint = json.loads((Path(lake.silver) / "_state" / "checkpoint.json").read_text())

    # Another lake (its own catalog and silver) over the same bronze: silver from nothing.
    fresh_session, fresh_ref = kit.Lake(scenario.folder / "fresh").open(scenario.spark)
    fresh_ref = dataclasses.replace(fresh_ref, bronze_uri=lake.bronze)
    run_silver(fresh_session, fresh_ref, run_id="fresh", now=RUN_FULL)
    fresh = kit.layer_rows(fresh_session, fresh_ref, SILVER_TABLES)
    rebuilt = run_silver(session, ref, full_rebuild=True, run_id="rebuild", now=RUN_FULL)
    rebuilt_tables = kit.layer_rows(session, ref, SILVER_TABLES)
    return Runs(first, second, incremental, fresh, rebuilt, rebuilt_tables, checkpoint)


def test_the_first_run_reads_everything_and_sets_the_high_water(runs: Runs) -> None:
    assert runs.first.details["full_rebuild"] is True
    assert runs.first.details["cdc_partitions_read"] == 3
    assert runs.first.details["high_water"] == {
        "cdc": "2026-11-23T11:00:00.000Z",
        "logs": "2026-11-23T10:00:00.000Z",
    }


def test_an_incremental_run_reads_only_new_hours_and_the_lookback(runs: Runs) -> None:
    details = runs.second.details
    assert details["full_rebuild"] is False
    # cdc: 09 (late, inside the lookback), 10, 11, 14; hour 05 is before high water 11 - 3 h.
    assert details["cdc_partitions_read"] == 4
    # logs: high water 10 - 3 h = 07: hours 10 and 14.
    assert details["logs_partitions_read"] == 2
    assert runs.checkpoint["high_water"] == {
        "cdc": "2026-11-23T14:00:00+00:00",
        "logs": "2026-11-23T14:00:00+00:00",
    }
    assert runs.checkpoint["run_id"] == "inc-2"
    tasks = {t["task_id"]: (t["version"], t["status"]) for t in runs.incremental[SILVER_TASKS.name]}
    # t2 was deleted in hour 14; the hour-05 straggler t9 was not read.
    assert tasks == {"t1": (3, "completed"), "t3": (1, "pending")}


def test_the_history_appended_between_runs_gives_the_same_events_as_reading_everything(runs: Runs) -> None:
    # Events of hour 05 (t1 v1) were not re-read by the second run, yet are still in the history.
    versions = sorted(
        (e["task_id"], e["version"], e["change_type"]) for e in runs.incremental[SILVER_TASK_EVENTS.name]
    )
    assert versions == [
        ("t1", 1, "created"),
        ("t1", 2, "updated"),
        ("t1", 3, "completed"),
        ("t2", 1, "created"),
        ("t2", 2, "completed"),
        ("t2", 2, "deleted"),
        ("t3", 1, "created"),
    ]


def _without(rows: list[dict[str, Any]], column: str, value: str) -> list[dict[str, Any]]:
    return [r for r in rows if r.get(column) != value]


def _strip(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    column = RUN_TIMESTAMPS.get(table)
    return rows if column is None else [{k: v for k, v in r.items() if k != column} for r in rows]


def test_a_full_rebuild_equals_the_incremental_result_plus_what_the_lookback_skipped(runs: Runs) -> None:
    for table, rows in runs.incremental.items():
        fresh = _without(runs.fresh[table], "task_id", "t9")
        assert _strip(table, rows) == _strip(table, fresh), table
    assert {t["task_id"] for t in runs.fresh[SILVER_TASKS.name]} == {"t1", "t3", "t9"}
    # Drift and quarantine keep the first time they were seen across incremental runs.
    assert {d["detected_at"] for d in runs.incremental[SILVER_SCHEMA_DRIFT.name]} == {
        RUN_1.replace(tzinfo=None)
    }
    assert {q["quarantined_at"] for q in runs.incremental[SILVER_QUARANTINE.name]} == {
        RUN_1.replace(tzinfo=None)
    }


def test_full_rebuild_ignores_the_checkpoint_and_equals_a_run_on_an_empty_silver(runs: Runs) -> None:
    assert runs.rebuilt.details["full_rebuild"] is True
    assert runs.rebuilt.details["cdc_partitions_read"] == 5
    assert runs.rebuilt_tables == runs.fresh


def test_an_incremental_run_writes_the_changes_not_the_history(runs: Runs) -> None:
    changes = runs.second.details["changes"]
    # New: t3 (late hour 9), t1 v3, t2's delete; t1 v2 and r1 were seen before and add nothing.
    assert changes["silver_task_events"] == {"added": 3, "deleted": 0}
    assert changes["silver_api_requests"] == {"added": 1, "deleted": 0}
    assert changes["silver_deleted_items"] == {"added": 1, "deleted": 0}
    # Copy-on-write rewrites the files holding t1 and t2; the table never grows by its history.
    assert runs.second.rows_out["silver_tasks"] == 2
    assert SILVER_QUARANTINE.name not in changes  # the broken line was quarantined by the first run


def test_a_full_rebuild_commits_one_snapshot_per_table(runs: Runs) -> None:
    assert set(runs.rebuilt.details["changes"]) == {t.name for t in SILVER_TABLES}
