"""Iceberg table maintenance: compact small files, expire old snapshots, remove orphan files.

Every silver and gold commit adds files and a snapshot; left alone, an hourly pipeline leaves
thousands of small files and snapshots per table, which slows planning and keeps deleted data on
storage. This job (a scheduled Glue job on AWS, `todo-insights pipeline maintain` locally) runs
Iceberg's own procedures per table, with the retention of the stage, and records itself in
`pipeline_runs` like the other jobs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import SparkSession

from todo_contracts.lake_layout import ICEBERG_TABLES, LakeTable
from todo_etl.glue import iceberg_tables
from todo_etl.glue.iceberg_tables import Lake
from todo_etl.glue.jobs import Outcome, recorded_run
from todo_etl.glue.maintenance_policy import DEFAULT_POLICY, MaintenancePolicy
from todo_etl.glue.run_log import RunSummary

MAINTENANCE_JOB = "maintenance"


def _timestamp_literal(at: datetime) -> str:
    return f"TIMESTAMP '{at.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')}'"


def _first_row(spark: SparkSession, sql: str) -> dict[str, Any]:
    row = spark.sql(sql).first()
    return row.asDict() if row is not None else {}


def maintain_table(
    spark: SparkSession, lake: Lake, table: LakeTable, policy: MaintenancePolicy, now: datetime
) -> dict[str, int]:
    """Compaction, then snapshot expiry, then orphan removal, for one table; what each did."""
    if iceberg_tables.current_snapshot(spark, lake, table) is None:  # never written: nothing to do
        return {"rewritten_files": 0, "added_files": 0, "expired_data_files": 0, "orphan_files": 0}
    target = lake.table_argument(table)
    compacted = _first_row(
        spark,
        f"CALL {lake.procedure('rewrite_data_files')}(table => '{target}', "
        f"options => map('min-input-files', '{policy.compact_min_input_files}'))",
    )
    expired = _first_row(
        spark,
        f"CALL {lake.procedure('expire_snapshots')}(table => '{target}', "
        f"older_than => {_timestamp_literal(now - timedelta(hours=policy.snapshot_retention_hours))}, "
        f"retain_last => {policy.retain_last_snapshots})",
    )
    # The action API, not the procedure: the procedure refuses ages under 24 h outright, while
    # the policy (validated above) is the place that decides how young a file may be.
    jvm: Any = spark.sparkContext._jvm
    cutoff_ms = int((now - timedelta(hours=policy.orphan_min_age_hours)).timestamp() * 1000)
    orphans = (
        jvm.org.apache.iceberg.spark.actions.SparkActions.get(spark._jsparkSession)
        .deleteOrphanFiles(iceberg_tables.iceberg_table(spark, lake, table))
        .olderThan(cutoff_ms)
        .execute()
    )
    return {
        "rewritten_files": int(compacted.get("rewritten_data_files_count", 0)),
        "added_files": int(compacted.get("added_data_files_count", 0)),
        "expired_data_files": int(expired.get("deleted_data_files_count", 0)),
        "expired_manifest_lists": int(expired.get("deleted_manifest_lists_count", 0)),
        "orphan_files": sum(1 for _ in orphans.orphanFileLocations()),
    }


class RollbackError(ValueError):
    """A rollback names a table or snapshot the lake does not have."""


def rollback_table(spark: SparkSession, lake: Lake, table_name: str, snapshot_id: int) -> dict[str, int]:
    """Make `snapshot_id` the table's current snapshot again (one metadata commit, no data copied).

    The snapshot must still exist (not expired) and be an ancestor of the current one; later
    snapshots stay in the history until expiry, so a rollback can itself be rolled forward.
    """
    table = next((t for t in ICEBERG_TABLES if t.name == table_name), None)
    if table is None:
        known = ", ".join(t.name for t in ICEBERG_TABLES)
        raise RollbackError(f"no Iceberg table named {table_name!r}; the lake has {known}")
    current = iceberg_tables.current_snapshot(spark, lake, table)
    known_ids = {int(s.snapshotId()) for s in iceberg_tables.iceberg_table(spark, lake, table).snapshots()}
    if snapshot_id not in known_ids:
        raise RollbackError(f"{table_name} has no snapshot {snapshot_id} (expired, or never existed)")
    row = _first_row(
        spark,
        f"CALL {lake.procedure('rollback_to_snapshot')}(table => '{lake.table_argument(table)}', "
        f"snapshot_id => {int(snapshot_id)})",
    )
    return {
        "previous_snapshot_id": int(row.get("previous_snapshot_id", current.snapshot_id if current else 0)),
        "current_snapshot_id": int(row.get("current_snapshot_id", snapshot_id)),
    }


def run_maintenance(
    spark: SparkSession,
    lake: Lake,
    policy: MaintenancePolicy = DEFAULT_POLICY,
    run_id: str | None = None,
    now: datetime | None = None,
) -> RunSummary:
    """Maintain every silver and gold table; one pipeline_runs row for the whole pass."""

    def body(started: datetime, run: str) -> Outcome:
        per_table = {t.name: maintain_table(spark, lake, t, policy, started) for t in ICEBERG_TABLES}
        after = iceberg_tables.snapshots_of(spark, lake, ICEBERG_TABLES)
        return Outcome(
            rows_in=sum(iceberg_tables.rows(s) for s in after.values()),
            rows_out={name: iceberg_tables.rows(s) for name, s in sorted(after.items())},
            snapshots={name: s.snapshot_id for name, s in sorted(after.items()) if s is not None},
            details={
                "policy": {
                    "snapshot_retention_hours": policy.snapshot_retention_hours,
                    "retain_last_snapshots": policy.retain_last_snapshots,
                    "orphan_min_age_hours": policy.orphan_min_age_hours,
                    "compact_min_input_files": policy.compact_min_input_files,
                },
                "tables": per_table,
            },
        )

    return recorded_run(spark, lake, MAINTENANCE_JOB, run_id, now, body)
