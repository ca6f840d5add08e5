"""The erase step: a deleted account's personal data out of every layer of the lake (ADR 0013).

The request is the profile's REMOVE in the CDC stream (account deletion writes it; no API change):
silver keeps it in `silver_deleted_items`, and this step picks up every deleted profile not yet
in the erasure log. Per run, in an order that a crash anywhere leaves resumable:

1. log the new requests as `pending` (so the request survives its own evidence being deleted);
2. bronze: rewrite only the objects under `bronze/cdc` and `bronze/logs` holding the users'
   records, those records redacted (`todo_etl.erasure_records`), every other line byte-identical;
   silver skips redacted lines from now on, so no later run (lookback, full rebuild) brings the
   rows back; the counts go into the pending log row;
3. silver and gold: `DELETE` the users' remaining rows from every table that holds per-user rows
   (copy-on-write: the files holding them are rewritten without them), and rewrite the insights
   export files (`insights_export`) without their lines;
4. history: rewrite each such table's manifests (no manifest entry of a removed file keeps its
   column bounds), expire every older snapshot and remove orphan files, so no data or metadata
   file of the table still holds the rows (time travel on those tables restarts here);
5. mark the requests `completed` with what was done.

A rerun after a crash redoes what is left: step 2 finds no unredacted record twice, the deletes
match nothing, expiry is idempotent. A completed request is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)

from todo_contracts import metrics
from todo_contracts.lake_layout import (
    CDC_FOLDER,
    ERASURE_LOG,
    GOLD_USER_ENGAGEMENT,
    GOLD_USER_INSIGHTS,
    LOGS_FOLDER,
    SILVER_API_REQUESTS,
    SILVER_DELETED_ITEMS,
    SILVER_QUARANTINE,
    SILVER_TASK_EVENTS,
    SILVER_TASKS,
    SILVER_USERS,
    LakeTable,
    Layer,
)
from todo_contracts.table import USER_PREFIX
from todo_etl.erasure_records import (
    ERASED_PREFIX,
    LOG_SLACK,
    ErasureRequest,
    plain_text,
    profile_remove_sequence,
    rewrite_object,
)
from todo_etl.glue import iceberg_tables, insights_export
from todo_etl.glue.bronze_reader import SEQUENCE_DIGITS
from todo_etl.glue.iceberg_tables import Lake
from todo_etl.glue.jobs import Outcome, recorded_run
from todo_etl.glue.lake_fs import LakeFs, join
from todo_etl.glue.run_log import RunSummary
from todo_etl.glue.spark_schema import conform

ERASURE_JOB = metrics.ERASURE_JOB  # the Job dimension of its run metrics, and its pipeline_runs rows
PENDING = "pending"
COMPLETED = "completed"


# Every Iceberg table with per-user rows, and how a row of one request is recognised there: the
# user's rows up to the request (a profile re-created later is not part of it). The quarantine's
# raw text is matched on the id: a quarantined line may not parse, so nothing else is reliable.
# Gold's other tables are aggregates without user ids; pipeline_runs holds counts only.
def _events_rule(user: str, request: ErasureRequest) -> str:
    at = _timestamp(request.requested_at)
    if request.sequence_cutoff is None:
        return f"user_id = {user} AND event_time <= {at}"
    cutoff = _string(str(request.sequence_cutoff).zfill(SEQUENCE_DIGITS))
    return (
        f"user_id = {user} AND (event_time < {at} OR (event_time = {at} AND "
        f"lpad(sequence_number, {SEQUENCE_DIGITS}, '0') <= {cutoff}))"
    )


ERASED_ROWS: dict[str, Callable[[str, ErasureRequest], str]] = {
    SILVER_TASKS.name: lambda user, r: f"user_id = {user} AND created_at <= {_timestamp(r.requested_at)}",
    SILVER_USERS.name: lambda user, r: f"user_id = {user} AND created_at <= {_timestamp(r.requested_at)}",
    SILVER_TASK_EVENTS.name: _events_rule,
    SILVER_API_REQUESTS.name: lambda user, r: (
        f"user_id = {user} AND ts < {_timestamp(r.requested_at + LOG_SLACK)}"
    ),
    SILVER_DELETED_ITEMS.name: lambda user, r: (
        f"pk = concat('{USER_PREFIX}', {user}) AND deleted_at <= {_timestamp(r.requested_at)}"
    ),
    SILVER_QUARANTINE.name: lambda user, _r: f"instr(raw, {user}) > 0",
    GOLD_USER_ENGAGEMENT.name: lambda user, _r: f"user_id = {user}",
    GOLD_USER_INSIGHTS.name: lambda user, _r: f"user_id = {user}",
}
ERASED_TABLES: tuple[LakeTable, ...] = (
    SILVER_TASKS,
    SILVER_USERS,
    SILVER_TASK_EVENTS,
    SILVER_API_REQUESTS,
    SILVER_DELETED_ITEMS,
    SILVER_QUARANTINE,
    GOLD_USER_ENGAGEMENT,
    GOLD_USER_INSIGHTS,
)
# Gold's per-live-user tables: a profile re-created after the deletion is a live user again, and
# the row (recomputed from silver by the next gold run) is theirs, so it is kept.
PER_LIVE_USER: tuple[LakeTable, ...] = (GOLD_USER_ENGAGEMENT, GOLD_USER_INSIGHTS)


@dataclass
class ErasureResult:
    """What one erase run did, for the run record and the CLI."""

    requests: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    objects_rewritten: int = 0
    records_redacted: int = 0
    rows_deleted: dict[str, int] = field(default_factory=dict)
    snapshots_expired: dict[str, int] = field(default_factory=dict)
    export_rows_deleted: int = 0  # lines of the insights export files removed


def _string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _timestamp(at: datetime) -> str:
    return f"TIMESTAMP '{at.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _aware(value: datetime) -> datetime:
    """Spark hands timestamps back naive in the session zone, which the jobs set to UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- requests ---------------------------------------------------------------------------------------


