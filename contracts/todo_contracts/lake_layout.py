"""The one definition of the lake: layers, folders, object keys, table formats and every column.

The CDC path (Firehose prefix on AWS, the local delivery stream here), the Glue jobs (which own
the Iceberg DDL of silver and gold), the local Athena engine and the CDK bronze tables all read
this module. Column types are written in Athena (Hive DDL) spelling; each consumer maps them to
its own engine. Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import PurePosixPath


class Layer(StrEnum):
    """A lake layer: a bucket on AWS, a folder under `lake_dir` locally."""

    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


@dataclass(frozen=True)
class Column:
    """A column name and its Athena type (string, bigint, double, boolean, timestamp, date, ...)."""

    name: str
    type: str
    comment: str = ""


class TableFormat(StrEnum):
    """How a table's files are laid out: raw JSON Lines (bronze) or an Apache Iceberg table."""

    JSON = "json"  # gzip JSON Lines under Hive-style arrival-hour folders, read as is
    ICEBERG = "iceberg"  # Iceberg format v2, copy-on-write; the jobs own its DDL (ADR 0009)


@dataclass(frozen=True)
class LakeTable:
    """A catalog table: `<layer>_<folder>` lives at `<layer>/<folder>/`."""

    layer: Layer
    folder: str
    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...] = ()  # Hive-style folder keys (bronze only)
    file_format: TableFormat = TableFormat.ICEBERG
    description: str = ""
    name_override: str | None = field(default=None)
    # Iceberg partition transforms in Spark DDL spelling, e.g. ("event_date",) or ("days(ts)",).
    partitioning: tuple[str, ...] = ()

    @property
    def is_iceberg(self) -> bool:
        return self.file_format is TableFormat.ICEBERG

    @property
    def name(self) -> str:
        return self.name_override or f"{self.layer.value}_{self.folder}"

    @property
    def relative_path(self) -> str:
        """Path of the table's folder inside the lake (`<layer>/<folder>`)."""
        return f"{self.layer.value}/{self.folder}"

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


# --- object keys ---------------------------------------------------------------------------------

CDC_FOLDER = "cdc"
LOGS_FOLDER = "logs"
ERRORS_FOLDER = "errors"
HOUR_PARTITIONS = ("year", "month", "day", "hour")


def firehose_prefix(folder: str) -> str:
    """Firehose S3 prefix for a bronze folder, with arrival-hour partitions (UTC)."""
    return (
        f"{folder}/year=!{{timestamp:yyyy}}/month=!{{timestamp:MM}}/"
        "day=!{timestamp:dd}/hour=!{timestamp:HH}/"
    )


def firehose_error_prefix(folder: str) -> str:
    """Firehose S3 error prefix: failed deliveries land here, split by error type and day."""
    return (
        f"{ERRORS_FOLDER}/{folder}/!{{firehose:error-output-type}}/year=!{{timestamp:yyyy}}/"
        "month=!{timestamp:MM}/day=!{timestamp:dd}/"
    )


def partition_prefix(folder: str, arrival: datetime) -> str:
    """The concrete prefix Firehose would write for `arrival` (what `firehose_prefix` expands to)."""
    at = arrival.astimezone(UTC)
    return f"{folder}/year={at:%Y}/month={at:%m}/day={at:%d}/hour={at:%H}/"


def object_key(folder: str, stream_name: str, arrival: datetime, unique: str) -> str:
    """Full key of one delivered object, named like Firehose names them, gzip suffix included."""
    at = arrival.astimezone(UTC)
    name = f"{stream_name}-1-{at:%Y-%m-%d-%H-%M-%S}-{unique}.gz"
    return str(PurePosixPath(partition_prefix(folder, arrival)) / name)


# --- tables --------------------------------------------------------------------------------------

_HOUR_PARTITION_COLUMNS = tuple(Column(p, "string") for p in HOUR_PARTITIONS)

