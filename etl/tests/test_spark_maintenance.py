"""Lake maintenance and rollback: compaction, snapshot expiry, orphan files; `pipeline maintain` and
`pipeline rollback` as commands."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from todo_contracts.lake_layout import PIPELINE_RUNS, SILVER_TASK_EVENTS, SILVER_USERS
from todo_etl.glue import iceberg_tables
from todo_etl.glue.maintenance import RollbackError, rollback_table, run_maintenance
from todo_etl.glue.maintenance_policy import MaintenancePolicy
from todo_etl.glue.spark_schema import conform, struct_type
from todo_local.athena_engine import AthenaEngine, QueryError
from todo_local.cli import main
from todo_local.lake_catalog import LocalLakeCatalog

pytestmark = pytest.mark.spark

APPENDS = 6


def _append_events(session: Any, lake: Any, n: int) -> None:
    row = {
        "event_id": f"e{n}",
        "task_id": f"t{n}",
        "user_id": "u1",
        "version": 1,
        "event_date": date(2026, 11, 23),
    }
    frame = session.createDataFrame([row], struct_type(SILVER_TASK_EVENTS).simpleString())
    iceberg_tables.append(lake, SILVER_TASK_EVENTS, conform(frame, SILVER_TASK_EVENTS))


@pytest.fixture
def small_files(spark: Any, kit: Any, tmp_path: Path) -> tuple[Any, Any, Path]:
    """A lake whose task events are one small file (and one snapshot) per append, in one day."""
    root = tmp_path / "state" / "lake"
    session, lake = kit.Lake(root).open(spark)
    iceberg_tables.create_tables(session, lake)
    for n in range(APPENDS):
        _append_events(session, lake, n)
    return session, lake, root


def _files(root: Path) -> set[Path]:
    return set((root / SILVER_TASK_EVENTS.relative_path / "data").rglob("*.parquet"))


def test_maintenance_compacts_expires_and_keeps_every_row(small_files: tuple[Any, Any, Path]) -> None:
    session, lake, root = small_files
    catalog = LocalLakeCatalog(root)
    first_snapshot = catalog.snapshots(SILVER_TASK_EVENTS)[0].snapshot_id
    assert len(_files(root)) == APPENDS

    later = datetime.now(UTC) + timedelta(hours=2)
    policy = MaintenancePolicy(snapshot_retention_hours=1, retain_last_snapshots=1, orphan_min_age_hours=1)
    summary = run_maintenance(session, lake, policy, run_id="m1", now=later)

    done = summary.details["tables"][SILVER_TASK_EVENTS.name]
    assert (done["rewritten_files"], done["added_files"]) == (APPENDS, 1)
    assert done["expired_data_files"] == APPENDS  # the small files, now only in expired snapshots
    assert len(_files(root)) == 1
    assert len(catalog.snapshots(SILVER_TASK_EVENTS)) == 1
    with AthenaEngine(root) as engine:
        assert engine.query("SELECT count(*) FROM silver_task_events").rows == [(APPENDS,)]
        with pytest.raises(QueryError, match=f"no snapshot {first_snapshot}"):
            engine.query(f"SELECT count(*) FROM silver_task_events FOR VERSION AS OF {first_snapshot}")
    # Maintenance records itself like the other jobs.
    runs = {r["run_id"]: r for r in iceberg_tables.read(session, lake, PIPELINE_RUNS).collect()}
    assert runs["m1"]["job"] == "maintenance"
    assert runs["m1"]["status"] == "succeeded"


def test_maintenance_with_the_default_policy_keeps_recent_history(small_files: tuple[Any, Any, Path]) -> None:
    session, lake, root = small_files
    run_maintenance(session, lake, run_id="m-default")
    # Young snapshots stay (time travel within the retention), so do files they reference.
    assert len(LocalLakeCatalog(root).snapshots(SILVER_TASK_EVENTS)) == APPENDS + 1  # + the compaction
    assert len(_files(root)) == APPENDS + 1


def test_rollback_puts_a_table_back_on_an_older_snapshot(small_files: tuple[Any, Any, Path]) -> None:
    session, lake, root = small_files
    history = LocalLakeCatalog(root).snapshots(SILVER_TASK_EVENTS)
    outcome = rollback_table(session, lake, SILVER_TASK_EVENTS.name, history[1].snapshot_id)
    assert outcome == {
        "previous_snapshot_id": history[-1].snapshot_id,
        "current_snapshot_id": history[1].snapshot_id,
    }
    with AthenaEngine(root) as engine:
        assert engine.query("SELECT count(*) FROM silver_task_events").rows == [(2,)]
    with pytest.raises(RollbackError, match="no snapshot 42"):
        rollback_table(session, lake, SILVER_TASK_EVENTS.name, 42)
    with pytest.raises(RollbackError, match="no Iceberg table named 'bronze_cdc'"):
        rollback_table(session, lake, "bronze_cdc", history[0].snapshot_id)


def test_pipeline_maintain_and_rollback_commands(
    small_files: tuple[Any, Any, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the table's rows unwrapped
    _, _, root = small_files
    state = root.parent
    assert main(["pipeline", "maintain", "--dir", str(state)]) == 0
    out = capsys.readouterr().out
    assert "maintenance run" in out
    assert SILVER_TASK_EVENTS.name in out

    history = LocalLakeCatalog(root).snapshots(SILVER_TASK_EVENTS)
    target = history[0].snapshot_id
    assert (
        main(
            [
                "pipeline",
                "rollback",
                "--dir",
                str(state),
                "--table",
                SILVER_TASK_EVENTS.name,
                "--snapshot",
                str(target),
            ]
        )
        == 0
    )
    assert f"→ {target}" in capsys.readouterr().out
    with AthenaEngine(root) as engine:
        assert engine.query("SELECT count(*) FROM silver_task_events").rows == [(1,)]

    assert (
        main(["pipeline", "rollback", "--dir", str(state), "--table", SILVER_USERS.name, "--snapshot", "7"])
        == 1
    )
    assert "silver_users has no snapshot 7" in capsys.readouterr().err
    assert main(["pipeline", "maintain", "--dir", str(state), "--orphan-age-hours", "0"]) == 2
    assert "orphan_min_age_hours must be at least 1" in capsys.readouterr().err
    assert main(["pipeline", "maintain", "--dir", str(state / "nowhere")]) == 2
    assert "No lake" in capsys.readouterr().err
