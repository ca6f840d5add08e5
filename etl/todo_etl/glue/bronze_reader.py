"""Read bronze gzip JSON Lines as text and parse them; every bad line is quarantined with a reason.

Lines are read as text (not with the JSON reader) so a corrupt line becomes one quarantined row
instead of a failed job or a silently dropped record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)
from pyspark.sql import types as T  # noqa: N812 (the PySpark idiom)

from todo_contracts.lake_layout import BRONZE_CDC, BRONZE_LOGS, SILVER_API_REQUESTS, SILVER_QUARANTINE
from todo_etl.erasure_records import ERASED_PREFIX
from todo_etl.glue import item_schema
from todo_etl.glue.lake_fs import HourPartition
from todo_etl.glue.spark_schema import conform, struct_type

CORRUPT = "_corrupt_record"
EVENT_NAMES = ("INSERT", "MODIFY", "REMOVE")
SOURCE_CDC = "cdc"
SOURCE_LOGS = "logs"
# DynamoDB sequence numbers are 21-40 digit decimals: left-padding to 40 makes text order numeric.
SEQUENCE_DIGITS = 40

# The deduplicated, validated CDC history silver keeps under `_state/` and recomputes state from.
CDC_HISTORY_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("event_name", T.StringType()),
        T.StructField("sequence_number", T.StringType()),
        T.StructField("sequence_key", T.StringType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("pk", T.StringType()),
        T.StructField("sk", T.StringType()),
        T.StructField("entity_type", T.StringType()),
        T.StructField("version", T.LongType()),
        T.StructField("created_at", T.TimestampType()),
        T.StructField("is_remove", T.BooleanType()),
        T.StructField("ttl_delete", T.BooleanType()),
        T.StructField("image", T.StringType()),
        T.StructField("old_image", T.StringType()),
    ]
)


@dataclass(frozen=True)
class Parsed:
    """Valid rows and quarantined rows from one read of bronze.

    Both are filters over `checked`: one row per line with its reason (null when valid) and every
    output column already computed. Persist `checked` when both are used: each line is then parsed
    once, and the filters on `reason` stay on the cached rows. Without the cache Spark pushes each
    filter below the projections and inlines the checks, so every line is JSON-parsed again for
    every field a check reads.
    """

    valid: DataFrame
    quarantine: DataFrame
    checked: DataFrame


def read_lines(spark: SparkSession, partitions: Sequence[HourPartition]) -> DataFrame:
    """Non-blank text lines of every object in `partitions` (gzip is decompressed by extension).

    Records the erase step redacted (they start with `{"erased_at":`) are left out: an erased
    person's changes are in no silver table, whichever run reads them (ADR 0013).
    """
    if not partitions:
        return spark.createDataFrame([], "value string")
    lines = spark.read.text([p.uri for p in partitions])
    value = F.col("value")
    return lines.where((F.trim(value) != "") & ~value.startswith(ERASED_PREFIX)).select("value")


def _envelope_schema(columns: T.StructType) -> T.StructType:
    return T.StructType([*columns.fields, T.StructField(CORRUPT, T.StringType())])


def _parse_json_line(lines: DataFrame, columns: T.StructType) -> DataFrame:
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
    return lines.withColumn("r", F.from_json(F.col("value"), _envelope_schema(columns), options))


def _envelope_checks() -> list[tuple[Column, Column | str]]:
    """A line that is no JSON object, then one whose fields do not have the bronze types.

    Spark marks both as corrupt; telling them apart (a JSON object parses as a plain map) gives
    the reason triage needs: a broken writer versus a producer that changed a field's type.
    """
    r = F.col("r")
    corrupt = r.isNull() | r.getField(CORRUPT).isNotNull()
    is_object = F.from_json(F.col("value"), "map<string,string>").isNotNull()
    return [
        (corrupt & ~F.coalesce(is_object, F.lit(False)), "unparseable JSON line"),
        (corrupt, "record field with a wrong type"),
    ]


def _first_failure(checks: Sequence[tuple[Column, Column | str]]) -> Column:
    """The reason of the first failing check (None when every check passes)."""
    out: Column | None = None
    for failed, reason in reversed(checks):
        value = F.lit(reason) if isinstance(reason, str) else reason
        out = F.when(failed, value) if out is None else F.when(failed, value).otherwise(out)
    return out if out is not None else F.lit(None).cast("string")


REASON = "reason"
_RAW = "_raw"
_QUARANTINE_ID = "_quarantine_id"


def _split(
    df: DataFrame, outputs: Sequence[Column], source: str, quarantined_at: datetime
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(valid, quarantine, checked): `checked` holds the output columns, the reason, the raw line."""
    checked = df.select(
        *outputs,
        F.col(REASON),
        F.col("event_id").alias(_QUARANTINE_ID),
        F.col("value").alias(_RAW),
    )
    names = [c for c in checked.columns if c not in (REASON, _QUARANTINE_ID, _RAW)]
    valid = checked.where(F.col(REASON).isNull()).select(*names)
    rows = checked.where(F.col(REASON).isNotNull()).select(
        F.col(_QUARANTINE_ID).alias("event_id"),
        F.lit(source).alias("source"),
        F.col(REASON),
        F.col(_RAW).alias("raw"),
        F.lit(quarantined_at).alias("quarantined_at"),
    )
    return valid, conform(rows, SILVER_QUARANTINE), checked


def _blank(column: Column) -> Column:
    return column.isNull() | (F.trim(column) == "")


def _present(raw: Column, name: str) -> Column:
    """True when the image carries `name` with a non-null value."""
    return raw.getItem(name).isNotNull()