BRONZE_CDC = LakeTable(
    layer=Layer.BRONZE,
    folder=CDC_FOLDER,
    file_format=TableFormat.JSON,
    description=(
        "One record per DynamoDB stream record, as delivered; a deleted account's records are "
        "redacted in place by the erase step (ADR 0013)."
    ),
    columns=(
        Column("event_id", "string", "stream record eventID"),
        Column("event_name", "string", "INSERT | MODIFY | REMOVE"),
        Column("sequence_number", "string", "stream sequence number (decimal string)"),
        Column("approximate_creation_time", "string", "RFC 3339 UTC, from the stream record"),
        Column("pk", "string"),
        Column("sk", "string"),
        Column("entity_type", "string", "USER | TASK"),
        Column("item_version", "bigint", "version of the new image (old image for REMOVE)"),
        Column("ttl_delete", "boolean", "true when DynamoDB TTL removed the item"),
        Column("keys", "string", "plain JSON object of the key attributes"),
        Column("new_image", "string", "plain JSON object (numbers exact, sets as sorted arrays)"),
        Column("old_image", "string", "plain JSON object"),
        Column("new_image_ddb", "string", "the new image in DynamoDB JSON: lossless, for restore"),
        Column("ingested_at", "string", "RFC 3339 UTC, when the CDC function handled the record"),
    ),
    partition_keys=_HOUR_PARTITION_COLUMNS,
)

BRONZE_LOGS = LakeTable(
    layer=Layer.BRONZE,
    folder=LOGS_FOLDER,
    file_format=TableFormat.JSON,
    description="API access-log records (one per request), as extracted from CloudWatch Logs.",
    columns=(
        Column("log_type", "string", "always 'access' for the rows the lake uses"),
        Column("ts", "string", "RFC 3339 UTC time the request finished"),
        Column("request_id", "string"),
        Column("correlation_id", "string"),
        Column("method", "string"),
        Column("route", "string", "route template, e.g. /api/v1/tasks/{task_id}"),
        Column("status", "int"),
        Column("latency_ms", "double"),
        Column("user_id", "string", "Cognito sub, null when unauthenticated"),
    ),
    partition_keys=_HOUR_PARTITION_COLUMNS,
)

SILVER_TASKS = LakeTable(
    layer=Layer.SILVER,
    folder="tasks",
    description="Current state of every live task (deletes applied).",
    columns=(
        Column("task_id", "string"),
        Column("user_id", "string"),
        Column("title", "string"),
        Column("description", "string"),
        Column("status", "string"),
        Column("priority", "string"),
        Column("category", "string"),
        Column("due_date", "date"),
        Column("tags", "array<string>"),
        Column("created_at", "timestamp"),
        Column("updated_at", "timestamp"),
        Column("completed_at", "timestamp"),
        Column("version", "bigint"),
        Column("extra", "string", "JSON object of attributes outside this schema (schema drift)"),
    ),
)

SILVER_USERS = LakeTable(
    layer=Layer.SILVER,
    folder="users",
    description="Current state of every live user profile.",
    columns=(
        Column("user_id", "string"),
        Column("email", "string"),
        Column("name", "string"),
        Column("timezone", "string"),
        Column("created_at", "timestamp"),
        Column("updated_at", "timestamp"),
        Column("version", "bigint"),
        Column("extra", "string", "JSON object of attributes outside this schema (schema drift)"),
    ),
)

SILVER_TASK_EVENTS = LakeTable(
    layer=Layer.SILVER,
    folder="task_events",
    description="One row per distinct task change (deduplicated by item and version).",
    partitioning=("event_date",),
    columns=(
        Column("event_id", "string"),
        Column("event_name", "string", "INSERT | MODIFY | REMOVE"),
        Column("sequence_number", "string", "stream sequence number of the record kept"),
        Column("change_type", "string", "created | updated | completed | reopened | deleted"),
        Column("task_id", "string"),
        Column("user_id", "string"),
        Column("version", "bigint"),
        Column("event_time", "timestamp", "approximate creation time of the stream record"),
        Column("event_date", "date"),
        Column("status", "string", "status after the change (before it, for deletes)"),
        Column("previous_status", "string"),
        Column("priority", "string"),
        Column("category", "string"),
        Column("due_date", "date"),
        Column("created_at", "timestamp"),
        Column("completed_at", "timestamp"),
        Column("ttl_delete", "boolean"),
    ),
)

SILVER_API_REQUESTS = LakeTable(
    layer=Layer.SILVER,
    folder="api_requests",
    description="One row per API request, deduplicated by request id.",
    partitioning=("request_date",),
    columns=(
        Column("request_id", "string"),
        Column("correlation_id", "string"),
        Column("ts", "timestamp"),
        Column("request_date", "date"),
        Column("method", "string"),
        Column("route", "string"),
        Column("status", "int"),
        Column("latency_ms", "double"),
        Column("user_id", "string"),
    ),
)

SILVER_QUARANTINE = LakeTable(
    layer=Layer.SILVER,
    folder="quarantine",
    description="Bronze records that failed validation, with the reason; never silently dropped.",
    partitioning=("days(quarantined_at)",),
    columns=(
        Column("event_id", "string"),
        Column("source", "string", "cdc | logs"),
        Column("reason", "string"),
        Column("raw", "string", "the offending record as JSON text"),
        Column("quarantined_at", "timestamp"),
    ),
)