def _log_rows(spark: SparkSession, lake: Lake) -> list[Row]:
    return iceberg_tables.read(spark, lake, ERASURE_LOG).collect()


# Where a record of an erased user that reached silver after the erasure (delivered late, or read
# again from an object restored from an old version) shows up: the current-state tables and the
# delete memory are small, so they are checked on every run. So are the access-log days around each
# deletion: a request made just before it can be delivered after the erasure ran (Firehose buffers
# logs for minutes), and those days are the only partitions of silver_api_requests read.
_REAPPEARED = (SILVER_TASKS, SILVER_USERS, SILVER_DELETED_ITEMS, SILVER_API_REQUESTS)
_LATE_LOG_DAYS = timedelta(days=1)


def _reappearance_rule(table: LakeTable, request: ErasureRequest) -> str:
    rule = ERASED_ROWS[table.name](_string(request.user_id), request)
    if table is not SILVER_API_REQUESTS:
        return rule
    first = (request.requested_at - _LATE_LOG_DAYS).date().isoformat()
    last = (request.requested_at + LOG_SLACK).date().isoformat()
    return f"{rule} AND request_date BETWEEN DATE '{first}' AND DATE '{last}'"


def _reappeared(spark: SparkSession, lake: Lake, done: dict[str, datetime]) -> set[str]:
    """Completed users with rows of the erased period in silver again (their request re-opens)."""
    if not done:
        return set()
    found: set[str] = set()
    for table in _REAPPEARED:
        requests = [ErasureRequest(user, at) for user, at in done.items()]
        predicate = " OR ".join(f"({_reappearance_rule(table, r)})" for r in requests)
        hits = iceberg_tables.read(spark, lake, table).where(predicate)
        column = (
            F.expr(f"substring(pk, {len(USER_PREFIX) + 1})")
            if table is SILVER_DELETED_ITEMS
            else F.col("user_id")
        )
        found |= {str(r["u"]) for r in hits.select(column.alias("u")).distinct().collect()}
    return found


def pending_requests(spark: SparkSession, lake: Lake) -> tuple[list[ErasureRequest], list[Row]]:
    """(requests to work on, their rows already in the log): pending ones, completed ones whose rows
    reappeared in silver, then every deleted profile newer than the user's last completed request."""
    log = _log_rows(spark, lake)
    done: dict[str, datetime] = {}
    pending: dict[str, ErasureRequest] = {}
    for row in log:
        at = _aware(row["requested_at"])
        if row["status"] == COMPLETED:
            done[row["user_id"]] = max(at, done.get(row["user_id"], at))
        else:
            cutoff = row["sequence_cutoff"]
            pending[row["user_id"]] = ErasureRequest(row["user_id"], at, int(cutoff) if cutoff else None)
    reopened = _reappeared(spark, lake, {u: at for u, at in done.items() if u not in pending})
    cutoffs = {r["user_id"]: r["sequence_cutoff"] for r in log if r["status"] == COMPLETED}
    for user in reopened:
        cutoff = cutoffs.get(user)
        pending[user] = ErasureRequest(user, done[user], int(cutoff) if cutoff else None)
    deleted = (
        iceberg_tables.read(spark, lake, SILVER_DELETED_ITEMS)
        .where((F.col("entity_type") == "USER") & ~F.coalesce(F.col("ttl_delete"), F.lit(False)))
        .select(F.expr(f"substring(pk, {len(USER_PREFIX) + 1})").alias("user_id"), "deleted_at")
        .collect()
    )
    for row in deleted:
        user, at = row["user_id"], _aware(row["deleted_at"])
        if user in done and at <= done[user]:
            continue
        current = pending.get(user)
        if current is None or at > current.requested_at:
            pending[user] = ErasureRequest(user, at)
    wanted = {(r.user_id, r.requested_at) for r in pending.values()}
    known = [r for r in log if (r["user_id"], _aware(r["requested_at"])) in wanted]
    return sorted(pending.values(), key=lambda r: (r.requested_at, r.user_id)), known


