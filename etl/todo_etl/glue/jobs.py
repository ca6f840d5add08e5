"""The silver and gold jobs: read, transform, commit and record, for any lake (Glue or local).

The Glue entry scripts and the local pipeline both call `run_silver` and `run_gold`; nothing here
imports awsglue. Silver and gold are Iceberg tables (ADR 0009): every table a run writes gets one
atomic commit, and every run appends its `pipeline_runs` row, also when it fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)
from pyspark.storagelevel import StorageLevel

from todo_contracts.lake_layout import (
    CDC_FOLDER,
    GOLD_API_USAGE_DAILY,
    GOLD_BUSINESS_KPIS,
    GOLD_CATEGORY_TRENDS,
    GOLD_TABLES,
    GOLD_TASK_COMPLETION_DAILY,
    GOLD_USER_ENGAGEMENT,
    GOLD_USER_INSIGHTS,
    KPI_EXPORT_KEY,
    LOGS_FOLDER,
    PIPELINE_RUNS,
    SILVER_API_REQUESTS,
    SILVER_QUARANTINE,
    SILVER_SCHEMA_DRIFT,
    SILVER_TABLES,
    SILVER_TASK_EVENTS,
    SILVER_TASKS,
    SILVER_USERS,
    LakeTable,
    Layer,
)
from todo_contracts.timestamps import rfc3339
from todo_etl.glue import (
    api_usage_transform,
    bronze_reader,
    gold_transform,
    iceberg_tables,
    insights_export,
    insights_transform,
    silver_apply,
    silver_transform,
)
from todo_etl.glue.checkpoint import Checkpoint, partitions_to_read, read_checkpoint, write_checkpoint
from todo_etl.glue.iceberg_tables import Lake, SnapshotInfo
from todo_etl.glue.lake_fs import HourPartition, LakeFs, join
from todo_etl.glue.run_log import (
    FAILED,
    SUCCEEDED,
    RunSummary,
    append_run,
    find_anomalies,
    new_run_id,
    previous_run,
)

SILVER_JOB = "silver"
GOLD_JOB = "gold"
DEFAULT_LOOKBACK_HOURS = 3
GOLD_OUTPUTS = tuple(t for t in GOLD_TABLES if t is not PIPELINE_RUNS)


@dataclass
class Outcome:
    """What a job body reports back to the run record."""

    rows_in: int = 0
    rows_out: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    drift: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    snapshots: dict[str, int] = field(default_factory=dict)


def prepare_session(spark: SparkSession) -> None:
    """Session settings every run relies on, locally and on Glue alike."""
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    # INT64 microsecond timestamps read the same in Athena, DuckDB and pyarrow (INT96 is legacy).
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    # Any date a user may enter (year 1 included) is written as is, in the proleptic Gregorian
    # calendar Athena and DuckDB read; the default refuses dates before 1582 and fails the run.
    for mode in ("datetimeRebaseModeInWrite", "int96RebaseModeInWrite"):
        spark.conf.set(f"spark.sql.parquet.{mode}", "CORRECTED")


def recorded_run(
    spark: SparkSession,
    lake: Lake,
    job: str,
    run_id: str | None,
    now: datetime | None,
    body: Callable[[datetime, str], Outcome],
) -> RunSummary:
    """Create missing tables, run `body`, then append its pipeline_runs row (also when it fails,
    then re-raise)."""
    prepare_session(spark)
    clock = time.monotonic()
    started = (now or datetime.now(UTC)).astimezone(UTC)
    run = run_id or new_run_id(job, started)
    iceberg_tables.create_tables(spark, lake)
    previous = previous_run(spark, lake, job)
    summary = RunSummary(
        job=job,
        run_id=run,
        status=SUCCEEDED,
        started_at=rfc3339(started),
        ended_at=rfc3339(started),
        previous_run_id=previous.run_id if previous else None,
    )
    try:
        outcome = body(started, run)
    except Exception as error:
        summary.status = FAILED
        summary.error = f"{type(error).__name__}: {error}"[:2000]
        summary.ended_at = rfc3339(started + timedelta(seconds=time.monotonic() - clock))
        append_run(spark, lake, summary)
        raise
    summary.rows_in = outcome.rows_in
    summary.rows_out = outcome.rows_out
    summary.quarantined = outcome.quarantined
    summary.drift = outcome.drift
    summary.details = outcome.details
    summary.snapshots = outcome.snapshots
    summary.anomalies = find_anomalies(previous, outcome.rows_in, outcome.rows_out, outcome.quarantined)
    summary.ended_at = rfc3339(started + timedelta(seconds=time.monotonic() - clock))
    append_run(spark, lake, summary)
    return summary


def _snapshot_ids(snapshots: dict[str, SnapshotInfo | None]) -> dict[str, int]:
    return {name: s.snapshot_id for name, s in sorted(snapshots.items()) if s is not None}


def _changes(
    before: dict[str, SnapshotInfo | None], after: dict[str, SnapshotInfo | None]
) -> dict[str, dict[str, int]]:
    """Rows added and removed per table by this run's commits (tables it did not commit omitted)."""
    out: dict[str, dict[str, int]] = {}
    for name, now in sorted(after.items()):
        if now is None or (before.get(name) is not None and before[name] == now):
            continue
        out[name] = {"added": now.added_records, "deleted": now.deleted_records}
    return out