SILVER_DELETED_ITEMS = LakeTable(
    layer=Layer.SILVER,
    folder="deleted_items",
    description=(
        "The newest delete seen per item (ids only): a late or repeated older change of a deleted "
        "item is recognised as older and cannot bring it back."
    ),
    columns=(
        Column("entity_type", "string", "USER | TASK"),
        Column("pk", "string"),
        Column("sk", "string"),
        Column("created_at", "timestamp", "incarnation of the deleted item"),
        Column("version", "bigint", "version of the deleted image"),
        Column("deleted_at", "timestamp", "approximate creation time of the REMOVE record"),
        Column("ttl_delete", "boolean"),
    ),
)

SILVER_SCHEMA_DRIFT = LakeTable(
    layer=Layer.SILVER,
    folder="schema_drift",
    description="Attributes seen in the table but not in the typed silver schema.",
    columns=(
        Column("entity_type", "string"),
        Column("attribute", "string"),
        Column("items", "bigint", "live items carrying the attribute"),
        Column("detected_at", "timestamp"),
    ),
)

GOLD_USER_ENGAGEMENT = LakeTable(
    layer=Layer.GOLD,
    folder="user_engagement",
    description="Per live user: task counts and activity (no personal text).",
    columns=(
        Column("user_id", "string"),
        Column("total_tasks", "bigint", "live tasks"),
        Column("completed_tasks", "bigint", "live tasks with status completed"),
        Column("open_tasks", "bigint"),
        Column("overdue_tasks", "bigint", "open tasks whose due_date is before the snapshot date"),
        Column("completion_rate", "double", "percent 0-100 of live tasks completed"),
        Column("events_last_7d", "bigint"),
        Column("first_activity_at", "timestamp"),
        Column("last_activity_at", "timestamp"),
        Column("snapshot_at", "timestamp"),
    ),
)

GOLD_TASK_COMPLETION_DAILY = LakeTable(
    layer=Layer.GOLD,
    folder="task_completion_daily",
    description="Per day: tasks created, completed, deleted and time to complete.",
    columns=(
        Column("date", "date"),
        Column("tasks_created", "bigint"),
        Column("tasks_completed", "bigint"),
        Column("tasks_deleted", "bigint"),
        Column("avg_hours_to_complete", "double"),
        Column("p50_hours_to_complete", "double"),
        Column("p90_hours_to_complete", "double"),
    ),
)

GOLD_CATEGORY_TRENDS = LakeTable(
    layer=Layer.GOLD,
    folder="category_trends",
    description="Per day and category: tasks created and completed.",
    columns=(
        Column("date", "date"),
        Column("category", "string"),
        Column("tasks_created", "bigint"),
        Column("tasks_completed", "bigint"),
    ),
)

GOLD_BUSINESS_KPIS = LakeTable(
    layer=Layer.GOLD,
    folder="business_kpis",
    description="One row per metric per snapshot; the metrics Lambda reads the latest snapshot.",
    columns=(
        Column("snapshot_at", "timestamp"),
        Column("metric", "string"),
        Column("value", "double"),
    ),
)

GOLD_USER_INSIGHTS = LakeTable(
    layer=Layer.GOLD,
    folder="user_insights",
    description=(
        "Per live user (silver_users; a user without tasks gets zeros): the figures of "
        "GET /api/v1/users/me/insights, over live tasks only (no personal text). Calendar days are "
        "the user's own (silver_users.timezone, an IANA name; null or unknown means UTC). A "
        "completion is a live task with status completed and a completed_at at or before as_of."
    ),
    columns=(
        Column("user_id", "string"),
        Column("as_of", "timestamp", "the gold run's instant every figure is computed at (UTC)"),
        Column("total_tasks", "bigint", "live tasks"),
        Column("open_tasks", "bigint", "live tasks not completed"),
        Column("completed_tasks", "bigint", "live tasks with status completed"),
        Column(
            "overdue_tasks",
            "bigint",
            "open live tasks whose due_date is before the as_of date in the user's time zone",
        ),
        Column("completed_last_7_days", "bigint", "completions with completed_at in (as_of - 7 days, as_of]"),
        Column(
            "completed_last_30_days", "bigint", "completions with completed_at in (as_of - 30 days, as_of]"
        ),
        Column("completion_rate", "double", "percent 0-100 of live tasks completed; 0 when there are none"),
        Column(
            "current_streak_days",
            "int",
            "consecutive days with a completion (user's time zone) in the run ending on the as_of "
            "date or the day before (today may still come), else 0",
        ),
        Column("longest_streak_days", "int", "longest run of consecutive days with a completion"),
        Column(
            "median_hours_to_complete",
            "double",
            "median of completed_at - created_at in hours over live completed tasks; null when none",
        ),
        Column(
            "busiest_weekday",
            "string",
            "English day name (Monday ... Sunday) of the weekday, in the user's time zone, with the "
            "most completions; a tie goes to the earliest day Monday-first; null without completions",
        ),
        Column(
            "top_categories",
            "array<struct<category:string,created:bigint,completed:bigint>>",
            "up to 3 categories of the user's live tasks: created = live tasks in it, completed = "
            "those completed; by created desc, completed desc, category asc; [] without tasks",
        ),
    ),
)