def _type_checks(entity_type: Column, typed: Column, raw: Column) -> list[tuple[Column, Column | str]]:
    checks: list[tuple[Column, Column | str]] = []
    for entity, required in item_schema.REQUIRED_ATTRIBUTES.items():
        for name in required:
            checks.append(
                ((entity_type == entity) & ~_present(raw, name), f"{entity.lower()} image without {name}")
            )
    for entity, attributes in item_schema.TYPED_ATTRIBUTES.items():
        for name in attributes:
            if name in item_schema.TIMESTAMP_ATTRIBUTES:
                bad = F.try_to_timestamp(typed.getField(name)).isNull()
            elif name in item_schema.DATE_ATTRIBUTES:
                bad = F.try_to_timestamp(typed.getField(name), F.lit("yyyy-MM-dd")).isNull()
            else:
                # Strings accept any JSON scalar as text; numbers and arrays must parse as such.
                bad = typed.getField(name).isNull()
            checks.append(((entity_type == entity) & _present(raw, name) & bad, f"bad type: {name}"))
    return checks


def parse_cdc(lines: DataFrame, quarantined_at: datetime) -> Parsed:
    """Validate bronze CDC lines into history rows; the rest become quarantine rows with a reason."""
    df = _parse_json_line(lines, struct_type(BRONZE_CDC))
    r = F.col("r")
    event_name = r.getField("event_name")
    entity_type = r.getField("entity_type")
    is_remove = event_name == "REMOVE"
    image_text = F.when(is_remove, r.getField("old_image")).otherwise(r.getField("new_image"))
    df = df.withColumns(
        {
            "event_id": r.getField("event_id"),
            "image_text": image_text,
            "raw_image": F.from_json(image_text, "map<string,string>"),
            "typed": F.from_json(image_text, item_schema.image_schema()),
        }
    )
    raw, typed = F.col("raw_image"), F.col("typed")
    sequence = r.getField("sequence_number")
    approx_time = r.getField("approximate_creation_time")
    checks: list[tuple[Column, Column | str]] = [
        *_envelope_checks(),
        (_blank(F.col("event_id")), "missing event_id"),
        (
            ~F.coalesce(event_name.isin(*EVENT_NAMES), F.lit(False)),
            F.concat(F.lit("unknown event_name: "), F.coalesce(event_name, F.lit("null"))),
        ),
        (_blank(r.getField("pk")) | _blank(r.getField("sk")), "missing keys (pk/sk)"),
        (
            ~F.coalesce(entity_type.isin(*item_schema.ALLOWED_ENTITY_TYPES), F.lit(False)),
            F.concat(
                F.lit("entity type outside the lake allow-list: "), F.coalesce(entity_type, F.lit("null"))
            ),
        ),
        (
            ~F.coalesce(sequence.rlike(rf"^[0-9]{{1,{SEQUENCE_DIGITS}}}$"), F.lit(False)),
            "bad sequence_number",
        ),
        (F.try_to_timestamp(approx_time).isNull(), "missing or bad approximate_creation_time"),
        (is_remove & raw.isNull(), "REMOVE without an old image"),
        (~is_remove & raw.isNull(), "missing new image"),
        *_type_checks(entity_type, typed, raw),
    ]
    df = df.withColumn(REASON, _first_failure(checks))
    outputs = [
        F.col("event_id"),
        event_name.alias("event_name"),
        sequence.alias("sequence_number"),
        F.lpad(sequence, SEQUENCE_DIGITS, "0").alias("sequence_key"),
        F.try_to_timestamp(approx_time).alias("event_time"),
        r.getField("pk").alias("pk"),
        r.getField("sk").alias("sk"),
        entity_type.alias("entity_type"),
        typed.getField("version").alias("version"),
        F.try_to_timestamp(typed.getField("created_at")).alias("created_at"),
        is_remove.alias("is_remove"),
        F.coalesce(r.getField("ttl_delete"), F.lit(False)).alias("ttl_delete"),
        F.col("image_text").alias("image"),
        r.getField("old_image").alias("old_image"),
    ]
    valid, quarantine, checked = _split(df, outputs, SOURCE_CDC, quarantined_at)
    return Parsed(valid=valid, quarantine=quarantine, checked=checked)


def parse_logs(lines: DataFrame, quarantined_at: datetime) -> Parsed:
    """Validate bronze access-log lines into silver_api_requests rows; the rest are quarantined."""
    df = _parse_json_line(lines, struct_type(BRONZE_LOGS))
    r = F.col("r")
    ts = F.try_to_timestamp(r.getField("ts"))
    log_type = r.getField("log_type")
    df = df.withColumn("event_id", r.getField("request_id"))
    checks: list[tuple[Column, Column | str]] = [
        *_envelope_checks(),
        (
            ~F.coalesce(log_type == "access", F.lit(False)),
            F.concat(F.lit("not an access log record: log_type="), F.coalesce(log_type, F.lit("null"))),
        ),
        (_blank(F.col("event_id")), "missing request_id"),
        (ts.isNull(), "missing or bad ts"),
        (r.getField("status").isNull(), "missing or bad status"),
    ]
    df = df.withColumn(REASON, _first_failure(checks))
    outputs = [
        F.col("event_id").alias("request_id"),
        r.getField("correlation_id").alias("correlation_id"),
        ts.alias("ts"),
        F.to_date(ts).alias("request_date"),
        r.getField("method").alias("method"),
        r.getField("route").alias("route"),
        r.getField("status").alias("status"),
        r.getField("latency_ms").alias("latency_ms"),
        r.getField("user_id").alias("user_id"),
    ]
    valid, quarantine, checked = _split(df, outputs, SOURCE_LOGS, quarantined_at)
    return Parsed(valid=conform(valid, SILVER_API_REQUESTS), quarantine=quarantine, checked=checked)