# --- silver ---------------------------------------------------------------------------------------


def _read_source(
    spark: SparkSession,
    fs: LakeFs,
    bronze_uri: str,
    folder: str,
    checkpoint: Checkpoint | None,
    read_all: bool,
    lookback_hours: int,
) -> tuple[DataFrame, list[HourPartition], datetime | None]:
    """The lines to process from one bronze folder and the new high-water hour."""
    partitions = fs.hour_partitions(join(bronze_uri, folder))
    high_water = None if read_all or checkpoint is None else checkpoint.high_water.get(folder)
    selected = partitions_to_read(partitions, high_water, lookback_hours)
    newest = partitions[-1].hour if partitions else high_water
    return bronze_reader.read_lines(spark, selected), selected, newest


def run_silver(
    spark: SparkSession,
    lake: Lake,
    full_rebuild: bool = False,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
    run_id: str | None = None,
    now: datetime | None = None,
) -> RunSummary:
    """Bronze to silver: the arrival hours since the checkpoint (plus the lookback) applied to the
    Iceberg tables, each in one commit; then the checkpoint moves.

    `full_rebuild` reads every bronze partition and replaces each silver table (one snapshot each).
    Every step is idempotent, so a run that dies anywhere is completed by the next one.
    """

    def body(started: datetime, run: str) -> Outcome:
        return _silver(spark, lake, full_rebuild, lookback_hours, started, run)

    return recorded_run(spark, lake, SILVER_JOB, run_id, now, body)


def _silver(
    spark: SparkSession, lake: Lake, full_rebuild: bool, lookback_hours: int, started: datetime, run: str
) -> Outcome:
    fs = LakeFs(spark)
    checkpoint = None if full_rebuild else read_checkpoint(fs, lake.silver_uri)
    # Without a checkpoint nothing says what silver holds: rebuild it from all of bronze.
    read_all = full_rebuild or checkpoint is None
    before = iceberg_tables.snapshots_of(spark, lake, SILVER_TABLES)

    cdc_lines, cdc_parts, cdc_mark = _read_source(
        spark, fs, lake.layer_uri(Layer.BRONZE), CDC_FOLDER, checkpoint, read_all, lookback_hours
    )
    log_lines, log_parts, log_mark = _read_source(
        spark, fs, lake.layer_uri(Layer.BRONZE), LOGS_FOLDER, checkpoint, read_all, lookback_hours
    )
    cdc = bronze_reader.parse_cdc(cdc_lines, started)
    logs = bronze_reader.parse_logs(log_lines, started)
    # Each line is parsed and checked once: valid rows and quarantine rows both read this cache.
    checked = [p.checked.persist(StorageLevel.MEMORY_AND_DISK) for p in (cdc, logs)]
    changes = silver_transform.dedupe_changes(cdc.valid).persist(StorageLevel.MEMORY_AND_DISK)
    requests = silver_transform.dedupe_api_requests(logs.valid).persist(StorageLevel.MEMORY_AND_DISK)
    written = silver_apply.Written()
    try:
        # One row per line read: rows_in, counted in one action that also fills the caches.
        rows_in = checked[0].select(F.lit(1)).unionByName(checked[1].select(F.lit(1))).count()
        days = silver_apply.run_days(changes, requests)
        earliest = min((p.hour for p in cdc_parts + log_parts), default=None)
        quarantine = cdc.quarantine.unionByName(logs.quarantine)
        writes = [
            *silver_apply.plan_current_state(spark, lake, changes, read_all),
            *silver_apply.plan_task_events(spark, lake, changes, days, read_all),
            *silver_apply.plan_api_requests(spark, lake, requests, days, read_all),
            *silver_apply.plan_quarantine(spark, lake, quarantine, read_all, earliest),
        ]
        silver_apply.commit(spark, lake, writes, written)
        silver_apply.write_schema_drift(spark, lake, started, read_all, written)
    finally:
        for frame in (changes, requests, *checked):
            frame.unpersist()

    after = iceberg_tables.snapshots_of(spark, lake, SILVER_TABLES)
    changed = _changes(before, after)
    rows_out = {name: iceberg_tables.rows(s) for name, s in sorted(after.items())}
    quarantined = changed.get(SILVER_QUARANTINE.name, {}).get("added", 0)
    # The checkpoint moves last: a run that died before this point is repeated by the next one.
    marks = {k: v for k, v in ((CDC_FOLDER, cdc_mark), (LOGS_FOLDER, log_mark)) if v is not None}
    write_checkpoint(fs, lake.silver_uri, Checkpoint(high_water=marks, run_id=run))
    return Outcome(
        rows_in=rows_in,
        rows_out=rows_out,
        quarantined=quarantined,
        drift=rows_out[SILVER_SCHEMA_DRIFT.name],
        snapshots=_snapshot_ids(after),
        details={
            "full_rebuild": read_all,
            "cdc_partitions_read": len(cdc_parts),
            "logs_partitions_read": len(log_parts),
            "high_water": {k: rfc3339(v) for k, v in sorted(marks.items())},
            "changes": changed,
        },
    )