GOLD_API_USAGE_DAILY = LakeTable(
    layer=Layer.GOLD,
    folder="api_usage_daily",
    description=(
        "Per request day (UTC), method and route template, from silver_api_requests: traffic, "
        "callers, 4xx/5xx counts and rates and latency percentiles."
    ),
    columns=(
        Column("date", "date", "request_date (UTC)"),
        Column("method", "string", "HTTP method"),
        Column("route", "string", "route template, e.g. /api/v1/tasks/{task_id}"),
        Column("requests", "bigint"),
        Column("distinct_callers", "bigint", "distinct user_id (unauthenticated requests not counted)"),
        Column("client_errors", "bigint", "responses 400-499"),
        Column("server_errors", "bigint", "responses 500-599"),
        Column("client_error_rate", "double", "percent 0-100 of requests answered 4xx"),
        Column("server_error_rate", "double", "percent 0-100 of requests answered 5xx"),
        Column("p50_latency_ms", "double", "exact percentile (linear interpolation) of latency_ms"),
        Column("p95_latency_ms", "double"),
        Column("p99_latency_ms", "double"),
    ),
)

PIPELINE_RUNS = LakeTable(
    layer=Layer.GOLD,
    folder="pipeline_runs",
    name_override="pipeline_runs",
    description="One row per job run, compared with the previous run of the same job.",
    columns=(
        Column("job", "string", "silver | gold"),
        Column("run_id", "string"),
        Column("started_at", "timestamp"),
        Column("ended_at", "timestamp"),
        Column("status", "string", "succeeded | failed"),
        Column("rows_in", "bigint"),
        Column("rows_out", "string", "JSON object: table name -> rows written"),
        Column("quarantined", "bigint"),
        Column("drift", "bigint", "attributes reported as schema drift"),
        Column("previous_run_id", "string"),
        Column("anomalies", "string", "JSON list of findings versus the previous run"),
        Column("snapshots", "string", "JSON object: table name -> Iceberg snapshot id after the run"),
    ),
)

ERASURE_LOG = LakeTable(
    layer=Layer.GOLD,
    folder="erasure_log",
    name_override="erasure_log",
    description=(
        "One row per erasure request (a deleted account): who (user id only), when it was asked "
        "for and completed, and what the erase step rewrote and deleted (ADR 0013)."
    ),
    columns=(
        Column("user_id", "string", "Cognito sub of the deleted account; nothing else about them"),
        Column("requested_at", "timestamp", "approximate time of the profile's REMOVE record"),
        Column("sequence_cutoff", "string", "stream sequence number of that REMOVE, once found in bronze"),
        Column("status", "string", "pending | completed"),
        Column("started_at", "timestamp", "first erase run that saw the request"),
        Column("completed_at", "timestamp", "null while pending"),
        Column("objects_rewritten", "bigint", "bronze objects rewritten with the records redacted"),
        Column("records_redacted", "bigint", "bronze records redacted"),
        Column("rows_deleted", "bigint", "silver and gold rows deleted"),
        Column("details", "string", "JSON object: rows deleted per table, snapshots expired"),
    ),
)

BUSINESS_KPI_METRICS = (
    "total_users",
    "active_users",
    "total_tasks",
    "completed_tasks",
    "completion_rate",
    "avg_tasks_per_user",
)