def _write_log(spark: SparkSession, lake: Lake, rows: list[dict[str, Any]]) -> None:
    """Upsert log rows by (user_id, requested_at): one commit."""
    if not rows:
        return
    names = ERASURE_LOG.column_names()
    frame = conform(
        spark.createDataFrame([[r.get(n) for n in names] for r in rows], _log_schema()), ERASURE_LOG
    )
    updates = ", ".join(f"t.{n} = s.{n}" for n in names if n not in ("user_id", "requested_at", "started_at"))
    iceberg_tables.merge(
        spark,
        lake,
        ERASURE_LOG,
        frame,
        "t.user_id = s.user_id AND t.requested_at = s.requested_at",
        f"WHEN MATCHED THEN UPDATE SET {updates} WHEN NOT MATCHED THEN INSERT *",
    )


def _log_schema() -> str:
    types = {"timestamp": "timestamp", "bigint": "bigint", "string": "string"}
    return ", ".join(f"{c.name} {types[c.type]}" for c in ERASURE_LOG.columns)


# --- bronze -----------------------------------------------------------------------------------------


def _objects_holding(spark: SparkSession, lake: Lake, fs: LakeFs, folder: str, users: list[str]) -> list[str]:
    """URIs of the objects under `bronze/<folder>` with an unredacted line naming one of `users`.

    One columnar scan of the folder's text for the ids (a superset: the rewrite checks each
    record's owner and time exactly); objects without a match are never opened.
    """
    partitions = fs.hour_partitions(join(lake.layer_uri(Layer.BRONZE), folder))
    if not partitions or not users:
        return []
    value = F.col("value")
    named = F.lit(False)
    for user in users:
        named = named | value.contains(user)
    lines: DataFrame = spark.read.text([p.uri for p in partitions])
    hits = lines.where(named & ~value.startswith(ERASED_PREFIX)).select(F.input_file_name().alias("uri"))
    return sorted({str(r["uri"]) for r in hits.distinct().collect()})


@dataclass
class BronzeErasure:
    """Objects rewritten (in all and per user: an object with two users' records counts for both)
    and records redacted per user."""

    objects: int = 0
    objects_per_user: dict[str, int] = field(default_factory=dict)
    records_per_user: dict[str, int] = field(default_factory=dict)


def erase_bronze(
    spark: SparkSession, lake: Lake, requests: list[ErasureRequest], erased_at: datetime
) -> tuple[BronzeErasure, list[ErasureRequest]]:
    """Rewrite the objects holding the requests' records (every other object is never written);
    also returns the requests with the sequence number of their profile REMOVE where found."""
    fs = LakeFs(spark)
    users = sorted({r.user_id for r in requests})
    done = BronzeErasure()
    found: dict[str, bytes] = {}
    for folder in (CDC_FOLDER, LOGS_FOLDER):
        for uri in _objects_holding(spark, lake, fs, folder, users):
            data = fs.read_bytes(uri)
            if data is not None:
                found[f"{folder}\n{uri}"] = data
    # First the cutoffs (the REMOVE is in one of the objects, redacted or not), then the rewrite.
    resolved: list[ErasureRequest] = []
    for request in requests:
        cutoff = request.sequence_cutoff
        if cutoff is None:
            sequences = [
                s
                for key, data in found.items()
                if key.startswith(f"{CDC_FOLDER}\n")
                and (s := profile_remove_sequence(plain_text(data), request)) is not None
            ]
            cutoff = max(sequences, default=None)
        resolved.append(ErasureRequest(request.user_id, request.requested_at, cutoff))
    wanted = {r.user_id: r for r in resolved}
    for key, data in sorted(found.items()):
        folder, uri = key.split("\n", 1)
        result = rewrite_object(data, wanted, folder, erased_at)
        if result.data is None:
            continue
        # Same key, whole object: a temp file + rename locally, one PUT on S3 (the old version
        # becomes noncurrent there and the bucket's lifecycle rule expires it; ADR 0013).
        fs.write_bytes(uri, result.data)
        done.objects += 1
        for user, count in result.redacted.items():
            done.records_per_user[user] = done.records_per_user.get(user, 0) + count
            done.objects_per_user[user] = done.objects_per_user.get(user, 0) + 1
    return done, resolved


