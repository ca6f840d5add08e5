"""The silver and gold jobs: read, transform, write and record, for any base URI (path or s3://).

The Glue entry scripts and the local pipeline both call `run_silver` and `run_gold`; nothing here
imports awsglue.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.storagelevel import StorageLevel

from todo_etl.glue import bronze_reader, gold_transform, silver_transform
from todo_etl.glue.checkpoint import Checkpoint, partitions_to_read, read_checkpoint, write_checkpoint
from todo_etl.glue.lake_fs import HourPartition, LakeFs, join
from todo_etl.glue.run_log import (
    FAILED,
    SUCCEEDED,
    RunSummary,
    append_run,
    find_anomalies,
    iso,
    new_run_id,
    previous_run,
)
from todo_etl.glue.table_store import TableStore
from todo_etl.lake_layout import (
    CDC_FOLDER,
    GOLD_BUSINESS_KPIS,
    GOLD_CATEGORY_TRENDS,
    GOLD_TASK_COMPLETION_DAILY,
    GOLD_USER_ENGAGEMENT,
    KPI_EXPORT_KEY,
    LOGS_FOLDER,
    SILVER_API_REQUESTS,
    SILVER_QUARANTINE,
    SILVER_SCHEMA_DRIFT,
    SILVER_TASK_EVENTS,
    SILVER_TASKS,
    SILVER_USERS,
)

SILVER_JOB = "silver"
GOLD_JOB = "gold"
CDC_HISTORY_FOLDER = "_state/cdc_events"
DEFAULT_LOOKBACK_HOURS = 3


@dataclass
class _Outcome:
    rows_in: int = 0
    rows_out: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    drift: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def prepare_session(spark: SparkSession) -> None:
    """Session settings every run relies on, locally and on Glue alike."""
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    # INT64 microsecond timestamps read the same in Athena, DuckDB and pyarrow (INT96 is legacy).
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    # Any date a user may enter (year 1 included) is written as is, in the proleptic Gregorian
    # calendar Athena and DuckDB read; the default refuses dates before 1582 and fails the run.
    for mode in ("datetimeRebaseModeInWrite", "int96RebaseModeInWrite"):
        spark.conf.set(f"spark.sql.parquet.{mode}", "CORRECTED")


def _recorded(
    spark: SparkSession,
    gold_uri: str,
    job: str,
    run_id: str | None,
    now: datetime | None,
    body: Callable[[datetime, str], _Outcome],
) -> RunSummary:
    """Run `body`, then append its pipeline_runs row (also when it fails, then re-raise)."""
    prepare_session(spark)
    clock = time.monotonic()
    started = (now or datetime.now(UTC)).astimezone(UTC)
    run = run_id or new_run_id(job, started)
    previous = previous_run(spark, gold_uri, job)
    summary = RunSummary(
        job=job,
        run_id=run,
        status=SUCCEEDED,
        started_at=iso(started),
        ended_at=iso(started),
        previous_run_id=previous.run_id if previous else None,
    )
    try:
        outcome = body(started, run)
    except Exception as error:
        summary.status = FAILED
        summary.error = f"{type(error).__name__}: {error}"[:2000]
        summary.ended_at = iso(started + timedelta(seconds=time.monotonic() - clock))
        append_run(spark, gold_uri, summary)
        raise
    summary.rows_in = outcome.rows_in
    summary.rows_out = outcome.rows_out
    summary.quarantined = outcome.quarantined
    summary.drift = outcome.drift
    summary.details = outcome.details
    summary.anomalies = find_anomalies(previous, outcome.rows_in, outcome.rows_out, outcome.quarantined)
    summary.ended_at = iso(started + timedelta(seconds=time.monotonic() - clock))
    append_run(spark, gold_uri, summary)
    return summary


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
    bronze_uri: str,
    silver_uri: str,
    gold_uri: str,
    full_rebuild: bool = False,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
    run_id: str | None = None,
    now: datetime | None = None,
) -> RunSummary:
    """Bronze to silver: new arrival hours (plus the lookback) merged into the CDC history, then
    current tasks and users, task events, drift, quarantine and API requests rewritten from it.

    `full_rebuild` reads every bronze partition and ignores what silver already holds.
    """

    def body(started: datetime, run: str) -> _Outcome:
        fs = LakeFs(spark)
        store = TableStore(spark, silver_uri, run)
        try:
            return _silver(
                spark, fs, store, bronze_uri, silver_uri, full_rebuild, lookback_hours, started, run
            )
        except Exception:
            store.abandon()
            raise

    return _recorded(spark, gold_uri, SILVER_JOB, run_id, now, body)


def _silver(
    spark: SparkSession,
    fs: LakeFs,
    store: TableStore,
    bronze_uri: str,
    silver_uri: str,
    full_rebuild: bool,
    lookback_hours: int,
    started: datetime,
    run: str,
) -> _Outcome:
    checkpoint = None if full_rebuild else read_checkpoint(fs, silver_uri)
    previous_history = (
        None if full_rebuild else store.read_folder(CDC_HISTORY_FOLDER, bronze_reader.CDC_HISTORY_SCHEMA)
    )
    # Without the stored history an incremental run would forget older events: read everything.
    read_all = full_rebuild or checkpoint is None or previous_history is None

    def previous(table: Any) -> DataFrame | None:
        return None if full_rebuild else store.read(table)

    cdc_lines, cdc_parts, cdc_mark = _read_source(
        spark, fs, bronze_uri, CDC_FOLDER, checkpoint, read_all, lookback_hours
    )
    log_lines, log_parts, log_mark = _read_source(
        spark, fs, bronze_uri, LOGS_FOLDER, checkpoint, read_all, lookback_hours
    )
    cdc = bronze_reader.parse_cdc(cdc_lines, started)
    logs = bronze_reader.parse_logs(log_lines, started)
    # Each line is parsed and checked once: valid rows and quarantine rows both read this cache.
    checked = [p.checked.persist(StorageLevel.MEMORY_AND_DISK) for p in (cdc, logs)]
    try:
        # One row per line read, so these counts are rows_in; they also fill the caches.
        rows_in = sum(c.count() for c in checked)

        history = store.stage_folder(
            CDC_HISTORY_FOLDER,
            silver_transform.merge_history(previous_history, cdc.valid),
            bronze_reader.CDC_HISTORY_SCHEMA,
        )
        tasks = store.stage(SILVER_TASKS, silver_transform.current_tasks(history))
        users = store.stage(SILVER_USERS, silver_transform.current_users(history))
        store.stage(SILVER_TASK_EVENTS, silver_transform.task_events(history))
        store.stage(
            SILVER_SCHEMA_DRIFT,
            silver_transform.schema_drift(tasks, users, previous(SILVER_SCHEMA_DRIFT), started),
        )
        previous_quarantine = previous(SILVER_QUARANTINE)
        store.stage(
            SILVER_QUARANTINE,
            silver_transform.merge_quarantine(
                previous_quarantine, cdc.quarantine.unionByName(logs.quarantine)
            ),
        )
        store.stage(
            SILVER_API_REQUESTS,
            silver_transform.merge_api_requests(previous(SILVER_API_REQUESTS), logs.valid),
        )
    finally:
        for frame in checked:
            frame.unpersist()
    # Row counts come from the staged files' footers: no Spark job per table.
    rows_out = {
        t.name: store.staged_rows(t.folder)
        for t in (
            SILVER_TASKS,
            SILVER_USERS,
            SILVER_TASK_EVENTS,
            SILVER_API_REQUESTS,
            SILVER_QUARANTINE,
            SILVER_SCHEMA_DRIFT,
        )
    }
    quarantined = rows_out[SILVER_QUARANTINE.name] - (
        store.rows(SILVER_QUARANTINE) if previous_quarantine is not None else 0
    )
    history_rows = store.staged_rows(CDC_HISTORY_FOLDER)

    store.commit()
    marks = {k: v for k, v in ((CDC_FOLDER, cdc_mark), (LOGS_FOLDER, log_mark)) if v is not None}
    write_checkpoint(fs, silver_uri, Checkpoint(high_water=marks, run_id=run))
    return _Outcome(
        rows_in=rows_in,
        rows_out=rows_out,
        quarantined=quarantined,
        drift=rows_out[SILVER_SCHEMA_DRIFT.name],
        details={
            "full_rebuild": read_all,
            "cdc_partitions_read": len(cdc_parts),
            "logs_partitions_read": len(log_parts),
            "high_water": {k: iso(v) for k, v in sorted(marks.items())},
            "cdc_history_rows": history_rows,
        },
    )


def run_gold(
    spark: SparkSession,
    silver_uri: str,
    gold_uri: str,
    as_of: datetime | None = None,
    run_id: str | None = None,
) -> RunSummary:
    """Silver to gold: engagement, daily completion, category trends and a KPI snapshot at `as_of`
    (default: now), plus the latest snapshot as JSON at `{gold_uri}/{KPI_EXPORT_KEY}`."""

    def body(started: datetime, run: str) -> _Outcome:
        store = TableStore(spark, gold_uri, run)
        try:
            return _gold(spark, store, silver_uri, gold_uri, (as_of or started).astimezone(UTC), run)
        except Exception:
            store.abandon()
            raise

    return _recorded(spark, gold_uri, GOLD_JOB, run_id, as_of, body)


def _gold(
    spark: SparkSession, store: TableStore, silver_uri: str, gold_uri: str, as_of: datetime, run: str
) -> _Outcome:
    silver = TableStore(spark, silver_uri, run)
    tasks = silver.read_or_empty(SILVER_TASKS)
    users = silver.read_or_empty(SILVER_USERS)
    events = silver.read_or_empty(SILVER_TASK_EVENTS)
    # Counted from the Parquet footers: no Spark job per input table.
    rows_in = sum(silver.rows(t) for t in (SILVER_TASKS, SILVER_USERS, SILVER_TASK_EVENTS))

    engagement = store.stage(
        GOLD_USER_ENGAGEMENT, gold_transform.user_engagement(users, tasks, events, as_of)
    )
    store.stage(GOLD_TASK_COMPLETION_DAILY, gold_transform.task_completion_daily(events))
    store.stage(GOLD_CATEGORY_TRENDS, gold_transform.category_trends(events))
    snapshot = gold_transform.business_kpis(users, tasks, engagement, as_of)
    store.stage(
        GOLD_BUSINESS_KPIS,
        gold_transform.merge_kpis(
            store.read(GOLD_BUSINESS_KPIS), gold_transform.kpi_rows(spark, snapshot), as_of
        ),
    )
    tables = (GOLD_USER_ENGAGEMENT, GOLD_TASK_COMPLETION_DAILY, GOLD_CATEGORY_TRENDS, GOLD_BUSINESS_KPIS)
    rows_out = {t.name: store.staged_rows(t.folder) for t in tables}
    store.commit()
    export = snapshot.export()
    LakeFs(spark).write_text(join(gold_uri, KPI_EXPORT_KEY), json.dumps(export, sort_keys=True))
    return _Outcome(
        rows_in=rows_in, rows_out=rows_out, details={"as_of": iso(as_of), "kpis": export["metrics"]}
    )