BRONZE_TABLES = (BRONZE_CDC, BRONZE_LOGS)
SILVER_TABLES = (
    SILVER_TASKS,
    SILVER_USERS,
    SILVER_TASK_EVENTS,
    SILVER_API_REQUESTS,
    SILVER_QUARANTINE,
    SILVER_SCHEMA_DRIFT,
    SILVER_DELETED_ITEMS,
)
GOLD_TABLES = (
    GOLD_USER_ENGAGEMENT,
    GOLD_TASK_COMPLETION_DAILY,
    GOLD_CATEGORY_TRENDS,
    GOLD_BUSINESS_KPIS,
    GOLD_USER_INSIGHTS,
    GOLD_API_USAGE_DAILY,
    PIPELINE_RUNS,
)
# The erase step's own log: in the gold bucket next to pipeline_runs, written only by that step.
ERASURE_TABLES = (ERASURE_LOG,)
ALL_TABLES: tuple[LakeTable, ...] = BRONZE_TABLES + SILVER_TABLES + GOLD_TABLES + ERASURE_TABLES
ICEBERG_TABLES: tuple[LakeTable, ...] = tuple(t for t in ALL_TABLES if t.is_iceberg)


# --- the Glue jobs' reach ---------------------------------------------------------------------------
# The layers each Glue job reads or writes: its job definition (infra) passes `--<layer>_uri` for
# each, and its entry script (todo_etl.glue.entry) requires exactly these, so a job is never handed
# a bucket it has no business with.

GLUE_JOB_LAYERS: dict[str, tuple[Layer, ...]] = {
    # bronze in; the silver tables, and pipeline_runs in the gold bucket, out
    "silver": (Layer.BRONZE, Layer.SILVER, Layer.GOLD),
    # silver in, gold out: bronze is never read after silver
    "gold": (Layer.SILVER, Layer.GOLD),
    # the erase step rewrites bronze objects; compaction and expiry work on silver and gold
    "maintenance": (Layer.BRONZE, Layer.SILVER, Layer.GOLD),
}


def layer_argument(layer: Layer) -> str:
    """The Glue job argument naming one layer's base URI: `bronze_uri`, `silver_uri`, `gold_uri`."""
    return f"{layer.value}_uri"


# --- the local Iceberg catalog ---------------------------------------------------------------------
# Locally, Spark (Iceberg's JdbcCatalog) and the local Athena engine (pyiceberg) share one catalog:
# a SQLite file under the lake folder, holding each table's current metadata pointer (ADR 0009).

LOCAL_CATALOG = "lake"  # the Spark catalog name of a local lake (on AWS: glue_catalog)
LOCAL_DATABASE = "todo_lake"  # the namespace of a local lake (on AWS: the stage's Glue database)
LOCAL_CATALOG_FILE = "_catalog/iceberg_catalog.db"  # inside lake_dir; `_` keeps it out of layers


# The gold job also writes the latest KPI snapshot as one small JSON object, so the metrics
# Lambda can publish business metrics without a Parquet reader and without scanning the table.
KPI_EXPORT_KEY = "exports/business_kpis_latest.json"

# After each commit of gold_user_insights the gold job exports its rows for the loader that puts
# them into the API's table: gzip JSON Lines (`part-*.json.gz`, one object per user, field names =
# column names, as_of as RFC 3339 UTC with milliseconds and `Z`) under
# `{INSIGHTS_EXPORT_PREFIX}run=<run_id>/`, then, last, the manifest at INSIGHTS_EXPORT_MANIFEST:
# {"as_of": ..., "run_id": ..., "prefix": "exports/user_insights/run=<run_id>/", "users": <rows>}.
INSIGHTS_EXPORT_PREFIX = "exports/user_insights/"
INSIGHTS_EXPORT_MANIFEST = "exports/user_insights/latest.json"
# Export folders kept (the newest ones; the manifest's is always among them): a loader still
# reading the previous manifest's folder finds it, older ones go with the gold run that follows.
INSIGHTS_EXPORTS_KEPT = 3


INSIGHTS_RUN_FOLDER_PREFIX = f"{INSIGHTS_EXPORT_PREFIX}run="  # an S3 lifecycle rule expires these


@dataclass(frozen=True)
class InsightsManifest:
    """`latest.json` of the insights export: which gold run it is, and how many users it holds.

    The gold job writes it (`to_json`); the loader reads it back, after checking every field.
    """

    as_of: str
    run_id: str
    prefix: str
    users: int

    def to_json(self) -> str:
        return json.dumps(
            {"as_of": self.as_of, "run_id": self.run_id, "prefix": self.prefix, "users": self.users},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> InsightsManifest:
        data = json.loads(text)
        return cls(str(data["as_of"]), str(data["run_id"]), str(data["prefix"]), int(data["users"]))


def insights_export_prefix(run_id: str) -> str:
    """The key prefix (relative to the gold base) of one gold run's insights export."""
    return f"{INSIGHTS_RUN_FOLDER_PREFIX}{run_id}/"