# --- silver and gold --------------------------------------------------------------------------------


def _predicate(table: LakeTable, requests: list[ErasureRequest]) -> str:
    rule = ERASED_ROWS[table.name]
    return " OR ".join(f"({rule(_string(r.user_id), r)})" for r in requests)


def live_users(spark: SparkSession, lake: Lake, requests: list[ErasureRequest]) -> set[str]:
    """The requests' users who have a live profile again (re-created after the deletion)."""
    return {
        r["user_id"]
        for r in iceberg_tables.read(spark, lake, SILVER_USERS)
        .where(F.col("user_id").isin([q.user_id for q in requests]))
        .select("user_id")
        .collect()
    }


def delete_rows(spark: SparkSession, lake: Lake, requests: list[ErasureRequest]) -> dict[str, dict[str, int]]:
    """DELETE the requests' rows from every per-user table (one commit per table that has any; none
    when nothing matches); rows deleted per user and table."""
    deleted: dict[str, dict[str, int]] = {r.user_id: {} for r in requests}
    live = live_users(spark, lake, requests)
    for table in ERASED_TABLES:
        wanted = requests
        if table in PER_LIVE_USER:  # a re-created profile's row is theirs now
            wanted = [r for r in requests if r.user_id not in live]
        # One scan per table counts every request's rows (a count per request would scan it N times).
        counts = (
            iceberg_tables.read(spark, lake, table)
            .select(
                *(
                    F.sum(F.expr(f"CASE WHEN {_predicate(table, [r])} THEN 1 ELSE 0 END")).alias(f"r{i}")
                    for i, r in enumerate(wanted)
                )
            )
            .first()
            if wanted
            else None
        )
        for request in requests:
            deleted[request.user_id][table.name] = 0
        for i, request in enumerate(wanted):
            deleted[request.user_id][table.name] = int((counts[f"r{i}"] if counts else 0) or 0)
        if any(deleted[r.user_id][table.name] for r in wanted):
            # Ids and times are quoted literals (`_string`, `_timestamp`), never raw data.
            spark.sql(f"DELETE FROM {lake.identifier(table)} WHERE {_predicate(table, wanted)}")  # noqa: S608
    return deleted


def expire_history(spark: SparkSession, lake: Lake, tables: tuple[LakeTable, ...]) -> dict[str, int]:
    """Per table: manifests rewritten, every snapshot but the current one expired, orphans removed;
    snapshots expired per table.

    The manifests are rewritten first because a copy-on-write DELETE leaves, in the current
    snapshot, manifest entries of the files it removed, column bounds (e.g. an email) included.
    Expiry goes through Iceberg's table API on the driver (the procedure starts Spark jobs for a
    handful of files); orphan removal is Iceberg's Spark action. Wall-clock cutoffs on purpose:
    the snapshots are stamped by the catalog's clock, whatever `now` a run is given. The erase step
    runs between the pipeline's jobs (never beside a commit), so removing orphans with no minimum
    age cannot take a file of a commit in flight.
    """
    expired: dict[str, int] = {}
    jvm: Any = spark.sparkContext._jvm
    for table in tables:
        if iceberg_tables.current_snapshot(spark, lake, table) is None:
            expired[table.name] = 0
            continue
        target = lake.table_argument(table)
        spark.sql(f"CALL {lake.procedure('rewrite_manifests')}(table => '{target}')").collect()
        cutoff_ms = int((datetime.now(UTC) + timedelta(seconds=1)).timestamp() * 1000)
        handle = iceberg_tables.iceberg_table(spark, lake, table)
        before = sum(1 for _ in handle.snapshots())
        handle.expireSnapshots().expireOlderThan(cutoff_ms).retainLast(1).commit()
        handle = iceberg_tables.iceberg_table(spark, lake, table)
        expired[table.name] = before - sum(1 for _ in handle.snapshots())
        (
            jvm.org.apache.iceberg.spark.actions.SparkActions.get(spark._jsparkSession)
            .deleteOrphanFiles(handle)
            .olderThan(cutoff_ms)
            .execute()
        )
    return expired