# --- gold -----------------------------------------------------------------------------------------


def _read_pinned(
    spark: SparkSession, lake: Lake, table: LakeTable, snapshot: SnapshotInfo | None
) -> DataFrame:
    """The table at one snapshot, so every gold table is computed from the same silver state."""
    if snapshot is None:
        return iceberg_tables.read(spark, lake, table)
    return (
        spark.read.format("iceberg").option("snapshot-id", snapshot.snapshot_id).load(lake.identifier(table))
    )


def run_gold(
    spark: SparkSession,
    lake: Lake,
    as_of: datetime | None = None,
    run_id: str | None = None,
) -> RunSummary:
    """Silver to gold: engagement, daily completion, category trends, user insights, API usage and
    a KPI snapshot at `as_of` (default: now), plus the latest KPI snapshot as JSON at
    `{gold_uri}/{KPI_EXPORT_KEY}` and the insights export for the loader (`insights_export`)."""

    def body(started: datetime, run: str) -> Outcome:
        return _gold(spark, lake, (as_of or started).astimezone(UTC), run)

    return recorded_run(spark, lake, GOLD_JOB, run_id, as_of, body)


_GOLD_INPUTS = (SILVER_TASKS, SILVER_USERS, SILVER_TASK_EVENTS, SILVER_API_REQUESTS)


def _gold(spark: SparkSession, lake: Lake, as_of: datetime, run: str) -> Outcome:
    inputs = iceberg_tables.snapshots_of(spark, lake, _GOLD_INPUTS)
    tasks, users, events, requests = (_read_pinned(spark, lake, t, inputs[t.name]) for t in _GOLD_INPUTS)
    rows_in = sum(iceberg_tables.rows(s) for s in inputs.values())
    before = iceberg_tables.snapshots_of(spark, lake, GOLD_OUTPUTS)

    # Small tables (a row per user, per day, per day and category, per day and route): recomputed
    # and replaced in one snapshot each (ADR 0009 says why that beats per-day merges at this size).
    engagement = gold_transform.user_engagement(users, tasks, events, as_of).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    try:
        iceberg_tables.overwrite(lake, GOLD_USER_ENGAGEMENT, engagement)
        iceberg_tables.overwrite(
            lake, GOLD_TASK_COMPLETION_DAILY, gold_transform.task_completion_daily(events)
        )
        iceberg_tables.overwrite(lake, GOLD_CATEGORY_TRENDS, gold_transform.category_trends(events))
        snapshot = gold_transform.business_kpis(users, tasks, engagement, as_of)
    finally:
        engagement.unpersist()
    iceberg_tables.overwrite(
        lake, GOLD_USER_INSIGHTS, insights_transform.user_insights(spark, users, tasks, as_of)
    )
    iceberg_tables.overwrite(lake, GOLD_API_USAGE_DAILY, api_usage_transform.api_usage_daily(requests))
    # KPI snapshots accumulate; a re-run at the same instant replaces its own rows.
    iceberg_tables.merge(
        spark,
        lake,
        GOLD_BUSINESS_KPIS,
        gold_transform.kpi_rows(spark, snapshot),
        "t.snapshot_at = s.snapshot_at AND t.metric = s.metric",
        "WHEN MATCHED THEN UPDATE SET t.value = s.value "
        "WHEN NOT MATCHED THEN INSERT (snapshot_at, metric, value) VALUES (s.snapshot_at, s.metric, s.value)",
    )
    after = iceberg_tables.snapshots_of(spark, lake, GOLD_OUTPUTS)
    export = snapshot.export()
    LakeFs(spark).write_text(join(lake.gold_uri, KPI_EXPORT_KEY), json.dumps(export, sort_keys=True))
    # The export is the committed snapshot itself (not the frame that produced it): the loader
    # gets exactly what an analyst reads in gold_user_insights at that snapshot.
    insights = after[GOLD_USER_INSIGHTS.name]
    manifest = insights_export.write_export(
        spark,
        lake.gold_uri,
        _read_pinned(spark, lake, GOLD_USER_INSIGHTS, insights),
        iceberg_tables.rows(insights),
        rfc3339(as_of),
        run,
    )
    return Outcome(
        rows_in=rows_in,
        rows_out={name: iceberg_tables.rows(s) for name, s in sorted(after.items())},
        snapshots=_snapshot_ids(after),
        details={
            "as_of": rfc3339(as_of),
            "kpis": export["metrics"],
            "insights_export": manifest.prefix,
            "silver_snapshots": _snapshot_ids(inputs),
            "changes": _changes(before, after),
        },
    )