# --- the step ---------------------------------------------------------------------------------------


def erase(spark: SparkSession, lake: Lake, started: datetime) -> ErasureResult:
    """Work every pending request to completion (see the module docstring for the order)."""
    requests, known = pending_requests(spark, lake)
    result = ErasureResult(requests=[r.user_id for r in requests])
    if not requests:
        return result
    previous = {(r["user_id"], _aware(r["requested_at"])): r.asDict() for r in known}

    def row(request: ErasureRequest) -> dict[str, Any]:
        base = previous.get((request.user_id, request.requested_at))
        if base:  # Spark handed its timestamps back naive (UTC): make them aware before writing
            times = {k: _aware(base[k]) for k in ("started_at", "completed_at") if base[k] is not None}
            return {**base, **times, "requested_at": request.requested_at}
        return {
            "user_id": request.user_id,
            "requested_at": request.requested_at,
            "sequence_cutoff": None,
            "status": PENDING,
            "started_at": started,
            "completed_at": None,
            "objects_rewritten": 0,
            "records_redacted": 0,
            "rows_deleted": 0,
            "details": "{}",
        }

    rows = {r.user_id: row(r) for r in requests}
    _write_log(spark, lake, [r for r in rows.values() if (r["user_id"], r["requested_at"]) not in previous])

    bronze, requests = erase_bronze(spark, lake, requests, started)
    for request in requests:
        if request.sequence_cutoff is not None:
            rows[request.user_id]["sequence_cutoff"] = str(request.sequence_cutoff)
    result.objects_rewritten = bronze.objects
    result.records_redacted = sum(bronze.records_per_user.values())
    for user, entry in rows.items():
        entry["objects_rewritten"] = int(entry["objects_rewritten"] or 0) + bronze.objects_per_user.get(
            user, 0
        )
        entry["records_redacted"] = int(entry["records_redacted"] or 0) + bronze.records_per_user.get(user, 0)
    if bronze.objects:
        _write_log(spark, lake, list(rows.values()))  # bronze counts and cutoffs survive a crash now

    per_user = delete_rows(spark, lake, requests)
    for counts in per_user.values():
        for name, count in counts.items():
            result.rows_deleted[name] = result.rows_deleted.get(name, 0) + count
    # The export files are copies of gold_user_insights rows: they go the way the rows went.
    gone = {r.user_id for r in requests} - live_users(spark, lake, requests)
    export_lines = insights_export.erase_users(spark, lake.gold_uri, gone)
    result.export_rows_deleted = sum(export_lines.values())
    result.snapshots_expired = expire_history(spark, lake, ERASED_TABLES)
    completed_at = max(started, datetime.now(UTC))
    for user, entry in rows.items():
        details = json.loads(entry["details"] or "{}")
        for name, count in per_user[user].items():
            details.setdefault("rows_deleted", {})[name] = (
                details.get("rows_deleted", {}).get(name, 0) + count
            )
        details["snapshots_expired"] = result.snapshots_expired
        details["export_rows_deleted"] = details.get("export_rows_deleted", 0) + export_lines.get(user, 0)
        entry["details"] = json.dumps(details, sort_keys=True)
        entry["rows_deleted"] = sum(details["rows_deleted"].values())
        entry["status"] = COMPLETED
        entry["completed_at"] = completed_at
    _write_log(spark, lake, list(rows.values()))
    result.completed = sorted(rows)
    return result


def run_erasure(
    spark: SparkSession, lake: Lake, run_id: str | None = None, now: datetime | None = None
) -> RunSummary:
    """The erase step as a recorded run (a `pipeline_runs` row with job `erasure`, also on failure)."""

    def body(started: datetime, _run: str) -> Outcome:
        result = erase(spark, lake, started)
        after = iceberg_tables.snapshots_of(spark, lake, (*ERASED_TABLES, ERASURE_LOG))
        return Outcome(
            rows_in=len(result.requests),
            rows_out={name: iceberg_tables.rows(s) for name, s in sorted(after.items())},
            snapshots={n: s.snapshot_id for n, s in sorted(after.items()) if s is not None},
            details={
                "requests": len(result.requests),
                "completed": len(result.completed),
                "objects_rewritten": result.objects_rewritten,
                "records_redacted": result.records_redacted,
                "rows_deleted": result.rows_deleted,
                "snapshots_expired": result.snapshots_expired,
                "export_rows_deleted": result.export_rows_deleted,
            },
        )

    return recorded_run(spark, lake, ERASURE_JOB, run_id, now, body)
